"""Retention of personal data: the scheduled sweep that forgets what the service no longer needs.

- A citizen's encrypted number stays on a call only while a message may still need it: once the
  ring window and the AlimTalk expiry have passed and no outbox row of the call is pending
  (queued, sending, accepted), the ciphertext is dropped from the call (the keyed hash stays).
  One copy per citizen moves to the register (citizen_number) for as long as an opt-out link
  sent to the number still works (`optout_link_max_age_days`): using the link must be notified
  to that number (정보통신망법 §50 ⑦). The register keeps it longer only while an opt-out is in
  force (a key rotation must re-index it). Hash aliases of retired keys go with the links.
- Call records, finished delivery records (kakao_message) and processed webhook deliveries are
  deleted after the retention period (setting `retention_days`, 90 days by default).
- The access log is append-only and kept two years (`access_log_retention_days`): only rows
  older than that are ever deleted. Opt-out history is kept (it proves a citizen's choice).
- Spoofing reports keep their counts; their hashed client IP goes after the retention period.
- Expired console sessions are deleted (they hold a token hash and a CSRF token, nothing else).

Each step runs in short transactions of at most `batch` rows, so a long backlog never holds
locks for long, and the whole sweep is idempotent (a second run finds nothing to do).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback import service as kakao_service
from lettering.audit import service as audit_service
from lettering.calls import service as call_service
from lettering.core.db import session_scope
from lettering.core.settings import ACCESS_LOG_RETENTION_DAYS
from lettering.keyring import service as keyring_service
from lettering.optout import service as optout_service
from lettering.users import service as user_service
from lettering.verify import service as verify_service
from lettering.webhook import service as webhook_service

log = logging.getLogger(__name__)

ACCESS_LOG_DAYS = ACCESS_LOG_RETENTION_DAYS
BATCH = 1000


@dataclass(slots=True)
class PurgeReport:
    numbers_dropped: int = 0
    register_forgotten: int = 0
    aliases_deleted: int = 0
    sessions_deleted: int = 0
    calls_deleted: int = 0
    messages_deleted: int = 0
    webhook_deliveries_deleted: int = 0
    access_log_deleted: int = 0
    report_ips_dropped: int = 0


async def drop_numbers(
    sessions: async_sessionmaker[AsyncSession], older_than: datetime, *, batch: int = BATCH
) -> int:
    """Drop the ciphertext of calls made before `older_than` that no pending message needs."""
    dropped = 0
    after = 0
    while True:
        async with session_scope(sessions) as session:
            ids = await call_service.calls_keeping_numbers(session, older_than, batch, after)
            if not ids:
                return dropped
            pending = await kakao_service.calls_with_messages(session, ids, pending_only=True)
            done = [i for i in ids if i not in pending]
            # Same transaction: the number reaches the register before it leaves the call.
            for callee_hash, ciphertext, version, agency_id, at in await call_service.callee_numbers(
                session, done
            ):
                await optout_service.keep_number(
                    session,
                    callee_hash=callee_hash,
                    ciphertext=ciphertext,
                    key_version=version,
                    agency_id=agency_id,
                    contact_at=at,
                )
            dropped += await call_service.drop_callee_numbers(session, done)
        after = ids[-1]


async def delete_calls(
    sessions: async_sessionmaker[AsyncSession], older_than: datetime, *, batch: int = BATCH
) -> int:
    """Delete calls recorded before `older_than` with their attempts, except those a message still names."""
    deleted = 0
    after = 0
    while True:
        async with session_scope(sessions) as session:
            ids = await call_service.calls_made_before(session, older_than, batch, after)
            if not ids:
                return deleted
            named = await kakao_service.calls_with_messages(session, ids)
            deleted += await call_service.delete_calls(session, [i for i in ids if i not in named])
        after = ids[-1]


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    retention_days: int,
    *,
    ring_window_s: float = 6.0,
    notice_expiry: timedelta = kakao_service.NOTICE_EXPIRY,
    access_log_days: int = ACCESS_LOG_DAYS,
    link_max_age_days: int = 90,
    batch: int = BATCH,
) -> PurgeReport:
    """One sweep of the retention rules as of `now` (see the module docstring); what it removed."""
    report = PurgeReport()
    cutoff = now - timedelta(days=retention_days)
    report.numbers_dropped = await drop_numbers(
        sessions, now - timedelta(seconds=ring_window_s) - notice_expiry, batch=batch
    )
    async with session_scope(sessions) as session:
        # Finished messages first: a call is deleted only once no message names it any more.
        report.messages_deleted = await kakao_service.purge_messages(session, cutoff)
    report.calls_deleted = await delete_calls(sessions, cutoff, batch=batch)
    async with session_scope(sessions) as session:
        report.webhook_deliveries_deleted = await webhook_service.purge_deliveries(session, cutoff)
        report.access_log_deleted = await audit_service.purge_access_log(
            session, now - timedelta(days=access_log_days)
        )
        report.report_ips_dropped = await verify_service.forget_report_ips(session, cutoff)
        report.sessions_deleted = await user_service.purge_expired_sessions(session, now=now)
    link_cutoff = now - timedelta(days=link_max_age_days)
    while True:
        async with session_scope(sessions) as session:
            forgotten = await optout_service.forget_numbers(session, link_cutoff, batch=batch)
            report.register_forgotten += forgotten
            report.aliases_deleted += await keyring_service.purge_aliases(session, link_cutoff)
        if forgotten < batch:
            break
    if any(asdict(report).values()):
        log.info("retention sweep: %s", ", ".join(f"{k} {v}" for k, v in asdict(report).items() if v))
    return report
