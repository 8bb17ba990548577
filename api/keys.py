"""Typed application keys for every long-lived resource stored on the aiohttp app."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web
from telegram.ext import Application

from gridlink.clock import Clock
from gridlink.db import Client, Database
from gridlink.settings import Settings
from grids.live import LiveGridIndex
from media.service import Workers

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
MONGO_URI = web.AppKey("mongo_uri", str)
MONGO_CLIENT = web.AppKey("mongo_client", Client)
DB = web.AppKey("db", Database)
# The python-telegram-bot Application (webhook mode), see api/telegram.py.
PTB_APP = web.AppKey("ptb_app", Application[Any, Any, Any, Any, Any, Any])
# The bounded thread pool that decodes photos (media.service.Workers), see api/media.py.
PHOTO_WORKERS = web.AppKey("photo_workers", Workers)
# The process's grid index (placement), refreshed when a new grid version is imported.
GRID_INDEX = web.AppKey("grid_index", LiveGridIndex)
# The web desk's Jinja2 environment (aiohttp-jinja2 under its own key), see api/desk/routes.py.
DESK_JINJA = web.AppKey("desk_jinja", jinja2.Environment)
