"""Photos a case takes on: they must have been uploaded, and may not be another case's
unless this principal may see them there (a handler cannot publish a case's private photo)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from cases import repository as repo
from cases.errors import BadCaseInput
from cases.model import Actor
from cases.visibility import case_photos, photo_visible
from gridlink.db import Database
from media import repository as media_repo


async def take(db: Database, *, photos: Sequence[str], actor: Actor,
               case_id: str | None = None) -> list[str]:
    """Check the photos and return their perceptual hashes (in order; unhashed ones skipped).

    With `case_id` (the case about to carry them, new or not), the photos are marked as that
    case's before it is written (`repository.mark_carriers`): without it, nothing is stored."""
    if not photos:
        return []
    # Index lookups and the marks, all by the photo ids: one round trip of waiting, not three.
    # (A mark left by a refused request is ignored: its case never carries the photo.)
    marking = (repo.mark_carriers(db, photo_ids=photos, case_id=case_id)
               if case_id is not None else asyncio.sleep(0))
    found, carriers, _ = await asyncio.gather(media_repo.phashes(db, photo_ids=photos),
                                              repo.cases_with_photos(db, photo_ids=photos),
                                              marking)
    if missing := [p for p in photos if p not in found]:
        raise BadCaseInput(f"no uploaded photo {missing[0]!r}; upload photos first",
                           field="photos", photo_id=missing[0])
    others = [c for c in carriers if c["_id"] != case_id]
    for photo in photos:
        holders = [c for c in others if photo in case_photos(c)]
        if holders and not photo_visible(actor, holders, photo):
            raise BadCaseInput(f"photo {photo!r} belongs to another case", field="photos",
                               photo_id=photo)
    return [found[p] for p in photos if found[p]]
