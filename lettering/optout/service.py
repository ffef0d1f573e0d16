"""Opt-out state as seen by the hot path: an immutable index keyed by the callee's keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from cryptography.exceptions import InvalidTag
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from kakao_fallback import service as kakao_service
from kakao_fallback.relay import RelayHooks
from lettering.calls import service as call_service
from lettering.core.clock import SEOUL
from lettering.core.db import utcnow
from lettering.core.db_upsert import insert_for
from lettering.core.phone import PhoneVault, hash_prefix, mask_national
from lettering.core.settings import Settings
from lettering.directory import service as directory_service
from lettering.keyring import service as keyring_service
from lettering.optout import repository
from lettering.optout.models import ALL_AGENCIES, CitizenNumber, OptoutHistory, OptoutState
from lettering.snapshots.service import bump

log = logging.getLogger(__name__)

SNAPSHOT_NAME = repository.SNAPSHOT_NAME
Scope = Literal["none", "promo", "all"]
SCOPES: tuple[Scope, ...] = ("none", "promo", "all")
_RANK: dict[str, int] = {"none": 0, "promo": 1, "all": 2}


@dataclass(frozen=True, slots=True)
class OptoutIndex:
    """(callee_hash, agency_id or 0 for every agency) -> scope; only rows with a scope are kept."""

    scopes: Mapping[tuple[str, int], str] = field(default_factory=lambda: MappingProxyType({}))

    def scope_for(self, callee_hash: str, agency_id: int) -> Scope:
        """The strictest of the agency's and the platform-wide choice."""
        own = self.scopes.get((callee_hash, agency_id), "none")
        platform = self.scopes.get((callee_hash, ALL_AGENCIES), "none")
        strictest = own if _RANK[own] >= _RANK[platform] else platform
        return "all" if strictest == "all" else "promo" if strictest == "promo" else "none"

    def scope_for_any(self, callee_hashes: Sequence[str], agency_id: int) -> Scope:
        """The strictest choice found under any of the citizen's hashes (one per key version)."""
        scopes = [self.scope_for(h, agency_id) for h in callee_hashes]
        return max(scopes, key=lambda s: _RANK[s], default="none")


async def build_optout_index(session: AsyncSession) -> OptoutIndex:
    """Load every opt-out currently in force."""
    rows = await session.execute(
        select(OptoutState.callee_hash, OptoutState.agency_id, OptoutState.scope).where(  # type: ignore[call-overload]
            OptoutState.scope != "none"
        )
    )
    return OptoutIndex(scopes=MappingProxyType({(h, a): s for h, a, s in rows.all()}))


async def scope_now(session: AsyncSession, callee_hash: str, agency_id: int) -> Scope:
    """The opt-out in force right now, read from the database (senders off the hot path)."""
    rows = await session.execute(
        select(OptoutState.agency_id, OptoutState.scope).where(  # type: ignore[call-overload]
            OptoutState.callee_hash == callee_hash, col(OptoutState.agency_id).in_([agency_id, ALL_AGENCIES])
        )
    )
    index = OptoutIndex(scopes=MappingProxyType({(callee_hash, a): s for a, s in rows.all()}))
    return index.scope_for(callee_hash, agency_id)


# -- links ----------------------------------------------------------------------------------------
#
# A link token is itsdangerous' URL-safe timed signature over [keyed hash, agency id] (salt
# "optout"): the number is never in it, only the HMAC the service already looks citizens up by.
# It is signed with `link_secret`; `link_secrets_old` still verify, so keys rotate without
# breaking links already sent. The confirmation form carries a second signature (salt
# "optout-form") over a digest of the link token with a short expiry: a POST needs a form that
# this service rendered for this very link shortly before.

LINK_SALT = "optout"
FORM_SALT = "optout-form"
MAX_TOKEN_LENGTH = 1000
_HASH = re.compile(r"^[0-9a-f]{64}$")
# What the page is built for when the link is no good: the same queries run for it, so a bad
# link takes as long as a good one.
_NOBODY = ("0" * 64, -1)


@dataclass(frozen=True, slots=True)
class OptoutSubject:
    """Whom a link speaks for: the keyed hash of the number and the agency (0: every agency)."""

    callee_hash: str
    agency_id: int


def link_keys(settings: Settings) -> list[str]:
    """The link secrets, newest first: the first signs, all of them verify."""
    return [
        settings.link_secret.get_secret_value(),
        *(k.get_secret_value() for k in settings.link_secrets_old),
    ]


def _serializer(keys: Sequence[str], salt: str) -> URLSafeTimedSerializer:
    if not keys:
        raise ValueError("no link secret configured")
    # itsdangerous signs with the last key of the list and verifies with any of them.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=salt)


