"""One shape for a stored case: every field a case can have, with its default.

Intake validates the whole document before it inserts it, the lifecycle validates the values
it `$set`s (`check_set`: each value against its field's type, no extra read), and pages and
APIs read cases through `read_case` (validated, missing fields filled with their defaults), so
no template or handler guesses whether a field exists. Stored cases of an earlier
`schema_version` are brought to this one by `cases.migrations` at start.

The derived fields at the end (`queue`, `due_hour`, `created_hour`, `created_slot`, `open_unit`, the `by_*`
buckets of the lists' filters) exist so that
each list is an indexed equality or `$in` on the embedded server (FerretDB pushes down neither
ranges, `$or`, sorts, dotted paths nor array membership): they are recomputed by `derived`
whenever the fields they come from are written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from cases.errors import BadCaseInput
from cases.model import OPEN_STATES

SCHEMA_VERSION = 4
HOUR_S = 3600
SLOT_S = 600  # `created_slot`: an unfiltered list walks back ten minutes at a time


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Reporter(_Part):
    user_id: int | None = None
    chat_id: int | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    locale: str | None = None
    role: str | None = None


class Assignee(_Part):
    unit: str
    kind: str | None = None
    name: str | None = None


class Extension(_Part):
    status: str | None = None
    until: datetime | None = None
    reason: str | None = None


class Rating(_Part):
    score: int
    label_zh: str | None = None
    label_en: str | None = None
    at: datetime | None = None
    comment: str | None = None
    by: dict[str, Any] | None = None


class Result(_Part):
    text: str | None = None
    photos: list[str] = Field(default_factory=list)
    at: datetime | None = None
    by: dict[str, Any] | None = None
    on_time: bool | None = None


class Callback(_Part):
    fixed: bool | None = None
    comment: str | None = None
    at: datetime | None = None
    by: dict[str, Any] | None = None


class HistoryEntry(_Part):
    seq: int
    at: datetime
    actor: dict[str, Any] = Field(default_factory=dict)
    action: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    reason: str | None = None
    data: dict[str, Any] | None = None


class JointPart(_Part):
    unit: str
    kind: str | None = None
    name: str | None = None
    state: str = "dispatched"  # dispatched, in_progress, done, returned
    deadline: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    feedback: Result | None = None
    returned: dict[str, Any] | None = None
    extension: Extension | None = None


def _reporter(value: dict[str, Any]) -> dict[str, Any]:
    Reporter.model_validate(value)
    return value


# A case stored without its creation time (never by intake) sorts and colours as the oldest.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Case(_Part):
    id: Any = Field(alias="_id")
    schema_version: int = SCHEMA_VERSION
    serial: str = ""
    district: str = ""
    channel: str = ""
    kind: str = ""
    category: str = ""
    category_name: dict[str, str | None] = Field(default_factory=dict)
    layer: str | None = None
    level: str | None = None
    urgency: str = "normal"
    limit: dict[str, Any] = Field(default_factory=dict)
    dispatch_minutes: int | float = 60
    verify_hours: int | float = 24
    description: str | None = None
    location: dict[str, float] | None = None
    placement: dict[str, Any] | None = None
    # photos
    photos: list[str] = Field(default_factory=list)
    phashes: list[str] = Field(default_factory=list)
    result_photos: list[str] = Field(default_factory=list)
    after_photos: list[str] = Field(default_factory=list)
    public_photos: list[str] = Field(default_factory=list)
    photo_ids: list[str] = Field(default_factory=list)
    # people
    # checked against Reporter, stored as given (a reporter records only what is known)
    reporter: Annotated[dict[str, Any], AfterValidator(_reporter)] = Field(default_factory=dict)
    followers: list[dict[str, Any]] = Field(default_factory=list)
    public: bool = False
    # workflow
    state: str = "reported"
    version: int = 1
    proposed_assignee: Assignee | None = None
    assignee: Assignee | None = None
    units: list[str] = Field(default_factory=list)
    assigned_units: list[str] = Field(default_factory=list)
    deadline: datetime | None = None
    deadline_provisional: bool = False
    deadline_basis: dict[str, Any] | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    dispatched_at: datetime | None = None
    first_dispatched_at: datetime | None = None
    accepted_at: datetime | None = None
    reopened_at: datetime | None = None
    created_at: datetime = EPOCH
    updated_at: datetime | None = None
    closed_at: datetime | None = None
    closed_on_time: bool | None = None
    handled_on_the_spot: bool = False
    extension: Extension | None = None
    result: Result | None = None
    rating: Rating | None = None
    low_rating: bool = False
    reporter_callback: Callback | None = None
    supervised: bool = False
    returns: int = 0
    extensions: int = 0
    reworks: int = 0
    supervisions: int = 0
    merged_into: str | None = None
    # dispatched by a category's rule, not by a dispatcher (cases.autodispatch): the center's
    # "auto-dispatched" list holds it until taken back or handled by hand
    auto_dispatched: bool = False
    # the center's toolset (issue 22): why it was refused or voided; the suspension (挂账)
    # with its review date (`review_at`, top level: the schedule's step reads it)
    refusal: dict[str, Any] | None = None
    suspension: dict[str, Any] | None = None
    review_at: datetime | None = None
    # a joint case (联勤联动, cases.joint): one part per assisting unit (the lead is `assignee`),
    # each with its own state, deadline and feedback; `waiting_parts` once the lead has fed back
    # and the case waits for the others
    parts: list[JointPart] = Field(default_factory=list)
    waiting_parts: bool = False
    merged_cases: list[str] = Field(default_factory=list)
    duplicate_candidates: list[dict[str, Any]] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    intake_key: str | None = None
    update_id: int | None = None
    synthetic: bool = False
    # moderation (cases.moderation): a hidden case is out of every public view (`public` is kept
    # False meanwhile, see `derived`; `hidden_public` records what it was); `redactions` pair a
    # photo with its redacted copy, which replaces it in `public_photos`.
    hidden: bool = False
    hidden_public: bool | None = None
    redactions: list[dict[str, Any]] = Field(default_factory=list)
    # derived for the indexed lists (see `derived`)
    queue: str | None = None
    due_hour: int | None = None
    created_hour: int | None = None
    created_slot: int | None = None
    open_unit: str | None = None
    by_state: str | None = None
    by_channel: str | None = None
    by_category: str | None = None
    by_kind: str | None = None
    by_unit: str | None = None


# A list filter's value with the creation hour (`"<value>|<hour>"`, see `derived`).
BUCKETS = {"state": "by_state", "channel": "by_channel", "category": "by_category",
           "kind": "by_kind", "assignee.unit": "by_unit"}


def bucket(value: object, hour: int | None) -> str | None:
    return None if value is None or hour is None else f"{value}|{hour}"


FIELDS = frozenset(Case.model_fields) | {"_id"}


def pending_extension(case: Mapping[str, Any]) -> bool:
    """An extension request waits for the center: the case's, or a joint case's part's."""
    return (case.get("extension") or {}).get("status") == "pending" or any(
        (p.get("extension") or {}).get("status") == "pending" for p in case.get("parts") or [])


