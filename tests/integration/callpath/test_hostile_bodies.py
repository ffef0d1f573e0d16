"""Hostile uploads against the running service, over a real socket: each is refused with a status
and a body saying why, none is read past the cap, and the service answers others meanwhile.

The upload route is the campaign API's (`POST /v1/campaigns/{id}/images`, cap
`upload_max_bytes` + 64 KiB of form overhead); the form is refused before the campaign is looked
up, so a campaign that does not exist shows what got past the parser (404) and what did not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

CAP = 3 * 1024 * 1024  # upload_max_bytes here: a refused body is drained up to 4x the cap
BOUNDARY = "hostile-boundary"


@pytest.fixture
def service_overrides() -> dict[str, Any]:
    return {"upload_max_bytes": CAP}


@pytest.fixture
async def editor(service: Service) -> str:
    if not service.settings.database_url.startswith("sqlite"):
        pytest.skip("how a body is read does not depend on the database")
    async with session_scope(service.sessions) as session:
        user = await user_service.create_user(
            session,
            "editor@hanbit.go.kr",
            "editor",
            "correct horse battery",
            "editor",
            "HANBIT",
            "HANBIT-0100",
        )
        return await user_service.create_api_token(session, user.id, "test")


def _part(name: str, value: bytes, *, filename: str | None = None, extra: bytes = b"") -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode() + extra + b"\r\n" + value + b"\r\n"
    )


def _form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


class Exchange:
    """One raw HTTP/1.1 request: what was answered, and how much of the body had been sent by then."""

    def __init__(self) -> None:
        self.status = 0
        self.body: dict[str, Any] = {}
        self.sent = 0


async def _post(
    service: Service,
    token: str,
    body: AsyncIterator[bytes] | bytes,
    *,
    length: int | None = None,
    path: str = "/v1/campaigns/987654/images",
) -> Exchange:
    """POST `body` (bytes, or pieces sent chunked unless `length` is given) and read the answer
    while still sending: the service may answer before the body is through."""
    url = urlsplit(service.url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    exchange = Exchange()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {url.netloc}",
        f"Authorization: Bearer {token}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
    ]
    if isinstance(body, bytes):
        length = len(body)
    head.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())

    async def send() -> None:
        pieces = [body] if isinstance(body, bytes) else body
        try:
            if isinstance(pieces, list):
                writer.write(pieces[0])
                exchange.sent += len(pieces[0])
                await writer.drain()
            else:
                async for piece in pieces:
                    writer.write(piece if length is not None else b"%x\r\n%s\r\n" % (len(piece), piece))
                    exchange.sent += len(piece)
                    await writer.drain()
                if length is None:
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
        except (ConnectionError, OSError):
            pass  # the service answered and closed: what was sent by then is in exchange.sent

    sender = asyncio.create_task(send())
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=60)
        exchange.status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await reader.readexactly(int(headers.get("content-length", "0")))
        exchange.body = json.loads(raw) if raw else {}
    finally:
        sender.cancel()
        writer.close()
    return exchange


async def _pieces(
    total: int, size: int = 64 * 1024, *, prefix: bytes = b"", gap_s: float = 0.0
) -> AsyncIterator[bytes]:
    if prefix:
        yield prefix
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"e" * piece
        if gap_s:
            await asyncio.sleep(gap_s)


async def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(
    service: Service, editor: str
) -> None:
    async def nothing() -> AsyncIterator[bytes]:
        await asyncio.sleep(30)
        yield b""

    # 6 MB over the cap, declared: the answer comes on the headers alone.
    exchange = await _post(service, editor, nothing(), length=CAP + 6 * 1024 * 1024)
    assert exchange.status == 413
    assert exchange.body["error"] in ("BodyTooLarge", "UploadTooLarge")
    assert exchange.sent == 0


async def test_a_ten_megabyte_epilogue_is_cut_off_at_the_cap(service: Service, editor: str) -> None:
    # A valid form, then 10 MB after its closing boundary, chunked (no length to refuse it by).
    form = _form(_part("alt_text", "포스터".encode()), _part("file", b"\x89PNG\r\n\x1a\n", filename="a.png"))
    exchange = await _post(service, editor, _pieces(10 * 1024 * 1024, prefix=form))
    assert exchange.status == 413
    assert "bytes" in exchange.body["detail"]
    assert exchange.sent == len(form) + 10 * 1024 * 1024  # read to its end (dropped), then answered


async def test_a_thousand_and_one_fields_are_refused_by_name(service: Service, editor: str) -> None:
    form = _form(*(_part(f"f{n}", b"x") for n in range(1001)))
    exchange = await _post(service, editor, form)
    assert exchange.status == 422
    assert "Too many fields" in json.dumps(exchange.body)


async def test_ten_thousand_part_headers_are_refused(service: Service, editor: str) -> None:
    extra = b"".join(b"X-Filler-%d: y\r\n" % n for n in range(10_000))
    form = _form(_part("alt_text", b"poster", extra=extra), _part("file", b"\x89PNG", filename="a.png"))
    assert len(form) < CAP  # under the byte cap: only the header count is hostile
    exchange = await _post(service, editor, form)
    assert exchange.status == 422
    assert "header count" in exchange.body["detail"]  # the parser's own words, not "invalid data"


async def test_a_slow_loris_upload_is_cut_off_while_others_are_answered(
    service: Service, editor: str
) -> None:
    # A file part opened, then one byte of it every 0.5 s: far slower than the minimum rate.
    opening = _part("file", b"", filename="a.png")[: -len(b"\r\n")]
    trickle = _pieces(10_000, size=1, gap_s=0.5, prefix=opening)
    slow = asyncio.create_task(_post(service, editor, trickle, length=len(opening) + 10_000))
    answered = 0
    started = time.monotonic()
    while not slow.done() and time.monotonic() - started < 60:
        response = await service.client.get("/livez")
        assert response.status_code == 200
        answered += 1
        await asyncio.sleep(0.2)
    exchange = await slow
    assert exchange.status == 408
    assert exchange.body["error"] == "BodyTooSlow"
    assert exchange.sent < len(opening) + 100  # refused long before the whole body came
    assert answered > 5  # the service answered others while the slow body was held
