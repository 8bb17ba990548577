"""Accountability statistics: rollups, colour boards, hotspots, assessment, the synthetic history.

Domain code: reads and writes MongoDB through `stats/repository.py`, never imports aiohttp.web
or telegram. A transition costs one log insert on the request path (`stats.rollups`); every
read a page makes is one `_id $in` lookup of a few packed documents, so its cost does not grow
with the number of cases.
"""
