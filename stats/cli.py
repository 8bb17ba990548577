"""`gridlink stats rebuild`, `gridlink history N` and `gridlink demo --history N`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from zoneinfo import ZoneInfo

from gridlink.settings import Settings

DEFAULT_HISTORY = 867_786  # the seed's 31,943 + 132,790 + 703,053 cases


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _history(settings: Settings, uri: str, n: int, outbreaks: list[str] | None = None
                   ) -> dict[str, object]:
    from gridlink.clock import SystemClock
    from gridlink.schema import open_database
    from stats.history import Outbreak, insert_history

    async with open_database(uri, settings) as db:
        return await insert_history(db, n, now=SystemClock().now(), district=settings.district_code,
                                    prefix=settings.serial_prefix, tz=ZoneInfo(settings.timezone),
                                    outbreaks=[Outbreak.parse(o) for o in outbreaks or []],
                                    progress=_say)


def run_history(settings: Settings, uri: str, n: int, outbreaks: list[str] | None = None) -> None:
    summary = asyncio.run(_history(settings, uri, n, outbreaks))
    _say(f"history: {summary}")


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    """Insert N synthetic historical cases (the seed's mix) and build the rollups."""
    from gridlink.runtime import database_uri

    with database_uri(settings) as uri:
        run_history(settings, uri, args.n, getattr(args, "outbreak", None))
    return 0


def history_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("n", type=int, nargs="?", default=DEFAULT_HISTORY,
                        help=f"how many cases (default {DEFAULT_HISTORY:,}, the seed's 2009–2013 total)")
    parser.add_argument("--outbreak", action="append", metavar="BLOCK:CATEGORY:YYYY-MM-DD:DAYS:FACTOR",
                        help="multiply a block × category's rate over a period (repeatable), to measure "
                             "early warning (docs/EARLY_WARNING.md)")


def demo_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--history", type=int, default=0, nargs="?", const=DEFAULT_HISTORY, metavar="N",
                        help="first insert N synthetic historical cases (see `gridlink history`)")


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Statistics maintenance: `rebuild` recomputes every rollup from the cases."""
    from gridlink.clock import SystemClock
    from gridlink.runtime import database_uri
    from gridlink.schema import open_database
    from stats.rollups import rebuild

    async def go(uri: str) -> dict[str, int]:
        async with open_database(uri, settings) as db:
            return await rebuild(db, tz=ZoneInfo(settings.timezone), progress=_say,
                                 now=SystemClock().now())

    started = time.perf_counter()
    with database_uri(settings) as uri:
        summary = asyncio.run(go(uri))
    _say(f"rebuilt in {time.perf_counter() - started:.1f} s: {summary}")
    return 0


def stats_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["rebuild"])
