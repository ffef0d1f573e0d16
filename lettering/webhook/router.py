"""The PBX webhook route (thin: read the raw body, hand it to the service, return its reply).

`POST /v1/pbx/events` is the one route on the hot path, so it is served by `PbxEventsRoute`, an
ASGI middleware ahead of FastAPI's routing, dependency and middleware stack (what a request costs
there is a tenth of a setup's whole CPU budget); the FastAPI route below stays for the OpenAPI
document and for an app built without the middleware. Both answer alike: the service's reply, or
an `AppError` as `{"error", "detail"}` with its status, exactly as the app's error handler does.
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from lettering.core.deps import lookup
from lettering.core.errors import AppError, errors
from lettering.webhook.deps import WebhooksDep
from lettering.webhook.schemas import PbxEvent, RecordedResponse, SetupResponse
from lettering.webhook.service import WebhookService

router = APIRouter()

PATH = "/v1/pbx/events"
# A PBX event is a few hundred bytes; anything this large is not one.
MAX_BODY_BYTES = 64 * 1024


# The rest of a body that came in pieces must be in within this: a setup's answer is due in 500 ms.
BODY_TIMEOUT_S = 5.0


class BodyTooLarge(AppError):
    status_code = 413

    def __init__(self) -> None:
        super().__init__(f"body is larger than {MAX_BODY_BYTES} bytes")


class BodyTooSlow(AppError):
    status_code = 408

    def __init__(self) -> None:
        super().__init__(f"the body did not arrive within {BODY_TIMEOUT_S:.0f} s; send the event again")


@router.post(
    PATH,
    tags=["pbx"],
    response_model=SetupResponse,
    responses={
        200: {"description": "call.setup: what the phone is shown (or why not), within the hold budget"},
        202: {"model": RecordedResponse, "description": "call.answered / call.ended: recorded"},
        **errors(401, 403, 408, 413, 422, 503),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PbxEvent.model_json_schema()}},
        }
    },
)
async def pbx_event(request: Request, service: WebhooksDep) -> JSONResponse:
    """One PBX event per request (spec/pbx-webhook.md)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    headers = {k.lower(): v for k, v in request.headers.items()}
    reply = await service.handle(raw, headers, request.client.host if request.client else None)
    return JSONResponse(reply.body, status_code=reply.status)


class PbxEventsRoute:
    """ASGI middleware: `POST /v1/pbx/events` straight to the webhook service; all else to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            raw = await _body(headers, receive)
            service = lookup(scope["app"].state, WebhookService)
            client = scope.get("client")
            reply = await service.handle(raw, headers, client[0] if client else None)
        except AppError as exc:
            await _respond(
                send, exc.status_code, {"error": type(exc).__name__, "detail": exc.body()}, exc.headers
            )
            return
        await _respond(send, reply.status, reply.body)


async def _body(headers: dict[str, str], receive: Receive) -> bytes:
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    message = await receive()  # almost always the whole body
    if message["type"] == "http.disconnect":
        return b""
    chunk: bytes = message.get("body", b"")
    if len(chunk) > MAX_BODY_BYTES:
        raise BodyTooLarge()
    if not message.get("more_body", False):
        return chunk
    chunks = [chunk]
    size = len(chunk)
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise BodyTooLarge()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise BodyTooSlow() from None
    return b"".join(chunks)


async def _respond(send: Send, status: int, body: object, extra: dict[str, str] | None = None) -> None:
    """What Starlette's JSONResponse sends (the same JSON form)."""
    payload = json.dumps(
        body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode()
    headers = [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]
    headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
