"""`gridlink backup DIR` / `gridlink restore DIR` (docs/OPERATIONS.md "Backup and restore").

The embedded server (FerretDB on SQLite) keeps each database in one SQLite file under
`DATA_DIR/db/ferretdb/`, photos included (GridFS). A backup copies each file with SQLite's
online backup API (`sqlite3.Connection.backup`): a consistent snapshot of the file while the
server runs and writes, no stop needed. A restore copies the files into a data directory no
server is running on, then starts a private server on it and rebuilds what is derived: the
statistics (`stats.rollups.rebuild`) and the events of history entries that have none
(`cases.lifecycle.reemit_missing_events`). With MONGODB_URI set, mongodump/mongorestore do
the copy (run here when on PATH) and the same rebuild follows the restore.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridlink.db import Database
from gridlink.settings import Settings

MANIFEST = "manifest.json"
FORMAT = 1
ARCHIVE = "mongodump.archive.gz"


# What a restore runs on the restored database (the command line passes it: gridlink imports
# no domain package); returns counts for the report.
AfterRestore = Callable[[Database], Awaitable[dict[str, int]]]


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says what to do instead."""


def ferretdb_dir(settings: Settings) -> Path:
    return settings.data_dir / "db" / "ferretdb"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _collections(path: Path) -> dict[str, int]:
    """Documents per collection of a FerretDB SQLite file (its own catalogue table)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT name, table_name FROM _ferretdb_collections").fetchall()
        return {name: int(con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])
                for name, table in sorted(rows)}
    finally:
        con.close()


def _empty_dir(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise BackupError(f"{path} is not empty: back up into a new or empty directory")
    path.mkdir(parents=True, exist_ok=True)


def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Copy every database of the embedded server (or mongodump MONGODB_URI) into `dest`."""
    dest = Path(dest)
    if settings.mongodb_uri:
        return _mongodump(settings, dest)
    source = ferretdb_dir(settings)
    if (settings.data_dir / "db" / "mongod").exists() and not source.exists():
        raise BackupError("the embedded server here is mongod: use mongodump/mongorestore "
                          "(docs/OPERATIONS.md), or stop gridlink and copy DATA_DIR/db/mongod")
    files = sorted(source.glob("*.sqlite")) if source.exists() else []
    if not files:
        raise BackupError(f"no database files in {source}: is DATA_DIR right?")
    _empty_dir(dest)
    manifest: dict[str, Any] = {"format": FORMAT, "kind": "ferretdb-sqlite",
                                "created_at": datetime.now(UTC).isoformat(), "databases": {}}
    for path in files:
        target = dest / path.name
        started = time.monotonic()
        src = sqlite3.connect(path, timeout=30)
        dst = sqlite3.connect(target)
        try:
            # All pages in one step, inside one read transaction: in WAL mode (FerretDB's) the
            # server keeps writing meanwhile, and the copy is the file as of one moment. (In
            # steps, SQLite restarts the copy whenever the server writes: it may never end.)
            src.backup(dst, pages=-1)
        finally:
            dst.close()
            src.close()
        manifest["databases"][path.stem] = {
            "file": path.name, "bytes": target.stat().st_size, "sha256": _sha256(target),
            "collections": _collections(target), "seconds": round(time.monotonic() - started, 3)}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _server_running(settings: Settings) -> bool:
    from gridlink.embedded import EmbeddedServer

    state = settings.data_dir / "db" / "server.json"
    try:
        port = int(json.loads(state.read_text())["port"])
    except (OSError, ValueError, KeyError):
        return False
    return EmbeddedServer(settings.data_dir / "db", port=port).ping()


