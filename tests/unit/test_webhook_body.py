"""The PBX route reads a body that comes in pieces only so long: then 408, never a held task."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from lettering.webhook import router as webhook_router
from lettering.webhook.router import PATH, PbxEventsRoute


async def _never(scope: Any, receive: Any, send: Any) -> None:  # the app behind: never reached
    raise AssertionError("the PBX route passed its request on")


async def _call(messages: list[dict[str, Any]], hang: bool) -> list[dict[str, Any]]:
    queue = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        if hang:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "headers": [(b"content-type", b"application/json")],
    }
    await asyncio.wait_for(PbxEventsRoute(_never)(scope, receive, send), timeout=10)
    return sent


async def test_a_body_that_stalls_after_its_first_piece_is_answered_408(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_router, "BODY_TIMEOUT_S", 0.2)
    sent = await _call([{"type": "http.request", "body": b'{"type": "call.se', "more_body": True}], hang=True)
    assert sent[0]["status"] == 408
    body = json.loads(sent[1]["body"])
    assert body["error"] == "BodyTooSlow"
    assert "send the event again" in body["detail"]


async def test_a_body_over_the_cap_in_pieces_is_answered_413() -> None:
    piece = {"type": "http.request", "body": b"x" * 40_000, "more_body": True}
    sent = await _call([piece, piece], hang=True)
    assert sent[0]["status"] == 413
