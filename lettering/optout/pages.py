"""The citizen's opt-out link `/o/{token}`: a Korean confirmation page; only its POST changes anything.

- GET and HEAD only read (link previews and mail scanners open links): no state, no history.
- The POST needs the form's hidden `csrf_token`, which is signed, bound to this link and short-lived
  (no cookies are used).
- A tampered, expired or foreign-key link gets one neutral page: the same status (404), the same
  bytes, and the same database work as a good link, so neither the answer nor its timing tells
  which links are real.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from lettering.audit import service as audit_service
from lettering.core.db import utcnow
from lettering.core.deps import SessionDep, SettingsDep, VaultDep
from lettering.core.pages import citizen_page
from lettering.core.settings import Settings
from lettering.core.templates import render
from lettering.directory import service as directory_service
from lettering.optout import service
from lettering.optout.models import ALL_AGENCIES
from lettering.snapshots.callpath import CallPathStore
from lettering.snapshots.deps import SnapshotsDep

# Never cached (citizen_page) or indexed; the link (a credential of sorts) never leaks through a
# Referer header (citizen_page's Referrer-Policy).
HEADERS = {"X-Robots-Tag": "noindex, nofollow"}
NEUTRAL_STATUS = 404

router = APIRouter(include_in_schema=False)


def _subject(settings: Settings, token: str) -> service.OptoutSubject | None:
    return service.read_optout_token(
        service.link_keys(settings), token, settings.optout_link_max_age_days * 86_400
    )


def _is_platform(snapshots: CallPathStore) -> bool:
    """A province platform (several agencies) offers the choice for every agency at once."""
    directory: directory_service.DirectorySnapshot = snapshots.current.directory
    return len(directory.agencies) > 1


def _neutral() -> HTMLResponse:
    return citizen_page(render("optout_invalid.html"), NEUTRAL_STATUS, headers=HEADERS)


def _render(
    settings: Settings,
    snapshots: CallPathStore,
    token: str,
    page: service.LinkPage,
    status_code: int = 200,
    **extra: Any,
) -> HTMLResponse:
    html = render(
        "optout.html",
        page=page,
        token=token,
        form_token=service.form_token(service.link_keys(settings), token),
        labels=service.SCOPE_LABELS,
        preselect=service.preselected_scope(page),
        platform=_is_platform(snapshots),
        result=extra.get("result"),
        error=extra.get("error"),
    )
    return citizen_page(html, status_code, headers=HEADERS)


@router.api_route("/o/{token}", methods=["GET", "HEAD"], response_class=HTMLResponse)
async def optout_page(
    token: str, session: SessionDep, settings: SettingsDep, vault: VaultDep, snapshots: SnapshotsDep
) -> HTMLResponse:
    """The confirmation page: masked number, agency, current choice and the choices. Reads only."""
    subject = _subject(settings, token)
    page = await service.link_page(session, vault, subject)
    if page is None:
        return _neutral()
    return _render(settings, snapshots, token, page)


@router.post("/o/{token}", response_class=HTMLResponse)
async def optout_change(
    token: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    vault: VaultDep,
    snapshots: SnapshotsDep,
) -> HTMLResponse:
    """Apply the choice sent from the confirmation page (needs its csrf_token)."""
    keys = service.link_keys(settings)
    subject = _subject(settings, token)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    page = await service.link_page(session, vault, subject)
    if page is None or subject is None:
        return _neutral()
    if not service.check_form_token(keys, token, fields.get("csrf_token"), settings.optout_form_max_age_s):
        html = render("form_expired.html", back=f"/o/{token}")
        return citizen_page(html, 403, headers=HEADERS)
    scope = service.as_scope(fields.get("scope", ""))
    target = fields.get("target", "agency")
    if scope is None or target not in ("agency", "platform"):
        return _render(settings, snapshots, token, page, 400, error="받을 방법을 하나 골라 주세요.")
    agency_id = subject.agency_id
    if target == "platform":
        if not _is_platform(snapshots):
            return _render(
                settings, snapshots, token, page, 400, error="이 서비스에서는 고를 수 없는 범위입니다."
            )
        agency_id = ALL_AGENCIES
    key = settings.phone_hash_key.get_secret_value()
    client = request.client.host if request.client else "unknown"
    now = utcnow()
    result = await service.apply_change(
        session,
        vault,
        subject=service.OptoutSubject(page.subject.callee_hash, agency_id),
        to_scope=scope,
        via="link",
        now=now,
        sender_agency_id=subject.agency_id or None,
        ip_hash=audit_service.hash_client(key, "ip", client),
        user_agent_hash=audit_service.hash_client(key, "ua", request.headers.get("user-agent", "")),
    )
    return _render(
        settings,
        snapshots,
        token,
        page,
        result={
            "notice": result.notice,
            "to_scope": result.change.to_scope,
            "target_name": result.target_name,
            "changed_at": service.seoul_text(now),
        },
    )
