"""Accountability statistics: rollups, colour boards, hotspots, assessment, the synthetic history.

Domain code: reads and writes MongoDB through `stats/repository.py`, never imports aiohttp.web
or telegram. A transition costs no write of its own: its change-log event carries what it does
to the statistics (`stats.rollups.event_fields`, registered with `cases.changelog`); every
read a page makes is one `_id $in` lookup of a few packed documents, so its cost does not grow
with the number of cases.
"""
