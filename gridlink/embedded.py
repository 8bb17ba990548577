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
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
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


# Patch level of the project's FerretDB build; bump it when FERRETDB_PATCHES change so an
# existing binary is rebuilt.
FERRETDB_PATCH_LEVEL = "gridlink-5"

# Upstream v1.24's SQLite backend looks `_id` up as `sjson->'$._id'` while its unique index is on
# `sjson->"_id"`, so SQLite never uses the index; and it pushes a filter down only when it is
# exactly `{_id: value}`: every update, delete and lookup scanned the whole table (FerretDB
# issue 3235). The patch makes the expressions match and pushes each top-level equality on a
# string, ObjectId, number or boolean (or `$in` of such values) down as SQL on the same
# expression the field's index uses
# (`sjson->'field'`), so indexed fields are looked up by index. Array values are kept for
# FerretDB to judge (equality matches an array element), and FerretDB still applies the full
# filter to every row it reads, so results are unchanged; only fewer rows are read.
_ID_PUSHDOWN_GO = """// Added by gridlink (see gridlink/embedded.py).

package sqlite

import (
\t"encoding/json"
\t"fmt"
\t"math"
\t"regexp"
\t"strconv"
\t"strings"

\t"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"
\t"github.com/FerretDB/FerretDB/internal/handler/sjson"
\t"github.com/FerretDB/FerretDB/internal/types"
\t"github.com/FerretDB/FerretDB/internal/util/must"
)

var pushdownKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// pushdownValue returns every JSON text that sjson->'field' may yield for a stored value equal
// to v (a superset is fine: FerretDB filters the rows again), when v's type allows it.
func pushdownValue(v any) ([]string, bool) {
\tswitch v := v.(type) {
\tcase string, types.ObjectID:
\t\treturn []string{string(must.NotFail(sjson.MarshalSingleValue(v)))}, true
\tcase bool:
\t\treturn []string{strconv.FormatBool(v)}, true
\tcase int32:
\t\treturn pushdownNumber(float64(v))
\tcase int64:
\t\tif v > 1<<53 || v < -(1<<53) {
\t\t\treturn nil, false
\t\t}
\t\treturn pushdownNumber(float64(v))
\tcase float64:
\t\treturn pushdownNumber(v)
\t}
\treturn nil, false
}

// pushdownNumber: ints and doubles are stored as Go's encoding/json renders them, which is the
// same text for equal values (5 and 5.0 are both "5"), except zero, which a double may hold as -0.
func pushdownNumber(f float64) ([]string, bool) {
\tif math.IsNaN(f) || math.IsInf(f, 0) {
\t\treturn nil, false
\t}
\tif f == 0 {
\t\treturn []string{"0", "-0"}, true
\t}
\tb, err := json.Marshal(f)
\tif err != nil {
\t\treturn nil, false
\t}
\treturn []string{string(b)}, true
}

// idPushdown returns a WHERE clause that narrows the rows by the filter's top-level scalar
// equalities and $in lists; FerretDB applies the whole filter to those rows afterwards.
func idPushdown(filter *types.Document) (string, []any) {
\tif filter.Len() == 0 {
\t\treturn "", nil
\t}
\tif _, dup := filter.FindDuplicateKey(); dup {
\t\treturn "", nil
\t}
\tvar conds []string
\tvar args []any
\tfor _, k := range filter.Keys() {
\t\tif !pushdownKey.MatchString(k) {
\t\t\tcontinue
\t\t}
\t\tv := must.NotFail(filter.Get(k))
\t\tvar values []string
\t\tif texts, ok := pushdownValue(v); ok {
\t\t\tvalues = texts
\t\t} else if d, ok := v.(*types.Document); ok && d.Len() == 1 && d.Has("$in") {
\t\t\tarr, ok := must.NotFail(d.Get("$in")).(*types.Array)
\t\t\tif !ok || arr.Len() == 0 || arr.Len() > 500 {
\t\t\t\tcontinue
\t\t\t}
\t\t\tfor i := 0; i < arr.Len(); i++ {
\t\t\t\ttexts, ok := pushdownValue(must.NotFail(arr.Get(i)))
\t\t\t\tif !ok {
\t\t\t\t\tvalues = nil
\t\t\t\t\tbreak
\t\t\t\t}
\t\t\t\tvalues = append(values, texts...)
\t\t\t}
\t\t}
\t\tif len(values) == 0 {
\t\t\tcontinue
\t\t}
\t\tcol := fmt.Sprintf(`%s->'%s'`, metadata.DefaultColumn, k)
\t\tcond := col + " = ?"
\t\tif len(values) > 1 {
\t\t\tcond = fmt.Sprintf(`%s IN (%s)`, col, strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", "))
\t\t}
\t\tfor _, s := range values {
\t\t\targs = append(args, s)
\t\t}
\t\tif k != "_id" {
\t\t\t// An array matches when one of its elements does: keep every array row (its JSON
\t\t\t// text starts with '[') for FerretDB's own filter to judge.
\t\t\tcond = fmt.Sprintf(`(%s OR (%s >= '[' AND %s < '\\'))`, cond, col, col)
\t\t}
\t\tconds = append(conds, cond)
\t}
\tif len(conds) == 0 {
\t\treturn "", nil
\t}
\treturn " WHERE " + strings.Join(conds, " AND "), args
}
"""

