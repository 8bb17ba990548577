"""`gridlink sandbox`: serve the Bot API sandbox and its chat page."""

from __future__ import annotations

import argparse
import logging

from aiohttp import web

from gridlink.settings import Settings
from sandbox.app import DEFAULT_TOKEN, create_sandbox_app

log = logging.getLogger("gridlink.sandbox")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate-limits", action="store_true",
                        help="answer 429 beyond Telegram's limits (also switchable at run time)")
    parser.add_argument("--port", type=int, default=None, help="default: SANDBOX_PORT")


def run(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.telegram_bot_token or DEFAULT_TOKEN
    port = args.port if args.port is not None else settings.sandbox_port
    app = create_sandbox_app(rate_limits=args.rate_limits, bot_token=token)
    log.info("sandbox listening", extra={"url": f"http://{settings.http_host}:{port}/",
                                         "bot_api": f"http://{settings.http_host}:{port}/bot"})
    web.run_app(app, host=settings.http_host, port=port, print=None, access_log=None,
                handle_signals=True)
    return 0
