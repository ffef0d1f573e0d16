"""`lettering serve` answers keep-alive requests without waiting on Nagle and delayed ACKs."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from lettering.core.serving import NoDelayH11Protocol


class Recording(NoDelayH11Protocol):
    seen: list[int] = []

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        Recording.seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})


async def test_connections_get_nodelay_even_on_a_listener_bound_without_tcp_proto() -> None:
    # What uvicorn's --workers N does: bind with proto 0, so asyncio leaves Nagle on.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    assert listener.proto == 0
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, http=Recording, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        writer.close()
    finally:
        server.should_exit = True
        await serving
    assert Recording.seen
    assert all(Recording.seen)


def test_plain_asyncio_would_leave_nagle_on_for_such_a_listener() -> None:
    """The reason for the protocol above (if asyncio or uvicorn change, this says so)."""

    async def accepted_nodelay() -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _, writer = await asyncio.open_connection(*listener.getsockname())
        nodelay = await found
        writer.close()
        server.close()
        return nodelay

    assert asyncio.run(accepted_nodelay()) == 0


_FREEZE_PROBE = """
import asyncio, gc, sys, weakref
from lettering.app import create_app
from lettering.core.settings import Settings

class Node:
    pass

def garbage_cycle():
    node = Node()
    node.me = node  # only the cyclic collector frees this
    return weakref.ref(node)

async def main():
    settings = Settings(_env_file=None, env="dev", database_url=sys.argv[1], media_dir=sys.argv[2],
                        scheduler_enabled=False)
    dead = garbage_cycle()
    gc.disable()  # nothing collects before the start does
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        print(gc.get_freeze_count(), dead() is None)
        frozen = gc.get_freeze_count()
    async with app.router.lifespan_context(app):  # a second start in the process: no second freeze
        print(gc.get_freeze_count() <= frozen)  # frozen objects that died left it; none joined

asyncio.run(main())
"""


async def test_a_started_worker_has_frozen_its_heap_after_collecting(
    database_url: str, tmp_path: Path
) -> None:
    # Its own process: a freeze is for the life of the process (lettering.core.serving).
    if not database_url.startswith("sqlite"):
        pytest.skip("the heap does not depend on the database")
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", _FREEZE_PROBE, database_url, str(tmp_path / "media")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.split("\n")[:2]
    count, collected = first.split()
    assert int(count) > 50_000  # modules, routes, the snapshot: the start-up heap
    assert collected == "True"  # the garbage alive at the start was collected, not frozen
    assert second == "True"