_QUERY_PUSHDOWN_OLD = """\tif params.Filter.Len() == 1 {
\t\tv, _ := params.Filter.Get("_id")
\t\tswitch v.(type) {
\t\tcase string, types.ObjectID:
\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
\t\t}
\t}
"""
_EXPLAIN_PUSHDOWN_OLD = """\tif params.Filter.Len() == 1 {
\t\tv, _ := params.Filter.Get("_id")
\t\tswitch v.(type) {
\t\tcase string, types.ObjectID:
\t\t\tfilterPushdown = true
\t\t\twhereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
\t\t\targs = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
\t\t}
\t}
"""

# SQLite lets one write transaction run at a time per database file; upstream v1.24 opens up to
# 100 connections and leaves the waiting to SQLite's busy handler, which sleeps and retries
# (1, 2, 5 … 100 ms) rather than queueing, so under several kinds of concurrent writer some
# inserts and updates lose round after round (requests stalled ~250 ms in bench/load.py). The
# patch queues each database's write transactions (insert, update) on a Go mutex instead:
# the same one-at-a-time writes, taken in turn.
_WRITE_QUEUE = [
    ("internal/util/fsql/db.go", '\t"log/slog"\n\t"time"\n', '\t"log/slog"\n\t"sync"\n\t"time"\n'),
    ("internal/util/fsql/db.go", "\tBatchSize int\n}",
     "\tBatchSize int\n\n\twriteMu sync.Mutex // gridlink: write transactions in turn\n}"),
    ("internal/util/fsql/db.go", "\tvar sqlTx *sql.Tx\n\n\tif sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {",
     "\tvar sqlTx *sql.Tx\n\n\tdb.writeMu.Lock()\n\tdefer db.writeMu.Unlock()\n\n"
     "\tif sqlTx, err = db.sqlDB.BeginTx(ctx, nil); err != nil {"),
]

