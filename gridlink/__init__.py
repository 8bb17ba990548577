"""Wiring for gridlink: settings, the embedded database, the app factory and the CLI."""
