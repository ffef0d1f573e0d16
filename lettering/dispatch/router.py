"""Carrier callbacks: LG U+ display reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from carriers.lgu import SIGNATURE_HEADER, parse_report, verify_report_signature
from lettering.core.deps import SettingsDep, provided
from lettering.core.errors import AppError, errors
from lettering.dispatch.service import Dispatcher

router = APIRouter()

DispatcherDep = Annotated[Dispatcher, Depends(provided(Dispatcher))]


class BadReportSignature(AppError):
    status_code = 401


class InvalidReport(AppError):
    status_code = 422


class ReportAck(BaseModel):
    tid: str
    status: str  # recorded | repeat | unknown


@router.post(
    "/v1/carriers/lgu/reports",
    tags=["carriers"],
    response_model=ReportAck,
    responses={
        401: errors(401)[401] | {"description": "The report's signature is missing or does not match"},
        422: errors(422)[422] | {"description": "The body is not a report per spec/carriers.md"},
    },
)
async def lgu_report(request: Request, settings: SettingsDep, dispatcher: DispatcherDep) -> ReportAck:
    """A signed LG U+ delivery report; unknown and repeated reports are acknowledged, not applied."""
    raw = await request.body()
    secret = settings.carriers.lgu.callback_secret.get_secret_value()
    if not verify_report_signature(raw, request.headers.get(SIGNATURE_HEADER), secret):
        raise BadReportSignature(f"{SIGNATURE_HEADER} is missing or does not match the body")
    try:
        report = parse_report(raw)
    except ValueError as exc:
        raise InvalidReport(str(exc)) from None
    status = await dispatcher.lgu_report(report)
    return ReportAck(tid=report.tid, status=status)
