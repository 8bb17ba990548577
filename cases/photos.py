"""Photos a case takes on: they must have been uploaded, and may not be another case's
unless this principal may see them there (a handler cannot publish a case's private photo)."""

from __future__ import annotations

from collections.abc import Sequence

from cases import repository as repo
from cases.errors import BadCaseInput
from cases.model import Actor
from cases.visibility import case_photos, photo_visible
from gridlink.db import Database
from media import repository as media_repo


async def take(db: Database, *, photos: Sequence[str], actor: Actor,
               case_id: str | None = None) -> list[str]:
    """Check the photos and return their perceptual hashes (in order; unhashed ones skipped)."""
    if not photos:
        return []
    found = await media_repo.phashes(db, photo_ids=photos)
    if missing := [p for p in photos if p not in found]:
        raise BadCaseInput(f"no uploaded photo {missing[0]!r}; upload photos first",
                           field="photos", photo_id=missing[0])
    others = [c for c in await repo.cases_with_photos(db, photo_ids=photos) if c["_id"] != case_id]
    for photo in photos:
        carriers = [c for c in others if photo in case_photos(c)]
        if carriers and not photo_visible(actor, carriers, photo):
            raise BadCaseInput(f"photo {photo!r} belongs to another case", field="photos",
                               photo_id=photo)
    return [found[p] for p in photos if found[p]]
