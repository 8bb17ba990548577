"""Where the database is: MONGODB_URI, or the embedded server (shared by this machine's
processes); and what a long-running process does once it has started."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import Iterator

from gridlink.embedded import EmbeddedServer
from gridlink.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_PORT = 27117


def _state_file(settings: Settings) -> str:
    return str(settings.data_dir / "db" / "server.json")


@contextlib.contextmanager
def database_uri(settings: Settings) -> Iterator[str]:
    """Yield a MongoDB URI: the configured one, a running embedded server, or one started here."""
    if settings.mongodb_uri:
        yield settings.mongodb_uri
        return
    data_dir = settings.data_dir / "db"
    data_dir.mkdir(parents=True, exist_ok=True)
    state = _state_file(settings)
    with contextlib.suppress(OSError, ValueError, KeyError):
        with open(state) as fh:
            port = int(json.load(fh)["port"])
        existing = EmbeddedServer(data_dir, port=port)
        if existing.ping():
            yield existing.uri
            return
    server = EmbeddedServer(data_dir, port=EMBEDDED_PORT)
    server.start()
    with open(state, "w") as fh:
        json.dump({"port": server.port, "kind": server.kind}, fh)
    try:
        yield server.uri
    finally:
        server.stop()
        with contextlib.suppress(OSError):
            (settings.data_dir / "db" / "server.json").unlink()


def freeze_heap() -> None:
    """Take what is alive after start-up out of the garbage collector's walks (`gc.freeze`).

    A web process holds ~180,000 long-lived objects (modules, the grid, the bot); each full
    collection walked them all (~90 ms measured), stalling every request in flight — a tail
    bench/load.py showed. Frozen, a full collection walks only what was allocated since (~2 ms).
    For long-running processes only: a test process that froze each app it starts would keep
    every one of them for good."""
    gc.collect()
    gc.freeze()
