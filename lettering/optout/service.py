"""Opt-outs: what other packages call. The index, links, state and register live in their own
modules (index.py, links.py, state.py, register.py); this module joins them into the citizen's
page and a change, and re-exports what other packages use."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from campaigns import service as campaign_service
from kakao_fallback import service as kakao_service
from kakao_fallback.relay import RelayHooks
from lettering.core.clock import SEOUL
from lettering.core.phone import PhoneVault, hash_prefix, mask_national
from lettering.directory import service as directory_service
from lettering.keyring import service as keyring_service
from lettering.observability import metrics
from lettering.optout import repository
from lettering.optout.index import SCOPES, SNAPSHOT_NAME, OptoutIndex, Scope, build_optout_index, scope_now
from lettering.optout.links import (
    _NOBODY,
    FORM_SALT,
    LINK_SALT,
    MAX_TOKEN_LENGTH,
    OptoutSubject,
    check_form_token,
    form_token,
    link_keys,
    optout_token,
    optout_url,
    optout_url_for,
    read_optout_token,
)
from lettering.optout.links import _token_digest as _token_digest  # used by tests of the form token
from lettering.optout.models import ALL_AGENCIES
from lettering.optout.register import (
    RetainedNumber,
    forget_numbers,
    keep_number,
    open_number,
    retained_number,
)
from lettering.optout.state import OptoutChange, as_scope, change_optout, current_scopes, history_of

log = logging.getLogger(__name__)

# -- what the citizen sees and is told ----------------------------------------------------------

SCOPE_LABELS: dict[str, str] = {
    "none": "모두 받기",
    "promo": "홍보만 받지 않기",
    "all": "모두 받지 않기",
}
_CHANGE_TEXT: dict[str, str] = {
    "none": "수신 거부 해제(다시 받기)",
    "promo": "홍보 메시지 수신 거부(발신 기관 표시는 유지)",
    "all": "모든 안내 수신 거부",
}
EVERY_AGENCY = "이 플랫폼의 모든 기관"
_WEEKDAYS = "월화수목금토일"


def seoul_text(at: datetime) -> str:
    """'2026년 11월 24일(화) 14:02' in Asia/Seoul."""
    local = at.astimezone(SEOUL)
    return (
        f"{local.year}년 {local.month}월 {local.day}일({_WEEKDAYS[local.weekday()]}) "
        f"{local.hour:02d}:{local.minute:02d}"
    )


@dataclass(frozen=True, slots=True)
class LinkPage:
    """What the confirmation page of a link shows."""

    subject: OptoutSubject
    agency_name: str  # EVERY_AGENCY for agency 0
    masked_number: str | None  # '010-****-4567', or None when no copy of the number is kept
    own_scope: Scope
    every_agency_scope: Scope


async def link_page(
    session: AsyncSession, vault: PhoneVault, subject: OptoutSubject | None
) -> LinkPage | None:
    """The page of a link, or None (the neutral page) for a bad link or an agency no longer served.

    A bad link runs the same lookups (for a hash nobody has) as a good one, so the time it takes
    does not tell a forged link from a real one.
    """
    callee_hash, agency_id = (subject.callee_hash, subject.agency_id) if subject else _NOBODY
    # A link signed before a key rotation names the number's hash under the retired key.
    callee_hash = await keyring_service.current_hash(session, callee_hash)
    scopes = await current_scopes(session, callee_hash, agency_id)
    retained = await retained_number(session, callee_hash)
    agency_name, _ = await directory_service.names(session, max(agency_id, 0), None)
    number = open_number(vault, retained)
    if subject is None or (agency_id != ALL_AGENCIES and not agency_name):
        return None
    return LinkPage(
        subject=OptoutSubject(callee_hash, agency_id),
        agency_name=agency_name if agency_id != ALL_AGENCIES else EVERY_AGENCY,
        masked_number=mask_national(number) if number else None,
        own_scope=scopes.get(agency_id, "none"),
        every_agency_scope=scopes.get(ALL_AGENCIES, "none"),
    )


def preselected_scope(page: LinkPage) -> Scope:
    """The choice the link's form starts on.

    A link carries no intent of its own (links.py signs the number's hash and the agency, nothing
    else), and every message shows it as its 수신거부 link: a citizen who still receives everything
    from this agency came to opt out, so the form starts on the mildest opt-out (홍보만 받지 않기);
    one who has opted out starts on the choice in force (the form's target is this agency by
    default), so opting back in (다시 받기) is always a deliberate pick.
    """
    return page.own_scope if page.own_scope != "none" else "promo"


NoticeOutcome = Literal["queued", "not_sent", "unchanged"]


@dataclass(frozen=True, slots=True)
class ChangeResult:
    change: OptoutChange
    target_name: str
    notice: NoticeOutcome


async def apply_change(
    session: AsyncSession,
    vault: PhoneVault,
    *,
    subject: OptoutSubject,
    to_scope: Scope,
    via: Literal["link", "admin"],
    now: datetime,
    admin_id: int | None = None,
    ip_hash: str | None = None,
    user_agent_hash: str | None = None,
    number_e164: str | None = None,
    sender_agency_id: int | None = None,
    reason: str | None = None,
) -> ChangeResult:
    """Change a citizen's choice and queue the legally required notice of the result.

    The notice (정보통신망법 §50 ⑦) goes by AlimTalk, or SMS/LMS failover, to the number the
    admin was given, else to the newest copy a call or message still keeps. Without one no notice
    can be sent: the log says so, and the missing `optout-<history id>` outbox row records it.
    It is sent by the agency of the choice, else `sender_agency_id` (the agency whose link the
    citizen used), else the agency that last called.

    When the number is known (given, or a copy kept), the citizen's rows still indexed under an
    older key version's hash are first moved to the current one (lettering/keyring), so the change
    applies to the choice actually in force; and the number is kept in the register while the
    opt-out is in force (a key rotation must be able to re-index it).
    """
    retained = await retained_number(session, subject.callee_hash)
    number = number_e164 if number_e164 is not None else open_number(vault, retained)
    callee_hash = subject.callee_hash
    if number is not None:
        callee_hash = await keyring_service.adopt(session, vault, number)
    change = await change_optout(
        session,
        callee_hash=callee_hash,
        agency_id=subject.agency_id,
        to_scope=to_scope,
        via=via,
        now=now,
        admin_id=admin_id,
        ip_hash=ip_hash,
        user_agent_hash=user_agent_hash,
        reason=reason,
    )
    target_name = EVERY_AGENCY
    if subject.agency_id != ALL_AGENCIES:
        target_name, _ = await directory_service.names(session, subject.agency_id, None)
    if not change.changed:
        return ChangeResult(change, target_name, "unchanged")
    sender = subject.agency_id or sender_agency_id or (retained.agency_id if retained else None)
    sealed: tuple[bytes, int] | None = None
    if number is not None:
        fresh = vault.seal(number)
        sealed = (fresh.ciphertext, fresh.key_version)
        await keep_number(
            session,
            callee_hash=callee_hash,
            ciphertext=fresh.ciphertext,
            key_version=fresh.key_version,
            agency_id=sender,
            contact_at=retained.at if retained is not None and number_e164 is None else now,
        )
    notice: NoticeOutcome = "not_sent"
    if sealed is not None and sender:
        sender_name, _ = await directory_service.names(session, sender, None)
        await kakao_service.enqueue_optout_notice(
            session,
            agency_id=sender,
            recipient_hash=callee_hash,
            recipient_ciphertext=sealed[0],
            key_version=sealed[1],
            variables={
                "agency": sender_name,
                "change": f"{target_name} - {_CHANGE_TEXT[to_scope]}",
                "changed_at": seoul_text(now),
            },
            now=now,
            idempotency_key=f"optout-{change.history_id}",
        )
        notice = "queued"
    # The row is append-only; its notice outcome is part of the change.
    await repository.set_notice(session, change.history_id, notice)
    log.info(
        "opt-out %s agency %s: %s -> %s via %s (history %s); notice %s",
        hash_prefix(callee_hash),
        subject.agency_id,
        change.from_scope,
        change.to_scope,
        via,
        change.history_id,
        "queued" if notice == "queued" else "NOT sent: no number (or sending agency) to send it with",
    )
    return ChangeResult(change, target_name, notice)


def relay_hooks() -> RelayHooks:
    """What the AlimTalk relay reads and writes of the service: agency codes, opt-outs, links and
    the number register (kakao_fallback imports only lettering.core, so it is handed these)."""

    def card_news_url(page: str, link_secret: str, callee_hash: str, agency_id: int) -> str:
        # The carrier's post-call link form (lettering/dispatch): the page and the citizen's token.
        return f"{page}?t={optout_token([link_secret], callee_hash, agency_id)}"

    return RelayHooks(
        agency_codes=directory_service.agency_codes,
        scope_now=scope_now,
        optout_url=optout_url,
        keep_number=keep_number,
        card_news_url=card_news_url,
        count_impression=campaign_service.count_delivered_impression,
        passed=metrics.count_relay_pass,
    )


__all__ = [
    "ALL_AGENCIES",
    "ChangeResult",
    "EVERY_AGENCY",
    "FORM_SALT",
    "LINK_SALT",
    "LinkPage",
    "MAX_TOKEN_LENGTH",
    "NoticeOutcome",
    "OptoutChange",
    "OptoutIndex",
    "OptoutSubject",
    "RetainedNumber",
    "SCOPES",
    "SNAPSHOT_NAME",
    "Scope",
    "apply_change",
    "as_scope",
    "build_optout_index",
    "change_optout",
    "check_form_token",
    "current_scopes",
    "forget_numbers",
    "form_token",
    "history_of",
    "keep_number",
    "link_keys",
    "link_page",
    "open_number",
    "preselected_scope",
    "optout_token",
    "optout_url",
    "optout_url_for",
    "read_optout_token",
    "relay_hooks",
    "retained_number",
    "SCOPE_LABELS",
    "scope_now",
    "seoul_text",
]


async def changes_per_day(
    session: AsyncSession, agency_id: int, since: datetime | None, until: datetime | None
) -> list[tuple[str, int, int]]:
    """(Seoul day, opt-outs, opt-ins) applying to an agency in [since, until): the dashboard's chart."""
    return await repository.changes_per_day(session, agency_id, since, until)


async def optouts_per_agency(
    session: AsyncSession, since: datetime | None, until: datetime | None
) -> dict[int, int]:
    """Agency id -> opt-outs in [since, until) (ALL_AGENCIES: those made for every agency)."""
    return {a: out for a, (out, _) in (await repository.changes_per_agency(session, since, until)).items()}
