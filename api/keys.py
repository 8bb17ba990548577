"""Typed application keys for every long-lived resource stored on the aiohttp app."""

from __future__ import annotations

from aiohttp import web

from gridlink.clock import Clock
from gridlink.db import Client, Database
from gridlink.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
MONGO_URI = web.AppKey("mongo_uri", str)
MONGO_CLIENT = web.AppKey("mongo_client", Client)
DB = web.AppKey("db", Database)
