"""Password hashing with Argon2id (argon2-cffi) at OWASP's recommended minimum (19 MiB,
2 passes, 1 lane): a desk sign-in stays well under a second on a busy two-core machine.

Verification always runs a full Argon2 computation, even for an unknown user (against a
dummy hash), so response time does not tell which usernames exist.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY = _hasher.hash("gridlink-dummy-password")


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Swap the hasher (tests use a cheap one); returns the previous one."""
    global _hasher, _DUMMY
    previous, _hasher = _hasher, hasher
    _DUMMY = hasher.hash("gridlink-dummy-password")
    return previous


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored`; with `stored=None` it burns the same time, False."""
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
