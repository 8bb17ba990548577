"""The `gridlink` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from aiohttp import web

from gridlink.logs import setup_logging
from gridlink.settings import Settings, SettingsError, load_settings
from stats import cli as stats_cli

log = logging.getLogger("gridlink")

Command = Callable[[argparse.Namespace, Settings], int]


def _run_until_interrupted(settings: Settings,
                           service: Callable[..., Coroutine[Any, Any, None]]) -> int:
    """Run a long-lived async service (`service(settings, mongo_uri=…)`) until Ctrl-C."""
    from gridlink.runtime import database_uri, freeze_heap

    with database_uri(settings) as uri:
        freeze_heap()  # everything is imported: the service's modules are most of its objects
        try:
            asyncio.run(service(settings, mongo_uri=uri))
        except KeyboardInterrupt:
            pass
    return 0


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the HTTP API, the webhook and the pages."""
    from gridlink.app import create_app
    from gridlink.runtime import database_uri, freeze_heap

    async def started(app: web.Application) -> None:
        freeze_heap()  # after every cleanup_ctx has opened its resource

    with database_uri(settings) as uri:
        app = create_app(settings, mongo_uri=uri)
        app.on_startup.append(started)
        log.info("web listening", extra={"url": f"http://{settings.http_host}:{settings.http_port}"})
        web.run_app(app, host=settings.http_host, port=settings.http_port, print=None,
                    access_log=None, handle_signals=True)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run notifications, reminders and escalations."""
    from notify.worker import run_worker

    return _run_until_interrupted(settings, run_worker)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Run the embedded database server in the foreground."""
    from gridlink.runtime import database_uri

    if settings.mongodb_uri:
        print("MONGODB_URI is set; there is no embedded server to run", file=sys.stderr)
        return 2
    with database_uri(settings) as uri:
        print(f"database: {uri} (Ctrl-C stops it)", flush=True)
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        except KeyboardInterrupt:
            pass
    return 0


def cmd_token(args: argparse.Namespace, settings: Settings) -> int:
    """Create a staff API token (printed once; only its hash is stored)."""
    from gridlink import auth
    from gridlink.clock import SystemClock
    from gridlink.runtime import database_uri
    from gridlink.schema import open_database

    async def create(uri: str) -> str:
        async with open_database(uri, settings) as db:
            ttl = timedelta(days=args.days) if args.days else None
            return await auth.create_token(db, role=args.role, unit=args.unit,
                                           district=settings.district_code, name=args.name,
                                           now=SystemClock().now(), ttl=ttl)

    with database_uri(settings) as uri:
        print(asyncio.run(create(uri)))
    return 0


def cmd_invite(args: argparse.Namespace, settings: Settings) -> int:
    """Create a single-use invite that binds a chat user to a role (prints the deep link)."""
    from bot.invites import create_invite_link
    from gridlink.runtime import database_uri

    if (args.also_role is None) != (args.also_unit is None):
        print("gridlink: give --also-role and --also-unit together", file=sys.stderr)
        return 2
    with database_uri(settings) as uri:
        print(asyncio.run(create_invite_link(settings, uri, role=args.role, unit=args.unit,
                                             name=args.name, hours=args.hours,
                                             also_role=args.also_role, also_unit=args.also_unit)))
    return 0


