"""Which cases carry a photo (`photo_carriers`, issue 22): found by the photo as an indexed
string, marked before a case takes the photo, backfilled once for cases stored before."""

from __future__ import annotations

from cases import repository as repo
from cases.repository import CARRIERS_MIGRATION
from gridlink.db import Database
from gridlink.schema import ensure_indexes


async def test_cases_stored_before_the_marks_are_found_after_the_backfill(db: Database) -> None:
    await db.cases.insert_many([
        {"_id": "OLD1", "photo_ids": ["p1", "p2"]},
        {"_id": "OLD2", "photo_ids": ["p2"]},
        {"_id": "OLD3", "photo_ids": []},
    ])
    assert await repo.cases_with_photos(db, photo_ids=["p2"]) == []  # not marked yet
    await db.counters.delete_one({"_id": CARRIERS_MIGRATION})  # a database from before
    await ensure_indexes(db)
    assert sorted(c["_id"] for c in await repo.cases_with_photos(db, photo_ids=["p2"])) == \
        ["OLD1", "OLD2"]
    assert [c["_id"] for c in await repo.cases_with_photos(db, photo_ids=["p1", "p9"])] == ["OLD1"]
    await ensure_indexes(db)  # once: marks are not written twice, nothing fails
    assert await db.photo_carriers.count_documents({"photo": "p2"}) == 2


async def test_a_mark_counts_only_while_its_case_carries_the_photo(db: Database) -> None:
    # marked by an intake that was then refused (no case), and by a case that has it
    await repo.mark_carriers(db, photo_ids=["p1"], case_id="NEVER")
    await repo.mark_carriers(db, photo_ids=["p1", "p1"], case_id="C1")
    await repo.mark_carriers(db, photo_ids=["p1"], case_id="C1")  # again: idempotent
    await db.cases.insert_many([{"_id": "C1", "photo_ids": ["p1"]},
                                {"_id": "C2", "photo_ids": ["p3"]}])
    await repo.mark_carriers(db, photo_ids=["p1"], case_id="C2")  # marked, never took it
    assert [c["_id"] for c in await repo.cases_with_photos(db, photo_ids=["p1"])] == ["C1"]
    assert await repo.cases_with_photos(db, photo_ids=[]) == []
