"""Desk sign-in under a parallel burst: one atomic claim per attempt, the password never
checked while locked, no 500, no session; and a per-address throttle on /desk/signin."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Literal

import pytest
from argon2 import PasswordHasher

from staff import passwords
from tests.desk.conftest import PASSWORD, DeskFactory, csrf_of


class CountingHasher(PasswordHasher):
    """Argon2id (cheap costs) that counts verifications: how many passwords were checked."""

    checks = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        CountingHasher.checks += 1
        return super().verify(hash, password)


@pytest.fixture(autouse=True)
def counting_hasher() -> Iterator[None]:
    previous = passwords.use_hasher(CountingHasher(time_cost=1, memory_cost=1024, parallelism=1))
    CountingHasher.checks = 0
    yield
    passwords.use_hasher(previous)


async def test_forty_parallel_sign_ins_never_open_a_session_nor_fail(make_desk: DeskFactory) -> None:
    desk = await make_desk(desk_lockout_attempts=5, desk_signin_per_ip=30)
    c = await desk.client()
    token = csrf_of(await (await c.get("/desk/signin")).text())
    CountingHasher.checks = 0

    async def attempt(password: str) -> tuple[int, bool]:
        async with c.post("/desk/signin", allow_redirects=False, data={
                "csrf": token, "username": "roads", "password": password}) as resp:
            await resp.read()
            cookies = resp.headers.getall("Set-Cookie", [])
            return resp.status, any(v.startswith("gl_desk=") and "gl_desk=;" not in v for v in cookies)

    guesses = [f"wrong guess {i:02d}" for i in range(40)]
    guesses[20] = PASSWORD  # the attacker's right guess, in the middle of the burst
    results = await asyncio.gather(*(attempt(p) for p in guesses))
    statuses = sorted(s for s, _ in results)
    assert set(statuses) <= {401, 403, 429}, statuses
    assert not any(session for _, session in results)
    assert statuses.count(429) == 10  # 30 sign-ins per address and window
    assert statuses.count(401) <= 5
    # the lock decision came before the password: exactly the allowed attempts were checked
    assert CountingHasher.checks == 5
    # and it holds: the right password is refused while locked, without being checked
    c2 = await desk.client()
    token2 = csrf_of(await (await c2.get("/desk/signin")).text())
    async with c2.post("/desk/signin", allow_redirects=False, data={
            "csrf": token2, "username": "roads", "password": PASSWORD}) as resp:
        assert resp.status in (403, 429)
    assert CountingHasher.checks == 5


async def test_a_locked_username_is_refused_without_checking_the_password(
        make_desk: DeskFactory) -> None:
    desk = await make_desk(desk_lockout_attempts=3, desk_lockout_minutes=10.0)
    c = await desk.client()
    for _ in range(3):
        page = await c.get("/desk/signin")
        resp = await c.post("/desk/signin", data={"csrf": csrf_of(await page.text()),
                                                  "username": "center", "password": "nope nope nope"})
        assert resp.status == 401
    checked = CountingHasher.checks
    for password in ("still wrong!", PASSWORD):
        page = await c.get("/desk/signin")
        resp = await c.post("/desk/signin", data={"csrf": csrf_of(await page.text()),
                                                  "username": "center", "password": password})
        assert resp.status == 403
    assert CountingHasher.checks == checked
    desk.clock.advance(minutes=10, seconds=1)
    page = await c.get("/desk/signin")
    resp = await c.post("/desk/signin", data={"csrf": csrf_of(await page.text()),
                                              "username": "center", "password": PASSWORD})
    assert resp.status == 200 and "/desk/signin" not in str(resp.url)


async def test_sign_ins_are_throttled_per_client_address(make_desk: DeskFactory) -> None:
    desk = await make_desk(desk_signin_per_ip=4, desk_signin_window_s=60.0)
    c = await desk.client()
    token = csrf_of(await (await c.get("/desk/signin")).text())
    statuses = []
    for name in ("a1", "b2", "c3", "d4", "e5", "f6"):  # different usernames: the address counts
        async with c.post("/desk/signin", allow_redirects=False,
                          data={"csrf": token, "username": name, "password": "x" * 12}) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert statuses == [401, 401, 401, 401, 429, 429]
    desk.clock.advance(seconds=61)
    async with c.post("/desk/signin", allow_redirects=False,
                      data={"csrf": token, "username": "center", "password": PASSWORD}) as resp:
        assert resp.status == 303