def cmd_bot(args: argparse.Namespace, settings: Settings) -> int:
    """Run the Telegram bot by long polling (development; production uses the webhook in web)."""
    if args.webhook_info:
        import json

        from api.webhook_setup import webhook_info

        print(json.dumps(asyncio.run(webhook_info(settings)), indent=2, ensure_ascii=False))
        return 0
    from bot.polling import run_polling

    return _run_until_interrupted(settings, run_polling)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Everything for a local run: database, demo district, web, worker, Bot API sandbox."""
    from gridlink.runtime import database_uri

    # A shell that starts us in the background leaves SIGINT ignored; Ctrl-C and SIGTERM must
    # both stop everything cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    with database_uri(settings) as uri:
        env = {**os.environ, "MONGODB_URI": uri}
        for step in DEMO_STEPS:
            step(settings, uri)
        if getattr(args, "history", 0):
            from stats.cli import run_history

            run_history(settings, uri, args.history)
        exe = [sys.executable, "-m", "gridlink.cli"]
        procs: dict[str, subprocess.Popen[bytes]] = {}
        if settings.sandbox:
            sandbox_url = f"http://{settings.http_host}:{settings.sandbox_port}"
            env["TELEGRAM_API_URL"] = sandbox_url
            if SANDBOX_AVAILABLE():
                from gridlink.demo import sandbox_args

                procs["sandbox"] = subprocess.Popen([*exe, "sandbox", *sandbox_args(settings)], env=env)
        procs["web"] = subprocess.Popen([*exe, "web"], env=env)
        procs["worker"] = subprocess.Popen([*exe, "worker"], env=env)
        base = f"http://{settings.http_host}:{settings.http_port}"
        print("\n".join([
            "",
            "gridlink is starting:",
            f"  health      {base}/healthz",
            f"  API docs    {base}/api/docs",
            f"  board       {base}/board   (also /hotspots, /map, /assessment)",
            f"  portal      {base}/portal",
            f"  desk        {base}/desk/   (accounts above; more: gridlink staff add --help)",
            *( [f"  chat sandbox http://{settings.http_host}:{settings.sandbox_port}/"]
               if "sandbox" in procs else []),
            f"  database    {uri}",
            "Ctrl-C stops everything.",
            "",
        ]), flush=True)
        try:
            while all(p.poll() is None for p in procs.values()):
                time.sleep(0.5)
            dead = [n for n, p in procs.items() if p.poll() is not None]
            log.error("a process exited; stopping the rest", extra={"processes": dead})
        except KeyboardInterrupt:
            pass
        finally:
            # A second Ctrl-C must not abandon the children half-stopped.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            for proc in procs.values():
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


def cmd_sandbox(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the local Telegram Bot API sandbox and its chat page."""
    from sandbox.cli import run

    return run(args, settings)


def _sandbox_args(parser: argparse.ArgumentParser) -> None:
    from sandbox.cli import configure

    configure(parser)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def SANDBOX_AVAILABLE() -> bool:
    return "sandbox" in COMMANDS


# Steps `gridlink demo` runs against the database before starting processes (grids, …).
DEMO_STEPS: list[Callable[[Settings, str], None]] = []


def cmd_grids(args: argparse.Namespace, settings: Settings) -> int:
    """Load the synthetic demo district or import a grid file (GeoJSON)."""
    from grids.cli import run

    return run(args, settings)


def _grids_args(parser: argparse.ArgumentParser) -> None:
    from grids.cli import configure

    configure(parser)


def _grids_demo_step(settings: Settings, uri: str) -> None:
    from grids.cli import demo_step

    demo_step(settings, uri)


DEMO_STEPS.append(_grids_demo_step)  # first: other steps may place things in the grid


def _living_demo_step(settings: Settings, uri: str) -> None:
    from gridlink.demo import demo_step

    demo_step(settings, uri)


DEMO_STEPS.append(_living_demo_step)  # accounts, bound chat users, cases, a month of history


def _open311_key(args: argparse.Namespace, settings: Settings) -> int:
    """Create, list or revoke Open311 API keys (a new key is printed once; stored hashed)."""
    from open311.cli import cmd_open311_key

    return cmd_open311_key(args, settings)


def _open311_key_args(parser: argparse.ArgumentParser) -> None:
    from open311.cli import configure

    configure(parser)


def _staff(args: argparse.Namespace, settings: Settings) -> int:
    """Desk staff accounts: `add` (the first admin too) and `list`."""
    from staff.cli import run

    return run(args, settings)


