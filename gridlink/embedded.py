"""The embedded MongoDB-wire server used when MONGODB_URI is unset.

`mongod` is used when it is on PATH; otherwise FerretDB v1.24.2 (SQLite backend) is built
once with `go install` into the project's `.tools/bin` and run from there.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from gridlink.settings import PROJECT_ROOT

log = logging.getLogger(__name__)

FERRETDB_MODULE = "github.com/FerretDB/FerretDB/cmd/ferretdb@v1.24.2"
TOOLS_BIN = PROJECT_ROOT / ".tools" / "bin"


class EmbeddedServerError(RuntimeError):
    """The embedded server cannot be built or started; the message says what to do."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ferretdb_binary(build: bool = True) -> Path:
    """Path of the project-local FerretDB binary, building it first if needed."""
    binary = TOOLS_BIN / "ferretdb"
    if binary.exists():
        return binary
    if not build:
        raise EmbeddedServerError(f"FerretDB is not built yet ({binary})")
    go = shutil.which("go") or ("/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None)
    if go is None:
        raise EmbeddedServerError(
            "no database server: install MongoDB (mongod on PATH) or Go >= 1.22 "
            "(to build FerretDB), or set MONGODB_URI to an existing MongoDB"
        )
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    log.info("building FerretDB (first run only)", extra={"module": FERRETDB_MODULE})
    env = {**os.environ, "GOBIN": str(TOOLS_BIN), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    # A plain `go install …@v1.24.2` builds a binary that panics at start: the module zip lacks
    # the generated build/version/version.txt. So: fetch the module source, add that file, build.
    fetched = subprocess.run([go, "mod", "download", "-json", FERRETDB_MODULE.replace("/cmd/ferretdb", "")],
                             env=env, capture_output=True, text=True)
    if fetched.returncode != 0:
        raise EmbeddedServerError(f"downloading FerretDB failed:\n{fetched.stdout[-1000:]}{fetched.stderr[-1000:]}")
    source = TOOLS_BIN.parent / "src" / "ferretdb"
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(json.loads(fetched.stdout)["Dir"], source)
    for path in source.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    source.chmod(source.stat().st_mode | 0o200)
    (source / "build" / "version" / "version.txt").write_text(FERRETDB_MODULE.rsplit("@", 1)[1] + "\n")
    proc = subprocess.run([go, "build", "-o", str(binary), "./cmd/ferretdb"], cwd=source, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not binary.exists():
        raise EmbeddedServerError(f"building FerretDB failed:\n{proc.stderr[-2000:]}")
    return binary


class EmbeddedServer:
    """One MongoDB-wire server process on loopback, with its data in `data_dir`."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.kind = ""

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def command(self) -> list[str]:
        mongod = shutil.which("mongod")
        if mongod:
            self.kind = "mongod"
            db_path = self.data_dir / "mongod"
            db_path.mkdir(parents=True, exist_ok=True)
            return [mongod, "--dbpath", str(db_path), "--bind_ip", "127.0.0.1",
                    "--port", str(self.port), "--quiet"]
        self.kind = "ferretdb"
        db_path = self.data_dir / "ferretdb"
        db_path.mkdir(parents=True, exist_ok=True)
        return [
            str(ferretdb_binary()),
            "--handler=sqlite",
            f"--sqlite-url=file:{db_path}/",
            f"--state-dir={db_path}",
            f"--listen-addr=127.0.0.1:{self.port}",
            "--debug-addr=-",
            "--telemetry=disable",
            "--log-level=error",
        ]

    def start(self, timeout: float = 60.0) -> None:
        cmd = self.command()
        log_path = self.data_dir / f"{self.kind}.log"
        with open(log_path, "ab") as log_file:
            self.proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise EmbeddedServerError(
                    f"{self.kind} exited with code {self.proc.returncode}; see {log_path}")
            if self.ping():
                log.info("database server ready", extra={"kind": self.kind, "uri": self.uri})
                return
            time.sleep(0.1)
        self.stop()
        raise EmbeddedServerError(f"{self.kind} did not answer within {timeout:.0f}s; see {log_path}")

    def ping(self) -> bool:
        client: MongoClient[dict[str, object]] = MongoClient(self.uri, serverSelectionTimeoutMS=300)
        try:
            client.admin.command("ping")
            return True
        except PyMongoError:
            return False
        finally:
            client.close()

    def stop(self, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
