"""The roster in bulk: import people (name, phone, role, unit) from CSV or XLSX, each row
validated before anything is written, one single-use invite per imported person, and the
listing of who is imported or bound in a unit.

Nothing is half-imported. An import is a batch (`roster_imports`, state `writing` → `done`);
its people (`roster_people`, `_id` = phone) and invites are written first and count only once
the batch document says `done`, a single-document update (the commit point). A batch left in
`writing` past its lease (the process died) is discarded before the next import, so a re-run
of the same file imports it whole. Readers list only people of done batches.

Invite tokens are derived (HMAC of the invite id with a stored key), so the printable sheet can
show the same links again without keeping tokens in clear; only their hash is in `invites`,
which the bot's /start redeems as any other invite.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from openpyxl import Workbook, load_workbook
from pymongo import ASCENDING

from bot.repository import _hash as invite_hash
from gridlink.appsecrets import stored_secret
from gridlink.db import Database, Document, insert_new
from gridlink.errors import Conflict, InvalidInput, NotFound
from grids import repository as grids_repo

ROLES = grids_repo.ROLES
COLUMNS = ("name", "phone", "role", "unit")
# Header words a district's own sheet may use (case and spaces ignored).
HEADERS: dict[str, tuple[str, ...]] = {
    "name": ("name", "姓名", "名字"),
    "phone": ("phone", "mobile", "手机", "手机号", "手机号码", "电话", "联系电话"),
    "role": ("role", "角色", "岗位", "职务"),
    "unit": ("unit", "unit code", "单位", "单位代码", "单元", "单元代码", "网格", "网格编码"),
}
# The role column may hold the code or the Chinese title.
ROLE_WORDS: dict[str, str] = {
    **{r: r for r in ROLES},
    "巡管员": "coordinator", "协管员": "coordinator", "网格员": "coordinator",
    "责任块负责人": "leader", "块长": "leader", "负责人": "leader",
    "工作站站长": "station_head", "站长": "station_head",
    "受理员": "dispatcher", "联动中心受理员": "dispatcher",
    "条线部门": "department", "部门": "department",
    "部门负责人": "department_head",
}
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE_RE = re.compile(r"^0\d{9,11}$")
NAME_MAX = 40
MAX_ROWS = 50_000
MAX_BYTES = 20 * 1024 * 1024
INVITE_HOURS = 24 * 30
# A batch still `writing` this long after it started was abandoned by a dead process.
WRITE_LEASE = timedelta(minutes=15)
CHUNK = 1000  # documents per insert_many
# Values per `$in` read: FerretDB re-applies the whole filter to every row SQLite returns, so a
# lookup costs rows × list length (1,000 phones: 1.6 s; 100: 0.01 s).
LOOKUP = 100
INVITE_KEY = "roster_invite_key"


@dataclass(frozen=True)
class Problem:
    """Why one row was refused: a reason code (translated by the adapter) and its values."""

    row: int
    column: str
    value: str
    reason: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_doc(self, batch: str) -> Document:
        return {"batch": batch, "row": self.row, "column": self.column, "value": self.value,
                "reason": self.reason, "params": self.params}


@dataclass(frozen=True)
class Person:
    row: int
    name: str
    phone: str
    role: str
    unit: str
    # A second role on another row of the same phone, where grids.ALSO_ROLES allows it.
    also_role: str | None = None
    also_unit: str | None = None


@dataclass
class Outcome:
    batch: str
    rows: int
    imported: int
    problems: list[Problem]


async def ensure_indexes(db: Database) -> None:
    await db.roster_people.create_index([("unit", ASCENDING)])
    await db.roster_people.create_index([("batch", ASCENDING)])
    await db.roster_people.create_index([("also_unit", ASCENDING)])
    await db.roster_import_problems.create_index([("batch", ASCENDING)])
    await db.roster_imports.create_index([("state", ASCENDING)])
    await db.invites.create_index([("batch", ASCENDING)])


# ---------------------------------------------------------------- reading the file


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a phone typed into a number cell
    return unicodedata.normalize("NFKC", str(value)).strip()


def _columns(header: Sequence[str]) -> dict[str, int]:
    words = {w: col for col, ws in HEADERS.items() for w in ws}
    found: dict[str, int] = {}
    for i, raw in enumerate(header):
        col = words.get(" ".join(raw.lower().split()))
        if col is not None and col not in found:
            found[col] = i
    missing = [c for c in COLUMNS if c not in found]
    if missing:
        raise InvalidInput(f"the first row must name the columns {', '.join(COLUMNS)}; "
                           f"missing: {', '.join(missing)}", field="file",
                           reason="columns_missing", missing=", ".join(missing))
    return found


def read_rows(data: bytes, filename: str) -> list[tuple[int, dict[str, str]]]:
    """(sheet row number, {column: text}) for every non-empty row after the header."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB", field="file",
                           reason="too_large", max=MAX_BYTES // (1024 * 1024))
    if not data.strip():
        raise InvalidInput("the file is empty", field="file", reason="empty")
    raw_rows: Iterable[Sequence[Any]]
    if filename.lower().endswith(".xlsx") or data[:2] == b"PK":
        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise InvalidInput(f"not a readable XLSX file ({type(exc).__name__})", field="file",
                               reason="xlsx_unreadable") from None
        raw_rows = list(book.worksheets[0].iter_rows(values_only=True))
        book.close()
    else:
        for encoding in ("utf-8-sig", "gb18030"):  # Excel saves Chinese CSV as GBK
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise InvalidInput("the CSV file is neither UTF-8 nor GB18030", field="file",
                               reason="encoding")
        raw_rows = list(csv.reader(io.StringIO(text)))
    out: list[tuple[int, dict[str, str]]] = []
    columns: dict[str, int] | None = None
    for n, raw in enumerate(raw_rows, start=1):
        cells = [_cell(v) for v in raw]
        if not any(cells):
            continue
        if columns is None:
            columns = _columns(cells)
            continue
        out.append((n, {c: cells[i] if i < len(cells) else "" for c, i in columns.items()}))
        if len(out) > MAX_ROWS:
            raise InvalidInput(f"more than {MAX_ROWS} rows; split the file", field="file",
                               reason="too_many_rows", max=MAX_ROWS)
    if columns is None:
        raise InvalidInput("the file has no header row", field="file", reason="columns_missing",
                           missing=", ".join(COLUMNS))
    return out


