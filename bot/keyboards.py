"""Inline and reply keyboards. The buttons notify also sends come from `gridlink.buttons`
(the callback_data contract, docs/CONTRACTS.md); here they become telegram objects."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from gridlink import buttons
from gridlink.i18n import t


def _inline(markup: buttons.Markup) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(b["text"], callback_data=b["callback_data"])
                                  for b in row] for row in markup["inline_keyboard"]])


def assignment_keyboard(case_id: str, version: int, locale: str,
                        actions: Sequence[str] | None = None) -> InlineKeyboardMarkup:
    """The assignment buttons for the workflow `actions` (gridlink.buttons: the shared contract)."""
    return _inline(buttons.assignment_markup(case_id, version, locale, actions))


def stars_keyboard(case_id: str, locale: str) -> InlineKeyboardMarkup:
    return _inline(buttons.rating_markup(case_id, locale))


def location_request(locale: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(t("report.location_button", locale), request_location=True)],
         [KeyboardButton(t("btn.cancel", locale))]],
        resize_keyboard=True, one_time_keyboard=True)


def remove() -> ReplyKeyboardRemove:
    return ReplyKeyboardRemove()


def choices(options: Sequence[tuple[str, str]], locale: str, *, per_row: int = 2,
            skip: bool = False, confirm: bool = False) -> InlineKeyboardMarkup:
    """Flow buttons (`f:…`): options as (callback suffix, label), then skip/confirm/cancel."""
    rows = [[InlineKeyboardButton(label, callback_data=f"f:{data}")
             for data, label in options[i:i + per_row]] for i in range(0, len(options), per_row)]
    tail = []
    if skip:
        tail.append(InlineKeyboardButton(t("btn.skip", locale), callback_data="f:skip"))
    if confirm:
        tail.append(InlineKeyboardButton(t("btn.confirm", locale), callback_data="f:confirm"))
    tail.append(InlineKeyboardButton(t("btn.cancel", locale), callback_data="f:cancel"))
    return InlineKeyboardMarkup([*rows, tail])
