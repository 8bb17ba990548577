"""Security headers on every response: nosniff everywhere; a Content-Security-Policy,
X-Frame-Options and Referrer-Policy on every HTML page.

Set in `on_response_prepare`, so pages, files and error pages all get them. A page that sends
its own policy (the desk's stricter one) keeps it. Scripts only from this origin and no inline
script, so markup injected into a page cannot run; inline styles are allowed because ReDoc and
the map page set styles from script (style injection cannot run code).
"""

from __future__ import annotations

from aiohttp import web

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
       "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.content_type == "text/html" or str(response.headers.get("Content-Type", "")) \
            .startswith("text/html"):
        for name, value in HTML_HEADERS.items():
            response.headers.setdefault(name, value)


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(security_headers)
