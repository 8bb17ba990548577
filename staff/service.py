"""Staff accounts: creation, sign-in with lockout, desk sessions with a CSRF token each.

Passwords are hashed off the event loop and never logged. A session cookie carries a random
id; the database holds only its SHA-256, so a leaked `desk_sessions` collection signs no one in.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from gridlink.db import Database
from grids import repository as grids_repo
from grids.errors import UnitNotFound
from staff import passwords
from staff import repository as repo
from staff.errors import AccountDisabled, AccountLocked, BadAccount, BadCredentials, SessionExpired
from staff.model import ROLES, UNIT_LEVELS, Account, Session, SignInPolicy

log = logging.getLogger(__name__)
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def normalize_username(username: str) -> str:
    return username.strip().lower()


def hash_session_id(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_account(db: Database, *, username: str, password: str, role: str, unit: str,
                         name: str, district: str, now: datetime,
                         locale: str | None = None) -> Account:
    """A new account; the unit must exist in the active grid at a level fitting the role
    (an admin's unit is the district, accepted before any grid is loaded)."""
    user = normalize_username(username)
    if not USERNAME_RE.match(user):
        raise BadAccount("username: 2–40 of a-z, 0-9, '.', '_', '-'", field="username")
    if role not in ROLES:
        raise BadAccount(f"role must be one of {', '.join(ROLES)}", field="role")
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        raise BadAccount(f"the password needs {passwords.MIN_LENGTH}–{passwords.MAX_LENGTH} "
                         "characters", field="password")
    if locale not in (None, "zh-CN", "en"):
        raise BadAccount("locale must be zh-CN or en", field="locale")
    if role == "admin" and unit == district:
        pass
    else:
        try:
            found = await grids_repo.get_unit(db, code=unit, geometry=False)
        except UnitNotFound:
            raise BadAccount(f"no unit {unit!r} in the active grid", field="unit") from None
        if found["level"] not in UNIT_LEVELS[role]:
            raise BadAccount(f"a {role} belongs to a {' or '.join(UNIT_LEVELS[role])}, but {unit} "
                             f"is a {found['level']}", field="unit")
    hashed = await asyncio.to_thread(passwords.hash_password, password)
    doc = {"_id": secrets.token_hex(12), "username": user, "role": role, "unit": unit,
           "name": name.strip() or user, "locale": locale, "password_hash": hashed,
           "disabled": False, "created_at": now}
    await repo.insert_account(db, doc=doc)
    log.info("staff account created", extra={"username": user, "role": role, "unit": unit})
    return Account.from_doc(doc)


def _round_key(user: str, lock: dict[str, Any] | None, now: datetime, policy: SignInPolicy) -> str:
    """The attempt round `now` falls in: rounds of one lockout period each, counted from the
    last success or the end of the last lock, so concurrent callers agree without a write."""
    start = _EPOCH
    if lock:
        for key in ("reset_at", "until"):
            value = lock.get(key)
            if value is not None and start < value <= now:
                start = value
    k = int((now - start) / policy.lockout)
    return f"{user}|{start.timestamp():.6f}|{k}"


async def sign_in(db: Database, *, username: str, password: str, now: datetime,
                  policy: SignInPolicy) -> Session:
    """Check the password and open a session. Every attempt first takes a numbered claim in
    the current round (one atomic insert): past `max_failures` claims the username is locked
    for `lockout` and the password is not even checked, so a parallel burst gets exactly
    `max_failures` guesses. A right password that finishes while its burst overflowed the
    round is refused too: the lock engaged before it could count."""
    user = normalize_username(username)[:80]
    lock = await repo.lockout(db, username=user)
    if lock and lock.get("until") is not None and now < lock["until"]:
        log.warning("sign-in refused: locked", extra={"username": user})
        raise AccountLocked("too many failed attempts; try again later", until=lock["until"].isoformat())
    round_key = _round_key(user, lock, now, policy)
    n = await repo.claim_attempt(db, round_key=round_key, at=now, limit=policy.max_failures)
    if n >= policy.max_failures:
        until = await _lock(db, user, now, policy)
        log.warning("sign-in refused: locked", extra={"username": user})
        raise AccountLocked("too many failed attempts; try again later", until=until.isoformat())
    doc = await repo.account_by_username(db, username=user)
    ok = await asyncio.to_thread(passwords.verify_password,
                                 doc["password_hash"] if doc else None, password)
    if not ok:
        if n + 1 >= policy.max_failures:
            await _lock(db, user, now, policy)
            log.warning("staff username locked", extra={"username": user, "failures": n + 1})
        else:
            log.info("sign-in failed", extra={"username": user, "failures": n + 1})
        raise BadCredentials("wrong username or password")
    assert doc is not None
    if await repo.count_attempts(db, round_key=round_key) > policy.max_failures:
        until = await _lock(db, user, now, policy)
        log.warning("sign-in refused: locked during the check", extra={"username": user})
        raise AccountLocked("too many failed attempts; try again later", until=until.isoformat())
    if doc.get("disabled"):
        raise AccountDisabled("this account is disabled")
    # A success starts a new round (the failures before it no longer count).
    await repo.set_lockout(db, username=user, until=None, reset_at=now)
    if passwords.needs_rehash(doc["password_hash"]):
        new_hash = await asyncio.to_thread(passwords.hash_password, password)
        await repo.set_account(db, staff_id=doc["_id"], fields={"password_hash": new_hash})
    await repo.sweep_sessions(db, now=now)
    await repo.sweep_attempts(db, before=now - 2 * policy.lockout)
    raw, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await repo.insert_session(db, doc={"_id": hash_session_id(raw), "staff_id": doc["_id"],
                                       "csrf": csrf, "created_at": now,
                                       "expires_at": now + policy.session})
    log.info("signed in", extra={"username": user, "role": doc["role"]})
    return Session(raw_id=raw, csrf=csrf, account=Account.from_doc(doc))


async def _lock(db: Database, user: str, now: datetime, policy: SignInPolicy) -> datetime:
    """Lock the username for one lockout period from now, unless a lock already runs."""
    lock = await repo.lockout(db, username=user)
    if lock and lock.get("until") is not None and lock["until"] > now:
        until: datetime = lock["until"]
        return until
    until = now + policy.lockout
    await repo.set_lockout(db, username=user, until=until)
    return until


async def resume(db: Database, *, raw_id: str, now: datetime) -> Session:
    """The session behind a cookie value; SessionExpired when it is unknown, expired or its
    account is gone or disabled."""
    hashed = hash_session_id(raw_id)
    doc = await repo.session_by_hash(db, hashed=hashed)
    if doc is None:
        raise SessionExpired("please sign in")
    if doc["expires_at"] <= now:
        await repo.delete_session(db, hashed=hashed)
        raise SessionExpired("your session has expired; please sign in again")
    account = await repo.account_by_id(db, staff_id=doc["staff_id"])
    if account is None or account.get("disabled"):
        await repo.delete_session(db, hashed=hashed)
        raise SessionExpired("please sign in")
    return Session(raw_id=raw_id, csrf=doc["csrf"], account=Account.from_doc(account))


async def sign_out(db: Database, *, raw_id: str) -> None:
    await repo.delete_session(db, hashed=hash_session_id(raw_id))
