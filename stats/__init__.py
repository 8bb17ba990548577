"""Accountability statistics: rollups, colour boards, hotspots, assessment, the synthetic history.

Domain code: reads and writes MongoDB through `stats/repository.py`, never imports aiohttp.web
or telegram. Every read a page makes is a handful of `_id` lookups on small documents, so its
cost does not grow with the number of cases (FerretDB pushes only `_id` equality down to SQLite;
anything else scans the collection).
"""
