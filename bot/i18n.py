"""Moved to `gridlink.i18n` (shared with notify); kept for the reliability tests that import it."""

from gridlink.i18n import CATALOG, EN, FALLBACK, LOCALES, ZH, has, locale_for, t

__all__ = ["CATALOG", "EN", "FALLBACK", "LOCALES", "ZH", "has", "locale_for", "t"]