def optout_token(keys: Sequence[str], callee_hash: str, agency_id: int) -> str:
    """The signed token of an opt-out link."""
    return str(_serializer(keys, LINK_SALT).dumps([callee_hash, agency_id]))


def optout_url_for(public_base_url: str, keys: Sequence[str], callee_hash: str, agency_id: int) -> str:
    """The citizen's opt-out link, signed with the newest of `keys`."""
    return f"{public_base_url.rstrip('/')}/o/{optout_token(keys, callee_hash, agency_id)}"


def optout_url(public_base_url: str, link_secret: str, callee_hash: str, agency_id: int) -> str:
    """The citizen's opt-out link: a signed token naming the keyed hash, never the number."""
    return optout_url_for(public_base_url, [link_secret], callee_hash, agency_id)


def read_optout_token(keys: Sequence[str], token: str, max_age_s: int) -> OptoutSubject | None:
    """Whom a link speaks for; None for a tampered, expired, foreign-key or malformed token."""
    try:
        data = _serializer(keys, LINK_SALT).loads(token[:MAX_TOKEN_LENGTH], max_age=max_age_s)
    except BadData:
        return None
    if len(token) > MAX_TOKEN_LENGTH or not isinstance(data, list) or len(data) != 2:
        return None
    callee_hash, agency_id = data
    if not isinstance(callee_hash, str) or not _HASH.match(callee_hash):
        return None
    if not isinstance(agency_id, int) or isinstance(agency_id, bool) or agency_id < 0:
        return None
    return OptoutSubject(callee_hash, agency_id)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def form_token(keys: Sequence[str], token: str) -> str:
    """The hidden field of the confirmation form: bound to this link, valid for a short time."""
    return str(_serializer(keys, FORM_SALT).dumps(_token_digest(token)))


def check_form_token(keys: Sequence[str], token: str, sent: str | None, max_age_s: int) -> bool:
    """Whether `sent` is a form token this service made for this link within `max_age_s`."""
    if not sent or len(sent) > 200:
        return False
    try:
        bound = _serializer(keys, FORM_SALT).loads(sent, max_age=max_age_s)
    except BadData:
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, _token_digest(token))


# -- the state and its history --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OptoutChange:
    callee_hash: str
    agency_id: int
    from_scope: Scope
    to_scope: Scope
    history_id: int | None  # None when nothing changed

    @property
    def changed(self) -> bool:
        return self.from_scope != self.to_scope


def as_scope(value: str) -> Scope | None:
    """`value` as a scope, or None if it is not one."""
    return next((scope for scope in SCOPES if scope == value), None)


def _scope(value: str | None) -> Scope:
    return "all" if value == "all" else "promo" if value == "promo" else "none"


async def current_scopes(session: AsyncSession, callee_hash: str, agency_id: int) -> dict[int, Scope]:
    """The citizen's own choices for this agency and for every agency (agency id -> scope)."""
    rows = await session.execute(
        select(OptoutState.agency_id, OptoutState.scope).where(  # type: ignore[call-overload]
            OptoutState.callee_hash == callee_hash,
            col(OptoutState.agency_id).in_(sorted({agency_id, ALL_AGENCIES})),
        )
    )
    return {int(a): _scope(s) for a, s in rows.all()}


