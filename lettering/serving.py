"""How uvicorn serves the app: every accepted TCP connection gets TCP_NODELAY.

asyncio enables TCP_NODELAY on an accepted socket only when the listening socket reports
`proto == IPPROTO_TCP`. uvicorn binds the listening socket itself for `--workers N` with `proto`
left at 0 (uvicorn issue #3149), so without this every keep-alive request after the first waits
on the client's delayed ACK: about 40 ms on Linux, most of a PBX's hold budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


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
