"""The Telegram bot: a thin adapter over cases, grids and media."""