def normalize_phone(raw: str) -> str | None:
    """Digits of a Chinese mobile or landline number (+86 / 0086 dropped), or None."""
    digits = re.sub(r"[\s\-()（）.]", "", raw)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
    if MOBILE_RE.match(digits) or LANDLINE_RE.match(digits):
        return digits
    return None


# ---------------------------------------------------------------- validation


async def validate(db: Database, rows: Sequence[tuple[int, dict[str, str]]]
                   ) -> tuple[list[Person], list[Problem]]:
    """Every row checked before anything is written: the good people and each bad row's reason."""
    units = {u["code"]: u for u in await _units(db, {r["unit"] for _, r in rows if r["unit"]})}
    taken = await _existing_phones(db, {p for _, r in rows if (p := normalize_phone(r["phone"]))})
    good: dict[str, Person] = {}
    problems: list[Problem] = []
    for n, r in rows:
        found = _check_row(n, r, units)
        if isinstance(found, Problem):
            problems.append(found)
            continue
        if found.phone in taken:
            problems.append(Problem(n, "phone", r["phone"], "phone_taken"))
            continue
        first = good.get(found.phone)
        if first is not None:
            both = _combined(first, found)
            if both is None:
                problems.append(Problem(n, "phone", r["phone"], "phone_duplicate",
                                        {"first": first.row}))
            else:
                good[found.phone] = both
            continue
        good[found.phone] = found
    return list(good.values()), problems


def _combined(first: Person, second: Person) -> Person | None:
    """One person holding both rows' roles, when one may be held beside the other (a station
    head who is also a coordinator), with the same name; None otherwise."""
    if first.also_role is not None or first.name != second.name:
        return None
    for main, extra in ((first, second), (second, first)):
        if extra.role in grids_repo.ALSO_ROLES.get(main.role, ()):
            return replace(main, row=first.row, also_role=extra.role, also_unit=extra.unit)
    return None


