"""A cap on request bodies, enforced while they stream in (before any parser sees them).

Starlette spools file parts to disk without a size limit, and a chunked body has no
Content-Length to check; counting the bytes as they arrive closes both.

A body must also keep coming: a client that sends a byte now and then (slow loris) holds a
connection, a task and a spooled file for as long as it likes, since uvicorn has no timeout while
a request's body is read. Here a body is refused with 408 once no bytes came for `idle_s`, or once
it has taken longer than `grace_s` and averages under `min_rate` bytes per second (defaults: 30 s,
10 s and 4 KiB/s: a 5 MB upload may take 20 minutes; a tablet on a poor mobile link sends
10-100 KiB/s).

A body refused for its size is read on and thrown away (never parsed, never spooled) for up to
four times the path's limit (at most `DRAIN_BYTES`) and `DRAIN_S` before the 413 goes out. A
client sends its body without waiting for the answer; a server that closes on unread bytes makes
the kernel reset the connection, and the client (a browser uploading a photo from a tablet) then
shows "connection reset" instead of the 413's message. A client that asked `Expect: 100-continue`
has sent nothing yet and is answered at once, and so is one that declares more than the drain
would read. The drain stops after `DRAIN_IDLE_S` without a byte. (bench/hostile.py: with a
32 MiB drain, each 10 MB epilogue sent to a 256 KiB route was read to its end; now 1 MiB.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

IDLE_S = 30.0
GRACE_S = 10.0
MIN_RATE = 4 * 1024
DRAIN_BYTES = 32 * 1024 * 1024
DRAIN_S = 10.0
DRAIN_IDLE_S = 1.0


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


class BodySizeLimit:
    """ASGI middleware: 413 for a body over the limit of its path (the longest matching prefix)."""

    def __init__(
        self,
        app: ASGIApp,
        default_max: int,
        by_prefix: dict[str, int] | None = None,
        *,
        idle_s: float = IDLE_S,
        grace_s: float = GRACE_S,
        min_rate: float = MIN_RATE,
    ) -> None:
        self.app = app
        self.default_max = default_max
        self.by_prefix = sorted((by_prefix or {}).items(), key=lambda item: -len(item[0]))
        self.idle_s = idle_s
        self.grace_s = grace_s
        self.min_rate = min_rate

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.by_prefix:
            if path.startswith(prefix):
                return limit
        return self.default_max

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            if headers.get(b"expect", b"").lower() != b"100-continue" and int(declared) <= _drain_max(limit):
                await _drain(receive, 0, limit)
            await self._refuse(send, limit)
            return
        received = 0
        started = False
        first: float | None = None  # when the app first asked for the body
        done = False

        async def limited_receive() -> Message:
            nonlocal received, first, done
            if done:  # the body is in; what comes next is a disconnect, however late
                return await receive()
            now = time.monotonic()
            if first is None:
                first = now
            try:
                async with asyncio.timeout(self.idle_s):
                    message = await receive()
            except TimeoutError:
                raise _TooSlow from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
                if not message.get("more_body", False):
                    done = True
                else:
                    taken = time.monotonic() - first
                    if taken > self.grace_s and received < taken * self.min_rate:
                        raise _TooSlow
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _drain(receive, received, limit)
                await self._refuse(send, limit)
        except _TooSlow:
            if not started:
                await _answer(
                    send,
                    408,
                    "BodyTooSlow",
                    f"request body stopped or came slower than {self.min_rate:.0f} bytes/s"
                    f" (after {received} bytes); send it again",
                )

    @staticmethod
    async def _refuse(send: Send, limit: int) -> None:
        await _answer(send, 413, "BodyTooLarge", f"request body larger than {limit} bytes")


def _drain_max(limit: int) -> int:
    # A photo a little over the upload cap is drained; a login body is not read for megabytes.
    return min(DRAIN_BYTES, 4 * limit)


async def _drain(receive: Receive, received: int, limit: int) -> None:
    """Read and drop the rest of a refused body: until it ends, `_drain_max` in all, DRAIN_S, or
    DRAIN_IDLE_S without a byte (a client waiting for the answer before it sends)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_S):
            while received <= _drain_max(limit):
                async with asyncio.timeout(DRAIN_IDLE_S):
                    message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return
                received += len(message.get("body", b""))


async def _answer(send: Send, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The body may not have been read to its end: the connection carries nothing more.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
