"""The dispatcher workbench (web desk): server-rendered pages over cases/, grids/ and media/."""

from api.desk.routes import setup_routes

__all__ = ["setup_routes"]
