"""What each audience may see of a case: staff (everything, reporter included), lists
(no reporter, no history) and the public lookup (a whitelist: nothing personal)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.colour import colour_of
from gridlink.db import Document

# Internal bookkeeping nobody needs to read back.
_INTERNAL = ("intake_key", "phashes")
_LIST_HIDDEN = ("reporter", "followers", "history", "update_id", "duplicate_candidates")


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 strings, recursively."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def staff_view(case: Document, now: datetime) -> dict[str, Any]:
    out = {k: v for k, v in case.items() if k not in _INTERNAL}
    out["id"] = out.pop("_id")
    out["colour"] = colour_of(case, now)
    return jsonable(out)


def list_item(case: Document, now: datetime) -> dict[str, Any]:
    out = {k: v for k, v in case.items() if k not in _INTERNAL and k not in _LIST_HIDDEN}
    out["id"] = out.pop("_id")
    out["colour"] = colour_of(case, now)
    return jsonable(out)


def public_photos(case: Document) -> list[str]:
    """Photos the public may see (`public_photos`, kept by intake and feedback)."""
    return list(dict.fromkeys(case.get("public_photos") or []))


def public_view(case: Document, now: datetime) -> dict[str, Any]:
    """The citizen's lookup by serial: a whitelist, never the reporter, contact or location."""
    assignee = case.get("assignee") or {}
    rating = case.get("rating") or {}
    return jsonable({
        "serial": case["serial"],
        "status": case["state"],
        "colour": colour_of(case, now),
        "kind": case["kind"],
        "category": case.get("category"),
        "category_name": case.get("category_name"),
        "handling_unit": {"name": assignee.get("name"), "kind": assignee.get("kind")} if assignee else None,
        "created_at": case["created_at"],
        "deadline": case.get("deadline"),
        "closed_at": case.get("closed_at"),
        "supervised": bool(case.get("supervised")),
        "rated": bool(rating),
        "merged_into_serial": next((e.get("data", {}).get("into_serial") for e in case.get("history") or []
                                    if e["action"] == "merge"), None),
        "timeline": [{"at": e["at"], "action": e["action"], "status": e["to"]}
                     for e in case.get("history") or []],
        "photos": public_photos(case),
    })
