"""Staff roles and the grid levels each role's unit must have."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

Role = Literal["admin", "dispatcher", "department", "leader", "station_head"]
ROLES: tuple[Role, ...] = ("dispatcher", "department", "leader", "station_head", "admin")

# A desk account's unit, by role (grids' levels; an admin belongs to the district).
UNIT_LEVELS: dict[str, tuple[str, ...]] = {
    "admin": ("district",),
    "dispatcher": ("street", "district"),
    "department": ("department",),
    "leader": ("community_block", "street_block"),
    # 工作站站长: a workstation (its community blocks) or a patrol zone (its street blocks),
    # as in the roster (grids.repository.ROLES); read-only over the station's blocks.
    "station_head": ("workstation", "patrol_zone"),
}


@dataclass(frozen=True)
class Account:
    """A signed-in staff member as the desk sees them (never the password hash)."""

    id: str
    username: str
    role: Role
    unit: str
    name: str
    locale: str | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Account:
        return cls(id=doc["_id"], username=doc["username"], role=doc["role"], unit=doc["unit"],
                   name=doc.get("name") or doc["username"], locale=doc.get("locale"))


@dataclass(frozen=True)
class SignInPolicy:
    """Lockout and session lengths, from settings (DESK_* variables)."""

    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session: timedelta = timedelta(hours=12)

    @classmethod
    def from_settings(cls, settings: Any) -> SignInPolicy:
        return cls(max_failures=settings.desk_lockout_attempts,
                   lockout=timedelta(minutes=settings.desk_lockout_minutes),
                   session=timedelta(hours=settings.desk_session_hours))


@dataclass(frozen=True)
class Session:
    """A desk session: the raw id goes to the cookie once; only its hash is stored."""

    raw_id: str
    csrf: str
    account: Account
