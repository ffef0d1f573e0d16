"""Citizen pages' responses (opt-out, /verify, card news and their error pages) and their assets.

Every citizen page goes out through `citizen_page`, with the same protective headers:
- `Referrer-Policy: no-referrer`: the page's address (an opt-out link, a card-news `?t=` token,
  a `/verify?code=`) never reaches another site in a Referer header.
- `Content-Security-Policy: default-src 'self'; frame-ancestors 'none'`: the page loads nothing
  from elsewhere and runs no inline script or style (its stylesheets are under `static/citizen/`,
  served below), and no other site can frame it (a clickjacked opt-out form).
- `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from lettering.core.templates import TEMPLATE_DIR, render

CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'"
SECURITY_HEADERS: Mapping[str, str] = {
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
}
NO_STORE = "no-store"

ASSET_DIR = TEMPLATE_DIR.parent / "citizen"
ASSET_PATH = "/static/citizen"
_ASSET_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}\.css$")


def citizen_page(
    html: str, status_code: int = 200, *, cache: str = NO_STORE, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """A citizen page with the protective headers; `cache` is its Cache-Control (never stored by
    default), `headers` any of the page's own (Retry-After, X-Robots-Tag)."""
    return HTMLResponse(
        html, status_code, headers={**(headers or {}), **SECURITY_HEADERS, "Cache-Control": cache}
    )


def not_found_page() -> HTMLResponse:
    """The citizen pages' 404."""
    return citizen_page(render("not_found.html"), 404)


# The citizen pages' stylesheets. Served by a route of their own (included by a router that is
# always installed, lettering/verify/router.py) so the pages need no inline style.
assets = APIRouter(include_in_schema=False)


@assets.get(ASSET_PATH + "/{name}")
async def citizen_asset(name: str) -> Response:
    """One stylesheet of static/citizen/ (nothing else: no sub-folders, no other names)."""
    path = ASSET_DIR / name
    if not _ASSET_NAME.match(name) or not path.is_file():
        return not_found_page()
    return FileResponse(
        path,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
