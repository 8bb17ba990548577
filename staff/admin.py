"""Administration of desk accounts and API credentials: the desk's admin pages call these.

Disabling an account ends its sessions at once (resume also refuses a disabled account).
Revoking a staff API token deletes it; a process that used it in the last few seconds may
accept it until its cache entry lapses (gridlink.auth.TOKEN_TTL_S).
"""

from __future__ import annotations

from gridlink.db import Database, Document
from gridlink.errors import NotFound
from staff import repository as repo


async def set_disabled(db: Database, *, staff_id: str, disabled: bool) -> Document:
    doc = await repo.account_by_id(db, staff_id=staff_id)
    if doc is None:
        raise NotFound(f"no staff account {staff_id!r}")
    await repo.set_account(db, staff_id=staff_id, fields={"disabled": disabled})
    if disabled:
        await db.desk_sessions.delete_many({"staff_id": staff_id})
    return {**doc, "disabled": disabled}


async def list_tokens(db: Database) -> list[Document]:
    """Every staff API token without its hash, oldest first (a district holds a handful)."""
    docs = await db.api_tokens.find({}, {"hash": 0}).to_list(None)
    return sorted(docs, key=lambda d: (d.get("created_at") is None, d.get("created_at"), d["_id"]))


async def revoke_token(db: Database, *, token_id: str) -> Document:
    doc = await db.api_tokens.find_one({"_id": token_id}, {"hash": 0})
    if doc is None:
        raise NotFound(f"no API token {token_id!r}")
    await db.api_tokens.delete_one({"_id": token_id})
    return doc

