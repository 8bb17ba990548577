"""A department's head can be bound (invites, roster) and sees the department's cases."""

from __future__ import annotations

from datetime import UTC, datetime

from cases import visibility
from cases.model import Actor
from gridlink.db import Database
from gridlink.i18n import t
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid


async def test_a_department_head_is_bound_and_sees_the_departments_cases(db: Database) -> None:
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    await grids_repo.install_grid(db, grid=parse_grid(demo_feature_collection()), source="tests", now=now)
    await grids_repo.bind(db, user_id=81, chat_id=81, role="department_head", unit="D07",
                          name="Head Wang", locale="en", now=now)
    member = await grids_repo.membership(db, user_id=81)
    assert member is not None and member["role"] == "department_head"
    assert t("role.department_head", "en") == "line department head"
    case = {"district": "310101", "assignee": {"unit": "D07"}, "history": [], "public": False}
    assert visibility.audience(Actor(role="department_head", unit="D07"), case) == "assignee"
    assert visibility.audience(Actor(role="department_head", unit="D05"), case) is None
