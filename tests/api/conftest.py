"""Fixtures for the staff API tests: the case helpers' tokens and intake, plus principals of
other areas (a street's dispatcher, a leader of another block)."""

from __future__ import annotations

from typing import Any

import pytest

from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import (  # noqa: F401  (fixtures)
    DISTRICT,
    PLACEMENT,
    Tokens,
    demo_grid,
    grid,
    inside_point,
    new_case,
    policy,
    tokens,
)
from tests.open311.conftest import api_key, o311  # noqa: F401  (fixtures)

# The same district, another street: 310101009 (the `other_street` dispatcher's).
OTHER_PLACEMENT: dict[str, Any] = {
    **PLACEMENT, "community_block": "310101009001001", "workstation": "310101009001",
    "street": "310101009"}


@pytest.fixture
async def staff(db: Database, clock: FakeClock, tokens: Tokens) -> Tokens:  # noqa: F811
    """`tokens` plus: street (dispatcher of PLACEMENT's street) and other_leader (leader of a
    block in another street). Staff tokens have no station_head role."""
    spec = {"street": ("dispatcher", PLACEMENT["street"]),
            "other_leader": ("leader", OTHER_PLACEMENT["community_block"])}
    out = dict(tokens)
    for name, (role, unit) in spec.items():
        out[name] = await auth.create_token(db, role=role, unit=unit, district=DISTRICT,
                                            name=name, now=clock.now())
    return out
