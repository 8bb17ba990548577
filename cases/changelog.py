"""The change log: one event per history entry, the record every reader derives from.

`cases/` writes it and knows none of its readers. A reader that needs something computed at
the moment of the change (the statistics: what the change moves in the rollups) registers a
deriver at start (`gridlink/app.py`, `gridlink/cli.py`): `derive_with(fn)`, where
`fn(before, after)` returns fields to store on the change's event (`before` None at intake).
The duplicate search reads the change log too: a located case's report event carries its
search key and place (`spot_fields`), and the event that closes it marks the spot gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from cases.duplicates import dup_key
from cases.model import FINAL_STATES

log = logging.getLogger(__name__)

Deriver = Callable[[Mapping[str, Any] | None, Mapping[str, Any]], Mapping[str, Any]]
_derivers: list[Deriver] = []

GONE = "gone|"  # the key under which the event that closes a located case is found


def derive_with(fn: Deriver) -> None:
    """Store `fn(before, after)`'s fields on each change's event (once per function)."""
    if fn not in _derivers:
        _derivers.append(fn)


def derived(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> dict[str, Any]:
    """The registered derivers' fields for one change. A failing deriver is logged and left out:
    the change did happen (its reader repairs, e.g. `gridlink stats rebuild`)."""
    out: dict[str, Any] = {}
    for fn in _derivers:
        try:
            out.update(fn(before, after))
        except Exception:  # any reader's failure: the case change stands
            log.exception("change-log deriver failed", extra={"case_id": after.get("_id")})
    return out


def spot_fields(case: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the duplicate search reads of this entry's event: for a located case's report, its
    key `k`, place and photo hashes; for the entry that closes it, `k` = "gone|<case id>".
    A function of the case and the entry alone, so a re-emitted event is the same."""
    loc = case.get("location")
    if not loc or case.get("handled_on_the_spot") or case.get("created_at") is None:
        return {}
    # an address-only case placed later (issue 22's re-place) is searchable from then on
    placed = entry["action"] == "replace" and not (entry.get("data") or {}).get("from")
    if entry["action"] == "report" or placed:
        return {"k": dup_key(case["category"], loc["lon"], loc["lat"], case["created_at"]),
                "location": {"lon": loc["lon"], "lat": loc["lat"]},
                "phashes": list(case.get("phashes") or [])}
    if entry["to"] in FINAL_STATES and entry["from"] not in FINAL_STATES:
        return {"k": GONE + str(case["_id"])}
    return {}
