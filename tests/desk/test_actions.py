"""The desk's action table (api/desk/actions.py) against the lifecycle's own state-machine
table (the docstring of cases/lifecycle.py), and the actions it offers each role."""

from __future__ import annotations

import re

from api.desk.actions import RULES, allowed_actions
from cases import lifecycle
from cases.model import OPEN_STATES, Actor

# desk action → the lifecycle rows it performs
ROWS = {"dispatch": ("dispatch", "redispatch"), "accept": ("accept",), "return": ("return",),
        "extend": ("request_extension",), "decide": ("decide_extension",),
        "feedback": ("feedback",), "verify": ("close", "reopen"), "supervise": ("supervise",),
        "merge": ("merge",), "rate": ("rate",)}
GUARD = {"C": "center", "H": "assignee", "R": "center"}  # R: "or C recording the callback"


def lifecycle_table() -> dict[str, tuple[str, tuple[str, ...]]]:
    doc = lifecycle.__doc__ or ""
    rows = {}
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[0] in ("action", "") or set(cells[0]) <= {"-"}:
            continue
        action = re.split(r"[ (]", cells[0])[0]
        source = cells[2].split("+")[0].strip()
        states = OPEN_STATES if source == "any open state" else tuple(
            s.strip() for s in re.sub(r"\(.*?\)", "", source).split(",") if s.strip())
        rows[action] = (cells[1], states)
    return rows


def test_every_desk_action_matches_the_lifecycle_table() -> None:
    table = lifecycle_table()
    assert {"dispatch", "accept", "feedback", "close", "reopen", "merge"} <= set(table)
    assert set(ROWS) == set(RULES)
    for action, rows in ROWS.items():
        states: set[str] = set()
        for row in rows:
            by, from_states = table[row]
            assert GUARD[by] == RULES[action].guard, action
            states |= set(from_states)
        assert states == set(RULES[action].states), action


def case(state: str, **extra: object) -> dict[str, object]:
    doc: dict[str, object] = {"_id": "c1", "serial": "A20261127-00001", "state": state, "version": 3,
                              "district": "310101", "assignee": {"unit": "D07"},
                              "placement": {"street": "310101001"}, "extension": None, "rating": None}
    doc.update(extra)
    return doc


def test_each_role_is_offered_only_its_own_actions() -> None:
    center = Actor(role="dispatcher", unit="310101")
    other_street = Actor(role="dispatcher", unit="310101009")
    roads = Actor(role="department", unit="D07")
    water = Actor(role="department", unit="D08")
    assert allowed_actions(case("reported", assignee=None), center) == ["dispatch", "supervise", "merge"]
    assert allowed_actions(case("reported", assignee=None), roads) == []
    assert allowed_actions(case("dispatched"), roads) == ["accept", "return", "extend"]
    assert allowed_actions(case("dispatched"), water) == []
    assert allowed_actions(case("dispatched"), other_street) == []
    pending = case("in_progress", extension={"status": "pending"})
    assert allowed_actions(pending, roads) == ["return", "feedback"]
    assert allowed_actions(pending, center) == ["decide", "supervise", "merge"]
    assert allowed_actions(case("awaiting_verification"), center) == ["verify", "supervise", "merge"]
    assert allowed_actions(case("closed"), center) == ["rate"]
    assert allowed_actions(case("closed", rating={"score": 5}), center) == []
    assert allowed_actions(case("merged"), center) == []