def _check_row(n: int, r: dict[str, str], units: dict[str, Any]) -> Person | Problem:
    name, raw_phone, raw_role, code = r["name"], r["phone"], r["role"], r["unit"]
    if not name:
        return Problem(n, "name", name, "name_missing")
    if len(name) > NAME_MAX:
        return Problem(n, "name", name[:NAME_MAX], "name_too_long", {"max": NAME_MAX})
    if not raw_phone:
        return Problem(n, "phone", raw_phone, "phone_missing")
    phone = normalize_phone(raw_phone)
    if phone is None:
        return Problem(n, "phone", raw_phone, "phone_bad")
    role = ROLE_WORDS.get(raw_role.lower().replace(" ", "_")) or ROLE_WORDS.get(raw_role)
    if not raw_role:
        return Problem(n, "role", raw_role, "role_missing")
    if role is None:
        return Problem(n, "role", raw_role, "role_bad")
    if not code:
        return Problem(n, "unit", code, "unit_missing")
    unit = units.get(code)
    if unit is None:
        return Problem(n, "unit", code, "unit_unknown")
    if unit["level"] not in ROLES[role]:
        return Problem(n, "unit", code, "unit_level",
                       {"role": role, "level": unit["level"], "levels": list(ROLES[role])})
    return Person(n, name, phone, role, code)


async def _units(db: Database, codes: set[str]) -> list[Any]:
    ordered = sorted(c for c in codes if len(c) <= 40)
    out: list[Any] = []
    for i in range(0, len(ordered), LOOKUP):
        out += await grids_repo.find_units(db, codes=ordered[i:i + LOOKUP])
    return out


async def _existing_phones(db: Database, phones: set[str]) -> set[str]:
    """Phones already on the roster through a committed import."""
    ordered = sorted(phones)
    found: list[Document] = []
    for i in range(0, len(ordered), LOOKUP):
        found += await db.roster_people.find({"_id": {"$in": ordered[i:i + LOOKUP]}},
                                             {"batch": 1}).to_list(None)
    done = await _done_batches(db, {d["batch"] for d in found})
    return {d["_id"] for d in found if d["batch"] in done}


async def _done_batches(db: Database, batches: set[str]) -> set[str]:
    if not batches:
        return set()
    return {d["_id"] for d in await _find_in(db.roster_imports, sorted(batches), {"state": 1})
            if d.get("state") == "done"}


async def _find_in(coll: Any, ids: Sequence[Any], projection: dict[str, int] | None = None
                   ) -> list[Document]:
    out: list[Document] = []
    for i in range(0, len(ids), LOOKUP):
        out += await coll.find({"_id": {"$in": list(ids[i:i + LOOKUP])}}, projection).to_list(None)
    return out


# ---------------------------------------------------------------- invites


async def _invite_key(db: Database) -> bytes:
    return (await stored_secret(db, INVITE_KEY)).encode()


def invite_token(key: bytes, invite_id: str) -> str:
    """The invite's /start token: 32 characters of [A-Za-z0-9_-] (Telegram allows 64)."""
    mac = hmac.new(key, invite_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:32]


def _invite_id(batch: str, phone: str, generation: int) -> str:
    return f"{batch}-{phone}-{generation}"


def _invite_doc(key: bytes, person: Document, *, generation: int, now: datetime, by: str,
                hours: float) -> Document:
    invite_id = _invite_id(person["batch"], person["_id"], generation)
    return {"_id": invite_id, "hash": invite_hash(invite_token(key, invite_id)),
            "role": person["role"], "unit": person["unit"], "name": person["name"],
            "also_role": person.get("also_role"), "also_unit": person.get("also_unit"),
            "person": person["_id"], "batch": person["batch"], "created_at": now,
            "expires_at": now + timedelta(hours=hours), "created_by": by,
            "used_at": None, "used_by": None}


# ---------------------------------------------------------------- import


async def discard_abandoned(db: Database, *, now: datetime) -> list[str]:
    """Delete what imports that died mid-write left (their batch never became `done`)."""
    stale = await db.roster_imports.find({"state": "writing"}).to_list(None)
    gone = [b["_id"] for b in stale if b["lease_until"] <= now]
    for batch in gone:
        await db.invites.delete_many({"batch": batch})
        await db.roster_people.delete_many({"batch": batch})
        await db.roster_import_problems.delete_many({"batch": batch})
        await db.roster_imports.delete_one({"_id": batch, "state": "writing"})
    return gone


