"""Start-up with a real bot token refuses unsafe settings, naming the variable; the rating-code
key is the service's own secret, made once and shared, never the webhook secret."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from gridlink import appsecrets
from gridlink.app import create_app
from gridlink.db import Database
from gridlink.settings import Settings, SettingsError, load_settings

TOKEN = "123456:real-looking-token"
GOOD_SECRET = "s" * 40


@pytest.mark.parametrize(("overrides", "named"), [
    ({}, "WEBHOOK_SECRET"),  # the development default: anyone can forge updates
    ({"webhook_secret": "short-but-not-default"}, "WEBHOOK_SECRET"),
    ({"webhook_secret": GOOD_SECRET, "public_base_url": "http://bot.example"}, "PUBLIC_BASE_URL"),
])
def test_a_real_token_with_unsafe_settings_does_not_start(overrides: dict[str, str], named: str,
                                                         settings: Settings) -> None:
    conf = settings.model_copy(update={"telegram_bot_token": TOKEN,
                                       "webhook_secret": "dev-webhook-secret",
                                       "public_base_url": "https://bot.example", **overrides})
    with pytest.raises(SettingsError, match=named):
        create_app(conf, mongo_uri="mongodb://127.0.0.1:1")


def test_safe_settings_and_the_sandbox_start(settings: Settings) -> None:
    create_app(settings.model_copy(update={"telegram_bot_token": TOKEN, "webhook_secret": GOOD_SECRET,
                                           "public_base_url": "https://bot.example"}),
               mongo_uri="mongodb://127.0.0.1:1")
    create_app(settings, mongo_uri="mongodb://127.0.0.1:1")  # no token: the defaults are fine
    assert load_settings(telegram_bot_token=None).production_problems() == []


def test_gridlink_web_exits_naming_the_variables(settings: Settings) -> None:
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": TOKEN, "WEBHOOK_SECRET": "dev-webhook-secret",
           "PUBLIC_BASE_URL": "http://127.0.0.1:8080", "MONGODB_URI": settings.mongodb_uri or "",
           "MONGODB_DB": settings.mongodb_db, "HTTP_PORT": "0", "DATA_DIR": str(settings.data_dir)}
    proc = subprocess.run([sys.executable, "-m", "gridlink.cli", "web"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "WEBHOOK_SECRET" in proc.stderr and "PUBLIC_BASE_URL" in proc.stderr
    assert "Traceback" not in proc.stderr


async def test_the_rating_code_key_is_made_once_and_shared(settings: Settings, db: Database) -> None:
    appsecrets._cache.clear()
    keys = await asyncio.gather(*(appsecrets.stored_secret(db, "race_test") for _ in range(8)))
    assert len(set(keys)) == 1 and len(keys[0]) >= 40
    appsecrets._cache.clear()  # another process: reads the stored one
    first = await appsecrets.rating_code_key(db, settings)
    appsecrets._cache.clear()
    assert await appsecrets.rating_code_key(db, settings) == first
    assert first != settings.webhook_secret and len(first) >= 40
    assert await db.app_secrets.count_documents({"_id": appsecrets.RATING_CODE_KEY}) == 1
    configured = settings.model_copy(update={"rating_code_key": "k" * 48})
    assert await appsecrets.rating_code_key(db, configured) == "k" * 48
