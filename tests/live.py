"""Real uvicorn servers for tests: each on a free 127.0.0.1 port, in a thread with its own loop."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port (so the URL is known before the app is made)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def serve(app: FastAPI, sock: socket.socket | None = None) -> LiveServer:
    """Start `app` and wait until it accepts connections (its lifespan has run)."""
    sock = sock or free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        if not thread.is_alive() or time.monotonic() - started > 15:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)


def stop(live: LiveServer, *, force_after: float | None = None) -> None:
    """Stop gracefully and wait for the lifespan's shutdown (up to 15 s).

    With `force_after`, a server still shutting down after that many seconds is forced: a
    session-wide simulator can be left with a client's keep-alive connection or a task it waits for,
    and uvicorn's graceful shutdown then outlasts `timeout_graceful_shutdown` (at the end of the
    full suite that cost 15 s per simulator). `force_exit` skips those waits and the lifespan's
    shutdown, and a server still running a second later is left to die with the process (its thread
    is a daemon), so only servers whose shutdown releases nothing the test checks may use it.
    """
    live.server.should_exit = True
    live.thread.join(timeout=15 if force_after is None else force_after)
    if live.thread.is_alive() and force_after is not None:
        live.server.force_exit = True
        live.thread.join(timeout=1)
