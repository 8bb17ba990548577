"""The public pages and a desk page on the one layout (issue 23): latency of the HTML each page
serves (rendered from the desk's templates in the negotiated language) and the bytes a first
visit fetches besides its data (HTML, stylesheet, scripts, the CJK web font), against a running
server (`gridlink demo` / `make run`).

    .venv/bin/python bench/pages.py --base http://127.0.0.1:8080 --rounds 300
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time

import aiohttp

from bench.timing import latency_line, pct

PAGES = ["/board", "/hotspots", "/trends", "/map", "/assessment", "/portal", "/desk/signin"]
ASSETS = re.compile(r'(?:src|href)="(/(?:static|desk/static)/[^"]+)"')


async def main(base: str, rounds: int) -> None:
    async with aiohttp.ClientSession() as http:
        print(f"{'page':<22} {'HTML':>8} {'+ css/js':>10}")
        for path in PAGES:
            async with http.get(base + path, headers={"Accept-Language": "en"}) as r:
                html = await r.text()
            extra = 0
            for asset in sorted(set(ASSETS.findall(html))):
                async with http.get(base + asset) as r:
                    extra += len(await r.read())
            print(f"{path:<22} {len(html.encode()):>7,}B {extra:>9,}B")
        async with http.get(base + "/static/fonts/cjk.otf") as r:
            print(f"{'CJK web font':<22} {len(await r.read()):>7,}B (once per browser, cached a week)")
        for path in PAGES:
            samples = []
            for i in range(rounds):
                lang = "en" if i % 2 else "zh-CN"
                started = time.perf_counter()
                async with http.get(base + path, headers={"Accept-Language": lang}) as r:
                    await r.read()
                    assert r.status == 200, (path, r.status)
                samples.append(time.perf_counter() - started)
            print(latency_line(path, samples, sequential=True) + f"   p95 {pct(samples, 0.95):.2f} ms")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--base", default="http://127.0.0.1:8080")
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args()
    asyncio.run(main(args.base, args.rounds))
