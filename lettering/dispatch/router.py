"""Carrier callbacks: LG U+ display reports."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from carriers.lgu import SIGNATURE_HEADER, parse_report, verify_report_signature
from lettering.core.errors import AppError
from lettering.dispatch.service import Dispatcher

router = APIRouter()


class BadReportSignature(AppError):
    status_code = 401


class InvalidReport(AppError):
    status_code = 422


@router.post("/v1/carriers/lgu/reports", tags=["carriers"])
async def lgu_report(request: Request) -> JSONResponse:
    """A signed LG U+ delivery report; unknown and repeated reports are acknowledged, not applied."""
    raw = await request.body()
    secret: str = request.app.state.settings.carriers.lgu.callback_secret.get_secret_value()
    if not verify_report_signature(raw, request.headers.get(SIGNATURE_HEADER), secret):
        raise BadReportSignature(f"{SIGNATURE_HEADER} is missing or does not match the body")
    try:
        report = parse_report(raw)
    except ValueError as exc:
        raise InvalidReport(str(exc)) from None
    dispatcher: Dispatcher = request.app.state.dispatcher
    status = await dispatcher.lgu_report(report)
    return JSONResponse({"tid": report.tid, "status": status})
