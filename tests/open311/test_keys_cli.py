"""`gridlink open311-key`: a key printed once and stored hashed, listed, revoked."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from gridlink.cli import build_parser
from gridlink.db import Database
from gridlink.settings import Settings
from open311 import repository as repo
from open311.errors import ApiKeyInvalid


def _run(settings: Settings, *argv: str) -> int:
    from open311.cli import cmd_open311_key

    args: argparse.Namespace = build_parser().parse_args(["open311-key", *argv])
    return cmd_open311_key(args, settings)


async def test_create_list_and_revoke_a_key(settings: Settings, db: Database,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert await asyncio.to_thread(_run, settings, "--name", "Shanghai 12345 app") == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("o311_")
    client = await repo.authenticate(db, key=key)
    assert client.name == "Shanghai 12345 app"
    stored = await db.open311_keys.find_one({"_id": client.key_id})
    assert stored is not None and key not in str(stored)  # only the hash is kept

    assert await asyncio.to_thread(_run, settings, "--list") == 0
    listed = capsys.readouterr().out
    assert f"{client.key_id}\tactive\tShanghai 12345 app" in listed

    assert await asyncio.to_thread(_run, settings, "--revoke", client.key_id) == 0
    with pytest.raises(ApiKeyInvalid):
        await repo.authenticate(db, key=key)
    assert await asyncio.to_thread(_run, settings, "--revoke", client.key_id) == 1