def _queue(case: Mapping[str, Any]) -> str | None:
    """The desk queue the case waits in (one at most: their states do not overlap)."""
    state = case.get("state")
    if state == "reported":
        return "new"
    if state == "returned":
        return "returned"
    if state == "suspended":
        return "suspended"
    if state == "awaiting_verification":
        return "verification"
    if state in ("dispatched", "in_progress") and pending_extension(case):
        return "extensions"
    if state == "closed" and case.get("low_rating"):
        return "low_ratings"
    return None


def hour_of(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() // HOUR_S)


def slot_of(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp() // SLOT_S)


def derived(case: Mapping[str, Any]) -> dict[str, Any]:
    """The list fields of a case as it is (after a change): to be written with it."""
    is_open = case.get("state") in OPEN_STATES
    assignee = case.get("assignee") or {}
    created = hour_of(case.get("created_at"))
    # A filtered list walks back the creation hours of its filter's value only (`BUCKETS`).
    return {"queue": _queue(case),
            "due_hour": hour_of(case.get("due_at")) if is_open else None,
            "created_hour": created,
            # a year's district creates ~100 cases an hour: an unfiltered page of 50 reads a slot
            "created_slot": slot_of(case.get("created_at")),
            "open_unit": assignee.get("unit") if is_open else None,
            "by_state": bucket(case.get("state"), created),
            "by_channel": bucket(case.get("channel"), created),
            "by_category": bucket(case.get("category"), created),
            "by_kind": bucket(case.get("kind"), created),
            "by_unit": bucket(assignee.get("unit"), created),
            "schema_version": SCHEMA_VERSION,
            # a hidden case is nobody's public case, whatever change sets its flag (a re-file)
            **({"public": False} if case.get("hidden") else {})}


def _bad(exc: ValidationError) -> BadCaseInput:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return BadCaseInput(f"case field {where}: {first['msg']}", field=where)


def complete(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document as the schema stores it: validated, defaults filled, derived fields set."""
    try:
        case = Case.model_validate(dict(doc))
    except ValidationError as exc:
        raise _bad(exc) from None
    out = case.model_dump(by_alias=True)
    out.update(derived(out))
    return out


# What a list reads without: the history and the reporter's private answer (case pages only).
LIST_OMIT = ("history", "reporter_callback")


def read_case(doc: Mapping[str, Any], *, omit: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored case as pages and APIs read it: every field present but those `omit` names
    (a list's projection left them out)."""
    out = Case.model_validate(dict(doc)).model_dump(by_alias=True)
    for name in omit:
        out.pop(name, None)
    return out


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    info = Case.model_fields[name]
    form: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return TypeAdapter(form)


def check_set(changes: Mapping[str, Any]) -> None:
    """Each top-level value of a `$set` against its field's type (no read of the case)."""
    for key, value in changes.items():
        if "." in key or key not in Case.model_fields:
            continue
        try:
            _adapter(key).validate_python(value)
        except ValidationError as exc:
            raise BadCaseInput(f"case field {key}: {exc.errors()[0]['msg']}", field=key) from None
