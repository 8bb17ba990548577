"""Inline and reply keyboards; callback_data formats are a contract with notify (docs/CONTRACTS.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)

from bot.i18n import t

ACTIONS = ("accept", "return", "extend", "done")


def assignment_keyboard(case_id: str, version: int, locale: str) -> InlineKeyboardMarkup:
    row = [InlineKeyboardButton(t(f"btn.{a}", locale), callback_data=f"c:{a}:{case_id}:{version}")
           for a in ACTIONS]
    return InlineKeyboardMarkup([row[:2], row[2:]])


def assignment_markup(case_id: str, version: int, locale: str) -> dict[str, Any]:
    """reply_markup JSON for notify's assignment messages."""
    return assignment_keyboard(case_id, version, locale).to_dict()


def rating_keyboard(case_id: str, locale: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton("⭐" * n, callback_data=f"r:{case_id}:{n}") for n in (1, 2, 3)
    ], [
        InlineKeyboardButton("⭐" * n, callback_data=f"r:{case_id}:{n}") for n in (4, 5)
    ]])


def rating_markup(case_id: str, locale: str) -> dict[str, Any]:
    """reply_markup JSON for notify's closing message that asks for a rating."""
    return rating_keyboard(case_id, locale).to_dict()


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