def _staff_args(parser: argparse.ArgumentParser) -> None:
    from staff.cli import configure

    configure(parser)


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    """Copy the database (the running embedded server's files, or mongodump) into DIR."""
    import json

    from gridlink.backup import BackupError, backup

    try:
        manifest = backup(settings, args.dir)
    except BackupError as exc:
        print(f"gridlink backup: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(manifest, indent=2))
    return 0


def _restore(args: argparse.Namespace, settings: Settings) -> int:
    """Restore a backup from DIR, then rebuild the statistics and any missing events."""
    import json

    from gridlink.backup import BackupError, restore

    try:
        report = restore(settings, args.dir, replace=args.replace, after=lambda db: _after_restore(db, settings))
    except BackupError as exc:
        print(f"gridlink restore: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


async def _after_restore(db: Any, settings: Settings) -> dict[str, int]:
    """What a restore recomputes from the cases: the events a crash left out (the notifier
    hears of those changes) and the statistics (a copy of a moment may hold events not yet
    folded). The leases copied from processes that were running are nobody's here: the
    rebuild would wait out the folder's, a new worker the sender's."""
    import time

    from cases import lifecycle
    from stats import repository as stats_repo
    from stats import rollups

    await db[stats_repo.META].delete_one({"_id": stats_repo.LEASE})
    await db.notify_leases.delete_many({})
    restored_events = await lifecycle.reemit_missing_events(db, since=None)
    if restored_events:  # into a later second than the rebuild's cursor: not folded twice
        await asyncio.sleep(1.05 - time.time() % 1)
    stats = await rollups.rebuild(db, tz=settings.tz)
    return {"cases": await db.cases.count_documents({}), "events_restored": restored_events, **stats}


def _backup_args(parser: argparse.ArgumentParser, *, restore: bool) -> None:
    from pathlib import Path

    parser.add_argument("dir", type=Path, help="the backup directory" + ("" if restore else " (new or empty)"))
    if restore:
        parser.add_argument("--replace", action="store_true",
                            help="move the data directory's current databases aside first")


COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None] | None]] = {
    "web": (cmd_web, None),
    "worker": (cmd_worker, None),
    "db": (cmd_db, None),
    "demo": (cmd_demo, stats_cli.demo_args),
    "history": (stats_cli.cmd_history, stats_cli.history_args),
    "stats": (stats_cli.cmd_stats, stats_cli.stats_args),
    "token": (cmd_token, lambda p: _token_args(p)),
    "grids": (cmd_grids, lambda p: _grids_args(p)),
    "sandbox": (cmd_sandbox, lambda p: _sandbox_args(p)),
    "open311-key": (_open311_key, lambda p: _open311_key_args(p)),
    "invite": (cmd_invite, lambda p: _invite_args(p)),
    "bot": (cmd_bot, lambda p: _bot_args(p)),
    "staff": (_staff, lambda p: _staff_args(p)),
    "backup": (_backup, lambda p: _backup_args(p, restore=False)),
    "restore": (_restore, lambda p: _backup_args(p, restore=True)),
}


def _token_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True, help="admin, dispatcher, department or leader")
    parser.add_argument("--unit", required=True, help="unit code the token acts for")
    parser.add_argument("--name", default="staff")
    parser.add_argument("--days", type=int, default=0, help="expiry in days (0 = never)")


def _bot_args(parser: argparse.ArgumentParser) -> None:
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--poll", action="store_true", help="long polling (the only mode outside web)")
    mode.add_argument("--webhook-info", action="store_true",
                      help="show what Telegram says about the webhook (URL, pending updates, errors)")


def _invite_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--role", required=True,
                        choices=["coordinator", "leader", "station_head", "dispatcher", "department"])
    parser.add_argument("--unit", required=True, help="unit code (block, workstation, center, D01…)")
    parser.add_argument("--name", default="", help="the person's name, shown to staff")
    parser.add_argument("--hours", type=float, default=72, help="hours until the link expires")
    parser.add_argument("--also-role", choices=["coordinator"], default=None,
                        help="a second role beside a station head's or leader's (with --also-unit)")
    parser.add_argument("--also-unit", default=None, help="the second role's unit code")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridlink", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, configure) in COMMANDS.items():
        p = sub.add_parser(name, help=(func.__doc__ or "").strip().splitlines()[0])
        if configure:
            configure(p)
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    from gridlink.app import wire_domains

    wire_domains()  # the bot's polling and the seeding commands change cases too
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"gridlink: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args, settings))
    except SettingsError as exc:  # refused at start-up (gridlink web with unsafe settings)
        print(f"gridlink: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from gridlink.embedded import EmbeddedServerError

        if isinstance(exc, EmbeddedServerError):
            print(f"gridlink: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
