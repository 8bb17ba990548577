"""Automatic dispatch (issue 22): a category's opt-in rule assigns a new case with no dispatcher.

A rule (`cases.categories.AutoDispatch`, edited with the category) fires once, on a case nobody
at the center has touched yet, when all of these hold:

- the case's placement is certain: a location was given and the grid placed it inside a
  block (not snapped to the nearest one from outside; not an address-only case);
- the rule names a unit: the community block or street block it was placed in (its leader),
  or the routing's proposal when that is a block or a department (never a fallback to a
  station, street or the district, which is what an uncertain place gives);
- that unit has an active member on the roster (bound, and a chat Telegram has not refused).

The dispatch is the workflow's own (`lifecycle.dispatch`, by the system actor acting for the
center), recorded in the history with the rule. The worker runs it right after intake (in the
dispatch step, `notify.schedule`), so the assignment goes out through the normal notify path.
The case waits in the center's "auto-dispatched" list (`cases.lists`, `q:auto:<unit>`) until
the center takes it back (`take_back`: back to the dispatch queue) or it is handled.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from cases import lifecycle
from cases import repository as repo
from cases.calendar import warn_time
from cases.categories import AutoDispatch
from cases.errors import StaleCase, TransitionNotAllowed
from cases.model import Actor, CasePolicy
from cases.workflow import check
from gridlink.db import Database, Document
from gridlink.errors import DomainError
from grids import repository as grids_repo

log = logging.getLogger(__name__)

# Who dispatches by rule (the workflow lets the system act for the center).
AUTO_ACTOR = Actor(role="system", name="auto-dispatch")
# A rule fires only on a case whose history holds nothing but these: nobody at the center
# has acted on it (a re-file, re-place or a case taken back is the center's to dispatch).
UNTOUCHED = ("report", "follow", "absorb", "remind", "escalate")
# The roster role that must be present in the target unit, by assignee kind.
MEMBER_ROLE = {"block": "leader", "department": "department"}
PLACEMENT_LEVELS = {"community_block": "block", "street_block": "block"}


def rule_of(category: Mapping[str, Any] | None) -> AutoDispatch | None:
    """The category's rule when it is turned on (a stored rule that no longer validates: off)."""
    stored = (category or {}).get("auto_dispatch")
    if not stored:
        return None
    try:
        rule = AutoDispatch.model_validate(stored)
    except ValidationError:
        return None
    return rule if rule.enabled else None


def placement_certain(case: Mapping[str, Any]) -> bool:
    """A location the grid placed inside a block (not snapped in from outside, not address-only)."""
    place = case.get("placement") or {}
    return bool(case.get("location") and place.get("community_block") and not place.get("snapped"))


def target_of(case: Mapping[str, Any], rule: AutoDispatch) -> dict[str, str] | None:
    """`{unit, kind}` the rule sends the case to, or None when the case gives it none."""
    if not placement_certain(case):
        return None
    place = case.get("placement") or {}
    if rule.to in PLACEMENT_LEVELS:
        code = place.get(rule.to)
        return {"unit": str(code), "kind": PLACEMENT_LEVELS[rule.to]} if code else None
    proposed = case.get("proposed_assignee") or {}
    if proposed.get("unit") and proposed.get("kind") in MEMBER_ROLE:
        return {"unit": str(proposed["unit"]), "kind": str(proposed["kind"])}
    return None


async def has_active_member(db: Database, *, unit: str, kind: str) -> bool:
    """Whether someone bound to the unit, in the role that handles its cases, can be reached."""
    role = MEMBER_ROLE.get(kind)
    if role is None:
        return False
    members = await grids_repo.members(db, unit=unit, role=role)
    return any(not m.get("unreachable") for m in members)


def untouched(case: Mapping[str, Any]) -> bool:
    return case.get("state") == "reported" and case.get("first_dispatched_at") is None and all(
        e.get("action") in UNTOUCHED for e in case.get("history") or [])


@dataclass(frozen=True)
class Decision:
    """Where a rule sends a case (`target` None: it does not fire, `why` says why)."""

    target: dict[str, str] | None
    why: str = ""
    rule: str = ""


async def decide(db: Database, case: Mapping[str, Any]) -> Decision:
    """Whether and where the case's category rule dispatches it now."""
    if not untouched(case):
        return Decision(None, "not a new case")
    try:
        category = await repo.get_category(db, code=str(case.get("category") or ""))
    except DomainError:
        return Decision(None, "unknown category")
    rule = rule_of(category)
    if rule is None:
        return Decision(None, "no rule")
    if not placement_certain(case):
        return Decision(None, "placement uncertain")
    target = target_of(case, rule)
    if target is None:
        return Decision(None, "no unit", rule.to)
    if not await has_active_member(db, unit=target["unit"], kind=target["kind"]):
        return Decision(None, "no active member", rule.to)
    return Decision(target, "", rule.to)


async def dispatch_new(db: Database, *, case: Document, now: datetime,
                       policy: CasePolicy) -> Document | None:
    """Dispatch a new case by its category's rule; the changed case, or None when no rule
    fires (or the center acted first: the case is then theirs)."""
    if not untouched(case):  # the common case, answered without a read
        return None
    decision = await decide(db, case)
    if decision.target is None:
        return None
    try:
        return await lifecycle.dispatch(
            db, case_ref=case["_id"], actor=AUTO_ACTOR, now=now, policy=policy,
            unit=decision.target["unit"], unit_kind=decision.target["kind"],
            expected_version=case["version"],
            auto={"rule": decision.rule, "category": case["category"]})
    except DomainError as exc:
        # a dispatcher (or another worker) acted first, or the case changed: theirs to handle
        raced = isinstance(exc, StaleCase | TransitionNotAllowed)
        log.log(logging.INFO if raced else logging.WARNING, "auto-dispatch skipped",
                extra={"case_id": case["_id"], "why": type(exc).__name__})
        return None


async def take_back(db: Database, *, case_ref: str, actor: lifecycle.ActorLike, now: datetime,
                    policy: CasePolicy, reason: str | None = None,
                    expected_version: int | None = None) -> Document:
    """The center takes an automatic assignment back: the case returns to the dispatch queue
    with a fresh dispatch limit, the unit loses it (and hears so); a rule never fires on it
    again. Allowed while the automatic assignment runs (dispatched or in progress)."""
    who = Actor.of(actor)
    case = await repo.get_case(db, ref=case_ref)
    if expected_version is not None and expected_version != case["version"]:
        raise StaleCase(f"case {case['serial']} changed since you saw it; it is now {case['state']}",
                        state=case["state"], version=case["version"], case_id=case["_id"])
    check(who, case, "take_back")
    why = lifecycle.clean_text(reason, "reason", required=False, limit=1000)
    due = now + timedelta(minutes=float(case.get("dispatch_minutes") or 30))
    entry = lifecycle.history_entry(case, actor=who, action="take_back", to="reported", now=now,
                                    reason=why, data={"assignee": case.get("assignee")})
    return await lifecycle._commit(db, case, entry, set_={
        "assignee": None, "deadline": None, "deadline_provisional": False,
        "deadline_basis": None, "dispatched_at": None, "accepted_at": None, "extension": None,
        "auto_dispatched": False, "due_at": due,
        "warn_at": warn_time(now, due, policy.yellow_fraction)})
