"""Reliability fixtures: the bot world of tests/bot (real app + PTB + sandbox) and process helpers."""

from __future__ import annotations

from tests.bot.conftest import world
from tests.sandbox.conftest import sandbox

__all__ = ["sandbox", "world"]
