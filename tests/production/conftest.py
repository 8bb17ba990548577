"""Production-hardening fixtures: the desk's (a grid, staff accounts, the real app on a
loopback server) and the Bot API sandbox's."""

from __future__ import annotations

from tests.desk.conftest import make_desk
from tests.sandbox.conftest import sandbox

__all__ = ["make_desk", "sandbox"]
