"""Grid geometry, import, placement and the roster."""
