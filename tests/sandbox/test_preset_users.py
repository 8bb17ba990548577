"""Users with a page label and a home point (what `gridlink demo` gives `gridlink sandbox
--users`): kept and shown by the control API; a malformed home is a 400, not a user."""

from __future__ import annotations

import aiohttp

from tests.sandbox.conftest import RunningSandbox


async def test_a_user_carries_a_note_and_a_home(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        body = {"id": 7100001, "first_name": "王伟", "language_code": "zh-hans", "role": "coordinator",
                "note": "巡管员 · 宜山一村居民区第一网格", "home": {"latitude": 31.2, "longitude": 121.4}}
        async with http.post(f"{sandbox.url}/sandbox/api/users", json=body) as r:
            assert r.status == 201, await r.text()
        async with http.get(f"{sandbox.url}/sandbox/api/users/7100001") as r:
            user = await r.json()
        assert user["note"] == body["note"] and user["home"] == {"latitude": 31.2, "longitude": 121.4}
        for home in ({"latitude": 95, "longitude": 121.4}, {"latitude": "31"}, [31.2, 121.4]):
            async with http.post(f"{sandbox.url}/sandbox/api/users",
                                 json={"first_name": "x", "home": home}) as r:
                assert r.status == 400, home
                assert (await r.json())["error"]["code"] == "invalid_input"
        async with http.get(f"{sandbox.url}/sandbox/api/users") as r:
            assert [u["id"] for u in (await r.json())["users"]] == [7100001]