async def import_rows(db: Database, rows: Sequence[tuple[int, dict[str, str]]], *,
                      filename: str, by: str, now: datetime,
                      hours: float = INVITE_HOURS) -> Outcome:
    """Validate every row, then write the good ones with their invites and commit the batch.

    Bad rows are reported, not written; the good ones are imported whatever the bad ones are.
    """
    await discard_abandoned(db, now=now)
    good, problems = await validate(db, rows)
    batch = now.strftime("%Y%m%d%H%M%S") + secrets.token_hex(3)
    await db.roster_imports.insert_one({
        "_id": batch, "state": "writing", "filename": filename[:200], "by": by, "at": now,
        "lease_until": now + WRITE_LEASE, "rows": len(rows), "imported": 0,
        "rejected": len(problems)})
    people: list[Document] = [
        {"_id": p.phone, "phone": p.phone, "name": p.name, "role": p.role, "unit": p.unit,
         "also_role": p.also_role, "also_unit": p.also_unit, "row": p.row, "batch": batch,
         "generation": 0, "created_at": now, "created_by": by} for p in good]
    key = await _invite_key(db)
    invites = [_invite_doc(key, doc, generation=0, now=now, by=by, hours=hours) for doc in people]
    for i in range(0, len(problems), CHUNK):
        await db.roster_import_problems.insert_many(
            [p.to_doc(batch) for p in problems[i:i + CHUNK]])
    raced: set[str] = set()
    for i in range(0, len(people), CHUNK):
        chunk = people[i:i + CHUNK]
        # A phone taken by another import since validation: that row is refused, not doubled.
        for j in await insert_new(db.roster_people, chunk):
            raced.add(chunk[j]["_id"])
    if raced:
        late = [Problem(d["row"], "phone", d["phone"], "phone_taken")
                for d in people if d["_id"] in raced]
        problems += late
        await db.roster_import_problems.insert_many([p.to_doc(batch) for p in late])
        invites = [inv for inv in invites if inv["person"] not in raced]
    for i in range(0, len(invites), CHUNK):
        await insert_new(db.invites, invites[i:i + CHUNK])
    imported = len(people) - len(raced)
    # The commit point: one document's update makes the whole batch visible (unless another
    # import took it for abandoned meanwhile: then none of it counts, and it says so).
    committed = await db.roster_imports.update_one({"_id": batch, "state": "writing"}, {"$set": {
        "state": "done", "done_at": now, "imported": imported, "rejected": len(problems)}})
    if committed.matched_count != 1:
        raise Conflict("the import ran past its lease and was discarded; import the file again")
    problems.sort(key=lambda p: p.row)
    return Outcome(batch=batch, rows=len(rows), imported=imported, problems=problems)


async def get_batch(db: Database, *, batch: str) -> Document:
    doc = await db.roster_imports.find_one({"_id": batch})
    if doc is None:
        raise NotFound(f"no roster import {batch!r}")
    return doc


async def batch_problems(db: Database, *, batch: str) -> list[Problem]:
    docs = await db.roster_import_problems.find({"batch": batch}).to_list(None)
    return sorted((Problem(d["row"], d["column"], d["value"], d["reason"], d.get("params") or {})
                   for d in docs), key=lambda p: p.row)


async def recent_batches(db: Database, *, limit: int = 20) -> list[Document]:
    """The latest committed imports (the collection holds one document per import)."""
    docs = await db.roster_imports.find({"state": "done"}).to_list(None)
    return sorted(docs, key=lambda d: d["at"], reverse=True)[:limit]


# ---------------------------------------------------------------- who is where


@dataclass(frozen=True)
class Entry:
    """One imported person of a unit and where their invite stands."""

    phone: str
    name: str
    role: str
    unit: str
    batch: str
    invite_id: str
    token: str
    status: str  # "pending", "expired", "bound", "unbound" (invite used, binding gone since)
    user_id: int | None
    expires_at: datetime | None
    also_role: str | None = None
    also_unit: str | None = None


