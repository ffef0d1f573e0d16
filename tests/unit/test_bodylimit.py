"""Bodies are capped while they stream in, with or without a Content-Length."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lettering.core.bodylimit import BodySizeLimit


async def echo_size(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


def client() -> httpx.AsyncClient:
    """Installed as the service installs it: app middleware, inside Starlette's error handler."""
    app = Starlette(
        routes=[Route("/small", echo_size, methods=["POST"]), Route("/big/x", echo_size, methods=["POST"])],
        middleware=[Middleware(BodySizeLimit, default_max=1000, by_prefix={"/big/": 100_000})],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"x" * piece


async def test_under_the_limit_passes() -> None:
    async with client() as c:
        assert (await c.post("/small", content=b"x" * 1000)).json() == {"size": 1000}


async def test_declared_length_over_the_limit_is_refused_before_reading() -> None:
    async with client() as c:
        response = await c.post("/small", content=b"x" * 1001)
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]


async def test_chunked_body_over_the_limit_is_cut_off() -> None:
    async with client() as c:
        response = await c.post("/small", content=chunks(5000))
    assert response.status_code == 413


async def test_each_prefix_has_its_own_limit() -> None:
    async with client() as c:
        assert (await c.post("/big/x", content=chunks(50_000))).json() == {"size": 50_000}
        assert (await c.post("/big/x", content=chunks(150_000))).status_code == 413
