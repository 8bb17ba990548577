"""`gridlink sandbox`: serve the Bot API sandbox and its chat page."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from aiohttp import web

from gridlink.settings import Settings
from sandbox.app import DEFAULT_TOKEN, create_sandbox_app, sandbox_of

log = logging.getLogger("gridlink.sandbox")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate-limits", action="store_true",
                        help="answer 429 beyond Telegram's limits (also switchable at run time)")
    parser.add_argument("--port", type=int, default=None, help="default: SANDBOX_PORT")
    parser.add_argument("--users", type=Path, default=None, metavar="FILE",
                        help="create these chat users at start: a JSON list of the control API's "
                             "POST /users bodies (`gridlink demo` writes its bound users there)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    token = settings.telegram_bot_token or DEFAULT_TOKEN
    port = args.port if args.port is not None else settings.sandbox_port
    app = create_sandbox_app(rate_limits=args.rate_limits, bot_token=token)
    if args.users is not None:
        state = sandbox_of(app)
        for user in json.loads(args.users.read_text(encoding="utf-8")):
            state.create_user(**user)
    log.info("sandbox listening", extra={"url": f"http://{settings.http_host}:{port}/",
                                         "bot_api": f"http://{settings.http_host}:{port}/bot"})
    # The chat page long-polls for up to 20 s: a stop does not wait for those polls to end.
    web.run_app(app, host=settings.http_host, port=port, print=None, access_log=None,
                handle_signals=True, shutdown_timeout=1.0)
    return 0