async def people_of(db: Database, *, unit: str, now: datetime) -> list[Entry]:
    """Imported people of `unit` (in their main or their second role; committed imports
    only), with their invite's state."""
    found = (await db.roster_people.find({"unit": unit}).to_list(None)
             + await db.roster_people.find({"also_unit": unit}).to_list(None))
    docs = list({d["_id"]: d for d in found}.values())
    done = await _done_batches(db, {d["batch"] for d in docs})
    docs = [d for d in docs if d["batch"] in done]
    ids = [_invite_id(d["batch"], d["_id"], int(d.get("generation", 0))) for d in docs]
    invites = {i["_id"]: i for i in await _find_in(db.invites, ids)}
    key = await _invite_key(db)
    users = [i["used_by"] for i in invites.values() if i.get("used_by") is not None]
    bound = {(m["_id"], m["role"], m["unit"])
             for m in await _find_in(db.roster, users, {"role": 1, "unit": 1})}
    out = []
    for d, invite_id in zip(docs, ids, strict=True):
        inv = invites.get(invite_id) or {}
        used_by = inv.get("used_by")
        expires = inv.get("expires_at")
        # Used, but no longer bound here (unbound since, or bound elsewhere by a later invite).
        status = ("bound" if (used_by, d["role"], d["unit"]) in bound
                  else "unbound" if used_by is not None
                  else "expired" if expires is None or expires <= now else "pending")
        out.append(Entry(phone=d["phone"], name=d["name"], role=d["role"], unit=d["unit"],
                         batch=d["batch"], invite_id=invite_id, token=invite_token(key, invite_id),
                         status=status, user_id=used_by, expires_at=expires,
                         also_role=d.get("also_role"), also_unit=d.get("also_unit")))
    return sorted(out, key=lambda e: (e.role, e.name, e.phone))


async def reissue(db: Database, *, unit: str, now: datetime, by: str,
                  hours: float = INVITE_HOURS) -> int:
    """New invites for the unit's people whose invite expired unused (the old ones deleted)."""
    key = await _invite_key(db)
    count = 0
    for entry in await people_of(db, unit=unit, now=now):
        if entry.status != "expired":
            continue
        person = await db.roster_people.find_one_and_update(
            {"_id": entry.phone, "batch": entry.batch}, {"$inc": {"generation": 1}},
            return_document=True)
        if person is None:
            continue
        await insert_new(db.invites, [_invite_doc(key, person, generation=int(person["generation"]),
                                                  now=now, by=by, hours=hours)])
        await db.invites.delete_one({"_id": entry.invite_id, "used_at": None})
        count += 1
    return count


# ---------------------------------------------------------------- the error report


def report_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV with a BOM, so Excel opens the Chinese text as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def report_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append(list(header))
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def bound_in(db: Database, *, units: Sequence[str]) -> list[Document]:
    """Chat users bound to any of `units`, in their main or second role."""
    out: dict[Any, Document] = {}
    for i in range(0, len(units), LOOKUP):
        chunk = list(units[i:i + LOOKUP])
        for field_ in ("unit", "also_unit"):
            for d in await db.roster.find({field_: {"$in": chunk}}).to_list(None):
                out[d["_id"]] = d
    return list(out.values())


async def imported_in(db: Database, *, units: Sequence[str]) -> list[Document]:
    """People imported into any of `units` (committed imports), in either role."""
    out: dict[Any, Document] = {}
    for i in range(0, len(units), LOOKUP):
        chunk = list(units[i:i + LOOKUP])
        for field_ in ("unit", "also_unit"):
            for d in await db.roster_people.find({field_: {"$in": chunk}}).to_list(None):
                out[d["_id"]] = d
    done = await _done_batches(db, {d["batch"] for d in out.values()})
    return [d for d in out.values() if d["batch"] in done]


async def remove_person(db: Database, *, phone: str) -> Document:
    """Take an imported person off the roster: their unused invites stop working (a chat
    user already bound stays bound: unbind them apart)."""
    doc = await db.roster_people.find_one({"_id": phone})
    if doc is None or not await _done_batches(db, {doc["batch"]}):
        raise NotFound(f"nobody with phone {phone} was imported")
    ids = [_invite_id(doc["batch"], phone, g) for g in range(int(doc.get("generation", 0)) + 1)]
    await db.invites.delete_many({"_id": {"$in": ids}, "used_at": None})
    await db.roster_people.delete_one({"_id": phone})
    return doc
