"""How uvicorn serves the app: every accepted TCP connection gets TCP_NODELAY, and a worker's
start-up heap is kept out of the cyclic garbage collector's full collections.

asyncio enables TCP_NODELAY on an accepted socket only when the listening socket reports
`proto == IPPROTO_TCP`. A listener bound with `proto` left at 0 (uvicorn issue #3149 lists the
paths: a pre-bound socket, the gunicorn worker) leaves Nagle on, and every keep-alive request
after the first then waits on the client's delayed ACK: about 40 ms on Linux, most of a PBX's hold
budget. The test harness had such a socket (44 ms per request, 1 ms with this). `uvicorn --workers
2` itself was not affected on the machine this was measured on; this is the guard for the paths
that are.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # uvicorn prefers httptools when it is installed (uvicorn[standard])
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - depends on the installation
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Send small writes at once on this connection (no Nagle)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with TCP_NODELAY on every connection it serves."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)


if HttpToolsProtocol is not None:

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, with TCP_NODELAY on every connection it serves."""

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            set_nodelay(transport)
            super().connection_made(transport)


def http_protocol() -> type[asyncio.Protocol]:
    """The protocol `lettering serve` runs: the one uvicorn would pick, with TCP_NODELAY."""
    if HttpToolsProtocol is not None:
        return NoDelayHttpToolsProtocol
    return NoDelayH11Protocol


def freeze_startup_heap() -> bool:
    """Once per process, when the worker is ready to serve: collect, then move every object alive
    (modules, routes, the directory snapshot, the campaign index: ~225,000 tracked objects in a
    worker) into the collector's permanent generation, which full collections skip.

    Without it, each full (generation 2) collection walked that whole heap while the event loop
    waited: measured 160-300 ms per pause in a PostgreSQL worker at 300 setups/s, two or three
    times per worker per 10 s, which was most of the p99 (bench/RESULTS.md, session 13). Frozen
    objects are still freed by reference counting when dropped (an old snapshot is); what a frozen
    reference cycle holds stays, so this runs once per process, after a collection, not per rebuild.
    Returns whether it froze (False: an earlier start in this process already did).
    """
    if gc.get_freeze_count():
        return False
    gc.collect()
    gc.freeze()
    return True