async def change_optout(
    session: AsyncSession,
    *,
    callee_hash: str,
    agency_id: int,
    to_scope: Scope,
    via: Literal["link", "admin"],
    now: datetime,
    admin_id: int | None = None,
    ip_hash: str | None = None,
    user_agent_hash: str | None = None,
    reason: str | None = None,
) -> OptoutChange:
    """Set the citizen's choice for one agency (0: all); history row and snapshot bump when it changes.

    Runs in the caller's transaction (only flushes): the state, its history row and the bump that
    makes every worker apply it within seconds commit together or not at all.
    """
    if to_scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    table = OptoutState.__table__  # type: ignore[attr-defined]
    # Make sure the row exists, then lock it: two changes at once are applied one after the other,
    # and each history row names the scope it really changed from.
    inserted = await session.execute(
        insert_for(session, table)
        .values(callee_hash=callee_hash, agency_id=agency_id, scope="none", updated_at=now)
        .on_conflict_do_nothing(index_elements=[table.c.callee_hash, table.c.agency_id])
    )
    state = (
        await session.execute(
            select(OptoutState)
            .where(col(OptoutState.callee_hash) == callee_hash, col(OptoutState.agency_id) == agency_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    from_scope = _scope(state.scope)
    if from_scope == to_scope:
        if inserted.rowcount:  # type: ignore[attr-defined]
            # Nothing changes: leave no row behind (a fresh "none" row would look like a newer
            # choice than one kept under an older key version's hash, see lettering/keyring).
            await session.delete(state)
            await session.flush()
        return OptoutChange(callee_hash, agency_id, from_scope, to_scope, None)
    state.scope = to_scope
    state.updated_at = now
    history = OptoutHistory.model_validate(
        {
            "callee_hash": callee_hash,
            "agency_id": agency_id,
            "from_scope": from_scope,
            "to_scope": to_scope,
            "via": via,
            "admin_id": admin_id,
            "ip_hash": ip_hash,
            "user_agent_hash": user_agent_hash,
            "reason": reason,
            "created_at": now,
        }
    )
    session.add(history)
    await bump(session, SNAPSHOT_NAME)
    await session.flush()
    return OptoutChange(callee_hash, agency_id, from_scope, to_scope, history.id)


async def history_of(session: AsyncSession, callee_hash: str) -> list[OptoutHistory]:
    """Every change of one citizen's choices, oldest first."""
    rows = await session.execute(
        select(OptoutHistory)
        .where(col(OptoutHistory.callee_hash) == callee_hash)
        .order_by(col(OptoutHistory.id))
    )
    return list(rows.scalars())


# -- the citizen's number, while something still keeps it --------------------------------------


@dataclass(frozen=True, slots=True)
class RetainedNumber:
    ciphertext: bytes
    key_version: int
    agency_id: int | None
    at: datetime


async def retained_number(session: AsyncSession, callee_hash: str) -> RetainedNumber | None:
    """The newest encrypted copy of this citizen's number kept by a call, a message or the register."""
    kept = await session.execute(
        select(  # type: ignore[call-overload]
            CitizenNumber.ciphertext,
            CitizenNumber.key_version,
            CitizenNumber.agency_id,
            CitizenNumber.last_contact_at,
        ).where(col(CitizenNumber.callee_hash) == callee_hash)
    )
    found = [
        RetainedNumber(bytes(row[0]), int(row[1]), row[2], row[3])
        for row in (
            await call_service.latest_callee_ciphertext(session, callee_hash),
            await kakao_service.latest_recipient_ciphertext(session, callee_hash),
            kept.first(),
        )
        if row is not None
    ]
    return max(found, key=lambda r: r.at) if found else None


async def keep_number(
    session: AsyncSession,
    *,
    callee_hash: str,
    ciphertext: bytes,
    key_version: int,
    agency_id: int | None,
    contact_at: datetime,
) -> None:
    """Keep (or refresh) a citizen's encrypted number in the register; the newest contact wins."""
    table = CitizenNumber.__table__  # type: ignore[attr-defined]
    await session.execute(
        insert_for(session, table)
        .values(
            callee_hash=callee_hash,
            ciphertext=ciphertext,
            key_version=key_version,
            agency_id=agency_id,
            last_contact_at=contact_at,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=[table.c.callee_hash])
    )
    await session.execute(
        update(CitizenNumber)
        .where(col(CitizenNumber.callee_hash) == callee_hash, col(CitizenNumber.last_contact_at) < contact_at)
        .values(
            ciphertext=ciphertext, key_version=key_version, agency_id=agency_id, last_contact_at=contact_at
        )
    )


async def forget_numbers(session: AsyncSession, older_than: datetime, *, batch: int = 1000) -> int:
    """Delete register rows last contacted before `older_than` that no opt-out in force needs."""
    needed = select(col(OptoutState.callee_hash)).where(col(OptoutState.scope) != "none")
    ids = (
        (
            await session.execute(
                select(CitizenNumber.id)  # type: ignore[call-overload]
                .where(
                    col(CitizenNumber.last_contact_at) < older_than,
                    col(CitizenNumber.callee_hash).not_in(needed),
                )
                .limit(batch)
            )
        )
        .scalars()
        .all()
    )
    if not ids:
        return 0
    result = await session.execute(delete(CitizenNumber).where(col(CitizenNumber.id).in_(list(ids))))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def open_number(vault: PhoneVault, retained: RetainedNumber | None) -> str | None:
    """The E.164 number of a retained copy, or None (none kept, or sealed under a retired key)."""
    if retained is None:
        return None
    try:
        return vault.open(retained.ciphertext, retained.key_version)
    except (InvalidTag, ValueError):
        return None


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
    history = await session.get(OptoutHistory, change.history_id)
    if history is not None:  # the row is append-only; its notice outcome is part of the change
        history.notice = notice
        await session.flush()
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
    return RelayHooks(
        agency_codes=directory_service.agency_codes,
        scope_now=scope_now,
        optout_url=optout_url,
        keep_number=keep_number,
    )