# An update, findAndModify or remove reads its matches through a query that holds one of the
# database's 100 pooled SQLite connections while it iterates, and writes each match inside the
# iteration: under the write queue above, 100 such commands at once each held a connection
# waiting for the queue while the writer at its head waited for a connection — every write to
# that database stopped for good (seen loading a million cases, whose key counters are 300+
# concurrent upserts). The patch reads the matches first and closes the query (its
# connection) before the first write.
_READ_THEN_WRITE = [
    ("internal/handler/common/update.go",
     "\tisFindAndModify := (strings.ToLower(cmd) == \"findandmodify\")\n\n\tfor {\n"
     "\t\tvar upsert, modified bool\n\n\t\t_, doc, err := iter.Next()\n\t\tif err != nil {\n",
     "\tisFindAndModify := (strings.ToLower(cmd) == \"findandmodify\")\n\n"
     "\t// gridlink: the matches first, then the query's connection back (see gridlink/embedded.py)\n"
     "\tvar matches []*types.Document\n"
     "\tfor {\n\t\t_, m, nextErr := iter.Next()\n\t\tif nextErr != nil {\n"
     "\t\t\tif !errors.Is(nextErr, iterator.ErrIteratorDone) {\n\t\t\t\titer.Close()\n"
     "\t\t\t\treturn nil, lazyerrors.Error(nextErr)\n\t\t\t}\n\t\t\tbreak\n\t\t}\n"
     "\t\tmatches = append(matches, m)\n\t}\n\titer.Close()\n\n"
     "\tfor {\n\t\tvar upsert, modified bool\n\n"
     "\t\tvar doc *types.Document\n\t\terr := iterator.ErrIteratorDone\n"
     "\t\tif len(matches) > 0 {\n\t\t\tdoc, matches, err = matches[0], matches[1:], nil\n\t\t}\n"
     "\t\tif err != nil {\n"),
    ("internal/handler/msg_findandmodify.go",
     "\t\t_, doc, err = iter.Next()\n\t\tif err != nil && !errors.Is(err, iterator.ErrIteratorDone) {\n",
     "\t\t_, doc, err = iter.Next()\n\t\titer.Close() // gridlink: the query's connection back before the write\n"
     "\t\tif err != nil && !errors.Is(err, iterator.ErrIteratorDone) {\n"),
]

# (file, upstream text, replacement); applying fails loudly if upstream text is missing.
FERRETDB_PATCHES: list[tuple[str, str, str]] = [*_WRITE_QUEUE, *_READ_THEN_WRITE,
    ("internal/backends/sqlite/metadata/metadata.go",
     'IDColumn = DefaultColumn + "->\'$._id\'"', 'IDColumn = DefaultColumn + "->\'_id\'"'),
    ("internal/backends/sqlite/collection.go", _QUERY_PUSHDOWN_OLD,
     "\twhereClause, args = idPushdown(params.Filter)\n"),
    ("internal/backends/sqlite/collection.go", _EXPLAIN_PUSHDOWN_OLD,
     "\twhereClause, args = idPushdown(params.Filter)\n\tfilterPushdown = whereClause != \"\"\n"),
]


def patch_ferretdb(source: Path) -> None:
    """Apply FERRETDB_PATCHES to an unpacked FerretDB source tree."""
    for rel, old, new in FERRETDB_PATCHES:
        path = source / rel
        text = path.read_text()
        if old not in text:
            raise EmbeddedServerError(f"FerretDB patch does not apply to {rel}")
        path.write_text(text.replace(old, new, 1))
    (source / "internal/backends/sqlite/id_pushdown_gridlink.go").write_text(_ID_PUSHDOWN_GO)


def ferretdb_binary(build: bool = True) -> Path:
    """Path of the project-local FerretDB binary, building (and patching) it first if needed."""
    binary = TOOLS_BIN / "ferretdb"
    stamp = TOOLS_BIN / "ferretdb.patch-level"
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == FERRETDB_PATCH_LEVEL:
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
    log.info("building FerretDB (first run only)", extra={"go_module": FERRETDB_MODULE})
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
    patch_ferretdb(source)
    built = binary.with_suffix(".new")
    proc = subprocess.run([go, "build", "-o", str(built), "./cmd/ferretdb"], cwd=source, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0 or not built.exists():
        raise EmbeddedServerError(f"building FerretDB failed:\n{proc.stderr[-2000:]}")
    built.replace(binary)
    stamp.write_text(FERRETDB_PATCH_LEVEL + "\n")
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


@contextmanager
def temporary_server() -> Iterator[str]:
    """A throwaway embedded server (benchmarks, one-off scripts); yields its URI."""
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp))
        server.start()
        try:
            yield server.uri
        finally:
            server.stop()
