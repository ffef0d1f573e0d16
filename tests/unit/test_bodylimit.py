"""Bodies are capped while they stream in, with or without a Content-Length."""

from __future__ import annotations

import asyncio
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


def slow_client(**timing: float) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/small", echo_size, methods=["POST"])],
        middleware=[Middleware(BodySizeLimit, default_max=100_000, **timing)],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def trickle(pieces: int, gap_s: float, size: int = 1) -> AsyncIterator[bytes]:
    for _ in range(pieces):
        yield b"x" * size
        await asyncio.sleep(gap_s)


async def test_a_body_that_stops_coming_is_refused_with_408() -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"x" * 100
        await asyncio.sleep(30)
        yield b"never"

    async with slow_client(idle_s=0.2, grace_s=10.0, min_rate=1.0) as c:
        response = await c.post("/small", content=stalls())
    assert response.status_code == 408
    assert response.json()["error"] == "BodyTooSlow"
    assert "after 100 bytes" in response.json()["detail"]
    assert response.headers["connection"] == "close"


async def test_a_trickle_under_the_minimum_rate_is_refused_after_the_grace() -> None:
    # One byte every 50 ms (20 B/s): never idle for long, but far under 1,000 B/s.
    async with slow_client(idle_s=5.0, grace_s=0.3, min_rate=1000.0) as c:
        response = await c.post("/small", content=trickle(1000, 0.05))
    assert response.status_code == 408
    assert response.json()["error"] == "BodyTooSlow"


async def test_a_slow_but_steady_body_within_the_rate_is_read_whole() -> None:
    # 2 KB every 50 ms (~40 KB/s) for ~1 s: past the grace, above the minimum rate.
    async with slow_client(idle_s=5.0, grace_s=0.2, min_rate=1000.0) as c:
        response = await c.post("/small", content=trickle(20, 0.05, size=2000))
    assert response.status_code == 200
    assert response.json() == {"size": 40_000}


async def test_a_refused_body_is_drained_to_four_times_the_limit_and_no_further() -> None:
    pulled = 0

    async def counted(total: int) -> AsyncIterator[bytes]:
        nonlocal pulled
        async for piece in chunks(total):
            pulled += len(piece)
            yield piece

    async with client() as c:  # /small: a 1,000-byte limit
        near = await c.post("/small", content=counted(3000))
        assert near.status_code == 413
        assert pulled == 3000  # a body a little over the limit is read to its end, then answered
        pulled = 0
        far = await c.post("/small", content=counted(100_000))
    assert far.status_code == 413
    assert pulled < 6000  # ~4x the limit (and a chunk), not the 100,000 bytes sent
