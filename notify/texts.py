"""The notification texts in zh-CN and en.

Kept here rather than in `bot/i18n.py` while both packages are being written side by side;
the keys carry the `notify.` prefix CONTRACTS.md reserves, so they can move into the bot's
catalog unchanged. Button labels come from the bot's catalog (bot.keyboards).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LOCALES = ("zh-CN", "en")
FALLBACK = "zh-CN"

ZH: dict[str, str] = {
    "notify.assigned": "【新派单】{serial}\n类别：{category}\n地点：{place}\n内容：{description}\n办理时限：{deadline}",
    "notify.reminder": "【即将到期】{serial} 将于 {deadline} 到期，请尽快办理。",
    "notify.red": "【已超时·红色预警】{serial} 已于 {deadline} 超过办理时限，请立即办理。",
    "notify.escalation": "【超时督办】{unit} 的 {serial}（{category}）已于 {deadline} 超时未办结，请督促处理。",
    "notify.returned": "【退单】{serial} 被 {unit} 退回：{reason}\n请重新派单。",
    "notify.extension_requested": "【延期申请】{unit} 申请 {serial} 延期：{reason}\n当前时限：{deadline}",
    "notify.extension_approved": "【延期已批准】{serial} 新的办理时限：{deadline}",
    "notify.extension_refused": "【延期未批准】{serial} 办理时限仍为 {deadline}。{reason}",
    "notify.feedback_center": "【待核查】{unit} 已反馈 {serial}：{result}\n请回访核查。",
    "notify.feedback_reporter": "您反映的问题 {serial} 已处理完毕，正在核查。",
    "notify.reopened": "【返工督办】{serial} 核查未通过，已重新交办：{reason}\n办理时限：{deadline}",
    "notify.supervised": "【督办】{serial} 被督办：{reason}\n办理时限：{deadline}",
    "notify.rate_request": "您反映的问题 {serial} 已办结。请对处理结果评价：直接回复本消息 1–5（5 满意，4 较满意，3 一般，2 较差，1 差），或点下方按钮。",
    "notify.merged": "您反映的问题已并入案件 {main_serial} 一并办理，可用该流水号查询进度。",
    "notify.undeliverable": "【消息无法送达】{name}（{unit}）的会话不可用（{reason}），以下消息请另行通知：\n{text}",
    "notify.digest": "【每日简报】{unit} {date}\n未办结 {open} 件：红 {red}，黄 {yellow}，蓝 {blue}\n昨日以来新超时 {turned_red} 件。",
    "notify.none": "无",
}

EN: dict[str, str] = {
    "notify.assigned": "[New assignment] {serial}\nCategory: {category}\nPlace: {place}\nDetails: {description}\nDue: {deadline}",
    "notify.reminder": "[Due soon] {serial} is due at {deadline}. Please handle it soon.",
    "notify.red": "[Overdue · red] {serial} passed its time limit at {deadline}. Please act now.",
    "notify.escalation": "[Overdue, escalated] {serial} ({category}) of {unit} has been overdue since {deadline}. Please follow it up.",
    "notify.returned": "[Returned] {serial} was returned by {unit}: {reason}\nPlease dispatch it again.",
    "notify.extension_requested": "[Extension requested] {unit} asks to extend {serial}: {reason}\nCurrent deadline: {deadline}",
    "notify.extension_approved": "[Extension approved] {serial} is now due at {deadline}.",
    "notify.extension_refused": "[Extension refused] {serial} is still due at {deadline}. {reason}",
    "notify.feedback_center": "[To verify] {unit} reported {serial} handled: {result}\nPlease call back and verify.",
    "notify.feedback_reporter": "Your report {serial} has been handled and is being verified.",
    "notify.reopened": "[Rework] {serial} failed verification and is back with you: {reason}\nDue: {deadline}",
    "notify.supervised": "[Supervision] {serial} is under supervision: {reason}\nDue: {deadline}",
    "notify.rate_request": "Your report {serial} has been closed. Please rate the result: reply to this message with 1–5 (5 satisfied … 1 very poor) or press a button below.",
    "notify.merged": "Your report was merged into case {main_serial}; track it with that serial number.",
    "notify.undeliverable": "[Undeliverable] The chat of {name} ({unit}) is unavailable ({reason}); please pass this on another way:\n{text}",
    "notify.digest": "[Daily digest] {unit} {date}\nOpen: {open} — red {red}, yellow {yellow}, blue {blue}\nTurned red since yesterday: {turned_red}.",
    "notify.none": "none",
}

CATALOG: dict[str, dict[str, str]] = {"zh-CN": ZH, "en": EN}


def locale_of(value: str | None, default: str = FALLBACK) -> str:
    if value in CATALOG:
        return value  # type: ignore[return-value]
    if value and value.lower().startswith("zh"):
        return "zh-CN"
    if value and value.lower().startswith("en"):
        return "en"
    return default if default in CATALOG else FALLBACK


def t(key: str, locale: str, /, **kw: object) -> str:
    catalog = CATALOG.get(locale, CATALOG[FALLBACK])
    template = catalog.get(key) or CATALOG[FALLBACK][key]
    return template.format(**kw)


def when(value: datetime | None, tz: ZoneInfo, locale: str) -> str:
    """A deadline in local time, as people read it."""
    if value is None:
        return t("notify.none", locale)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def unit_name(unit: dict[str, object] | None, locale: str, fallback: str = "") -> str:
    if not unit:
        return fallback
    key = "name_en" if locale == "en" else "name_zh"
    return str(unit.get(key) or unit.get("name_zh") or unit.get("name") or unit.get("_id") or fallback)