def restore(settings: Settings, source: Path, *, after: AfterRestore, replace: bool = False
            ) -> dict[str, Any]:
    """Put a backup in place (embedded: into DATA_DIR, the server stopped), then run `after` on
    the restored database: what is derived from the cases is rebuilt there (gridlink/cli.py:
    the statistics, missing events). Returns what was restored and rebuilt."""
    source = Path(source)
    if settings.mongodb_uri:
        _mongorestore(settings, source)
        return {"kind": "mongodump", "rebuilt": asyncio.run(_rebuild(settings, settings.mongodb_uri, after))}
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{source} is not a gridlink backup ({MANIFEST}: {exc})") from None
    if manifest.get("format") != FORMAT or manifest.get("kind") != "ferretdb-sqlite":
        raise BackupError(f"{source}: unknown backup format {manifest.get('format')!r}")
    entry = manifest["databases"].get(settings.mongodb_db)
    if entry is None:
        raise BackupError(f"{source} has no database {settings.mongodb_db!r} (MONGODB_DB); it has "
                          + ", ".join(sorted(manifest["databases"])))
    if _server_running(settings):
        raise BackupError("the embedded database server is running on this DATA_DIR: stop gridlink "
                          "(web, worker, db) first, then restore")
    target = ferretdb_dir(settings)
    existing = sorted(target.glob("*.sqlite*")) if target.exists() else []
    if existing and not replace:
        raise BackupError(f"{target} already holds databases: restore into a fresh DATA_DIR, or "
                          "pass --replace to move them aside")
    if existing:
        aside = target.with_name(f"ferretdb.before-restore-{int(time.time())}")
        target.rename(aside)
    target.mkdir(parents=True, exist_ok=True)
    for name, db_entry in sorted(manifest["databases"].items()):
        src = source / db_entry["file"]
        if _sha256(src) != db_entry["sha256"]:
            raise BackupError(f"{src} does not match its checksum in {MANIFEST}: the backup is damaged")
        shutil.copyfile(src, target / db_entry["file"])
        if name == settings.mongodb_db and _collections(target / db_entry["file"]) != db_entry["collections"]:
            raise BackupError(f"{db_entry['file']}: restored counts differ from the backup's")
    rebuilt = asyncio.run(_rebuild_embedded(settings, after))
    return {"kind": "ferretdb-sqlite", "databases": sorted(manifest["databases"]),
            "collections": entry["collections"], "rebuilt": rebuilt}


async def _rebuild_embedded(settings: Settings, after: AfterRestore) -> dict[str, int]:
    """A private server on the restored files (a free port: never a shared one)."""
    from gridlink.embedded import EmbeddedServer

    server = EmbeddedServer(settings.data_dir / "db")
    await asyncio.to_thread(server.start)
    try:
        return await _rebuild(settings, server.uri, after)
    finally:
        await asyncio.to_thread(server.stop)


async def _rebuild(settings: Settings, uri: str, after: AfterRestore) -> dict[str, int]:
    from gridlink.schema import open_database

    async with open_database(uri, settings) as db:
        return await after(db)


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise BackupError(f"MONGODB_URI is set: {tool} (MongoDB Database Tools) is needed on PATH; "
                          "docs/OPERATIONS.md shows the commands")
    return found


def _mongodump(settings: Settings, dest: Path) -> dict[str, Any]:
    tool = _need("mongodump")
    _empty_dir(dest)
    subprocess.run([tool, f"--uri={settings.mongodb_uri}", f"--db={settings.mongodb_db}",
                    f"--archive={dest / ARCHIVE}", "--gzip"], check=True)
    manifest = {"format": FORMAT, "kind": "mongodump", "created_at": datetime.now(UTC).isoformat(),
                "db": settings.mongodb_db, "archive": ARCHIVE}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _mongorestore(settings: Settings, source: Path) -> None:
    tool = _need("mongorestore")
    archive = source / ARCHIVE
    if not archive.exists():
        raise BackupError(f"{archive} is missing: not a mongodump backup made by gridlink backup")
    subprocess.run([tool, f"--uri={settings.mongodb_uri}", f"--archive={archive}", "--gzip",
                    "--drop"], check=True)
