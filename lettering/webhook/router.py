"""The PBX webhook route (thin: read the raw body, hand it to the service, return its reply)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from lettering.errors import AppError
from lettering.webhook.service import WebhookService

router = APIRouter()

# A PBX event is a few hundred bytes; anything this large is not one.
MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(AppError):
    status_code = 413


@router.post("/v1/pbx/events", tags=["pbx"])
async def pbx_event(request: Request) -> JSONResponse:
    """One PBX event per request (spec/pbx-webhook.md)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
    service: WebhookService = request.app.state.webhooks
    headers = {k.lower(): v for k, v in request.headers.items()}
    reply = await service.handle(raw, headers, request.client.host if request.client else None)
    return JSONResponse(reply.body, status_code=reply.status)
