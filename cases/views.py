"""Kept for imports not yet moved: the views live in `cases.visibility`."""

from cases.visibility import jsonable, list_item, public_photos, public_view, staff_view

__all__ = ["jsonable", "list_item", "public_photos", "public_view", "staff_view"]
