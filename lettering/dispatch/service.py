"""Dispatch: push one call's lettering through the carriers and record how it ended.

Rules of the hot path kept here: the PBX gets its answer when a carrier accepts or when its hold
budget runs out, whichever is first; the push goes on past that (never past the ring window) and
its result is still recorded; a fallback is written as an outbox row in the same transaction as
the call's final outcome, before anything tries to send it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import service as campaign_service
from campaigns.selection import ActiveCampaign
from carriers import routes as carrier_routes
from carriers.base import Lettering, Outcome, PostCall
from carriers.lgu import LguReport
from carriers.registry import Carriers
from carriers.routing import RouteResult, route_push
from kakao_fallback import service as kakao_service
from lettering.calls import service as call_service
from lettering.calls.service import CallRecordView, Told
from lettering.core.db import GroupCommitter, utcnow
from lettering.core.phone import SealedNumber, hash_prefix
from lettering.core.settings import KakaoSettings
from lettering.decision.service import Decision, FallbackPolicy, Identity, arm_of
from lettering.directory.service import DirectorySnapshot, guidance_for
from lettering.observability import metrics
from lettering.optout import service as optout_service
from lettering.optout.service import OptoutIndex

log = logging.getLogger(__name__)

FALLBACK_KIND = "identity_notice"
MISSED_CAUSES = frozenset({"no_answer", "rejected"})
# Why a call got no push because the service could not take it in time (shed at admission, or its
# ring window passed before a carrier could be asked): never recorded as a carrier failure.
OVERLOADED = "overloaded"
# A call whose push never got an outcome recorded (its process died in between), settled by a job
# once this long has passed since its setup (far past any ring window).
INTERRUPTED = "interrupted"
INTERRUPTED_AFTER = timedelta(minutes=2)


@dataclass(frozen=True, slots=True)
class Settled:
    """How a push ended, in the PBX response's terms."""

    lettering: str  # accepted | fallback | failed
    reason: str | None
    carrier: str | None
    fallback: str | None  # "alimtalk" or None


def settle(result: RouteResult, policy: FallbackPolicy) -> Settled:
    """Map the router's outcome and the agency's fallback policy to the PBX outcome."""
    carrier = result.final.carrier if result.final is not None else None
    if result.outcome == "accepted":
        return Settled("accepted", None, result.subscriber_carrier, None)
    if result.outcome == "unsupported_device":
        reason, wanted = "unsupported_device", policy.unsupported_device
        carrier = result.subscriber_carrier
    elif result.outcome == "no_subscriber":
        reason, wanted, carrier = "no_subscriber", policy.no_subscriber, None
    elif result.outcome == "rejected":
        reason, wanted = "carrier_rejected", policy.carrier_failure
    elif result.outcome == "expired":
        # Nothing was sent: the service was too late, no carrier failed.
        reason, wanted, carrier = OVERLOADED, False, None
    elif result.outcome == "late":
        # Sent, but the service was too late to see the answer: it may be on the phone, and no
        # carrier failed. No notice either, as for `expired`: the phone may already show who called.
        reason, wanted = OVERLOADED, False
    else:
        reason, wanted = "carrier_failure", policy.carrier_failure
        carrier = failing_carrier(result)
    if wanted:
        return Settled("fallback", reason, carrier, "alimtalk")
    return Settled("failed", reason, carrier, None)


def carried_content(campaign: ActiveCampaign, result: RouteResult) -> bool:
    """Whether the accepted push put the campaign on the phone: the accepting carrier was sent its
    content (a content ref, an inline image or the post-call link) and did not refuse it (the
    identity alone went again then)."""
    carrier = result.subscriber_carrier
    if result.outcome != "accepted" or carrier is None:
        return False
    if any(refused == carrier for refused, _ in result.refused_content):
        return False
    return bool(campaign.content_refs.get(carrier) or campaign.inline.get(carrier) or campaign.post_call_url)


def card_news_of(campaign: ActiveCampaign | None) -> ActiveCampaign | None:
    """The campaign whose card-news page an AlimTalk notice carries as a button, or None (no
    campaign, or its post-call link is not the card news); the citizen's token is added when sent."""
    if campaign is None or not campaign.post_call_url or "/c/" not in campaign.post_call_url:
        return None
    return campaign


def failing_carrier(result: RouteResult) -> str | None:
    """The carrier whose push failed last, or None: a carrier that answered not-subscriber is not
    the callee's (an SKT subscriber's failed push, then KT's and LG U+'s "not ours", is SKT's)."""
    for push in reversed(result.attempts):
        if push.outcome is not Outcome.not_subscriber:
            return push.carrier
    return None


@dataclass(frozen=True, slots=True)
class PushJob:
    record_id: int
    public_id: str
    agency_id: int
    extension: str
    callee_e164: str
    sealed: SealedNumber
    decision: Decision
    deadline: float  # monotonic: the end of the ring window
    verify_code: str = ""  # the call's code, shown on the phone for the check at /verify


@dataclass(frozen=True, slots=True)
class Pushed:
    """A push's outcome, before it is recorded; `result` is None when the service itself failed."""

    settled: Settled
    result: RouteResult | None
    learned_at: datetime


class Dispatcher:
    """Pushes a call's lettering through the carriers and records how it ended.

    The push (network) and its record (database) are separate steps: the record is a unit of the
    caller's group commit, so the push's outcome, its attempts, the learned route, a fallback's
    outbox row and what the PBX was told are written in one transaction.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        carriers: Carriers,
        *,
        callback_url: str,
        learned_route_days: int,
        directory: Callable[[], DirectorySnapshot],
        kakao: KakaoSettings | None = None,
        optout: Callable[[], OptoutIndex] | None = None,
        media: Callable[[str], bytes | None] | None = None,
        link_keys: Sequence[str] = (),
        committer: GroupCommitter | None = None,
        content_refused: Callable[[Connection, str, str], object] | None = None,
    ) -> None:
        """`content_refused(conn, carrier, content ref)`: marks campaign content a carrier refused
        at push time for registration again (the content-sync job's work), in the record's
        transaction."""
        self._sessions = sessions
        self._commit = committer or GroupCommitter(sessions)
        self._carriers = carriers
        self._callback_url = callback_url
        self._route_days = learned_route_days
        self._directory = directory
        self._kakao = kakao or KakaoSettings()
        self._optout = optout or OptoutIndex
        self._media = media
        self._link_keys = list(link_keys)
        self._content_refused = content_refused
        # Refused content already warned about by this process: one WARNING per content, not per call.
        self._warned_content: set[tuple[str, str]] = set()

    def _post_call(self, campaign: ActiveCampaign | None, job: PushJob) -> PostCall | None:
        """The after-call link; the card-news page gets this citizen's opt-out token (never the number)."""
        if campaign is None or not campaign.post_call_url:
            return None
        url = campaign.post_call_url
        if self._link_keys and "/c/" in url:
            token = optout_service.optout_token(self._link_keys, job.sealed.hash_hex, job.agency_id)
            url = f"{url}?t={token}"
        return PostCall(campaign.post_call_title, url)

    def _inline_image(self, sha256: str | None) -> bytes | None:
        """The bytes of a rendition sent inline (LG U+), from the media store (cached by the store)."""
        if sha256 is None or self._media is None:
            return None
        return self._media(sha256)

    def learned_carrier(self, conn: Connection, sealed: SealedNumber) -> str | None:
        """The carrier that last knew this callee (read in the transaction that records the call)."""
        return carrier_routes.learned_carrier(conn, sealed.all_hashes, utcnow())

    async def push(self, job: PushJob, learned: str | None) -> Pushed:
        """Push the lettering within the ring window; never raises (a failure here is an outcome)."""
        now = utcnow()
        try:
            identity = job.decision.identity
            assert identity is not None
            campaign = job.decision.campaign
            lettering = Lettering(
                request_id=job.public_id,
                caller=job.decision.caller_e164 or "",
                callee=job.callee_e164,
                agency_name=identity.agency_name,
                department_name=identity.department_name,
                guidance=identity.guidance,
                verify_code=job.verify_code,
                # Only content the carrier has approved is in the snapshot; without it, identity only.
                content_refs=dict(campaign.content_refs) if campaign else {},
                inline_image_jpeg=self._inline_image(campaign.inline.get("lgu")) if campaign else None,
                post_call=self._post_call(campaign, job),
                callback_url=self._callback_url,
            )
            result = await route_push(
                self._carriers.adapters, self._carriers.order, learned, lettering, job.deadline
            )
        except Exception:
            log.exception("push for call %s failed inside the service; recording it as failed", job.public_id)
            policy = job.decision.fallback
            if policy.carrier_failure:
                return Pushed(Settled("fallback", "internal_error", None, "alimtalk"), None, now)
            return Pushed(Settled("failed", "internal_error", None, None), None, now)
        metrics.observe_pushes(result.attempts)
        self._warn_refused_content(result, job)
        return Pushed(settle(result, job.decision.fallback), result, now)

    def _warn_refused_content(self, result: RouteResult, job: PushJob) -> None:
        for carrier, ref in result.refused_content:
            if (carrier, ref) in self._warned_content:
                continue
            self._warned_content.add((carrier, ref))
            campaign = job.decision.campaign
            log.warning(
                "%s refused campaign %s content %s (not registered or not approved there); calls get "
                "the identity alone until it is registered again",
                carrier,
                campaign.id if campaign else "-",
                ref or "-",
            )

    def record(self, conn: Connection, job: PushJob, pushed: Pushed, told: Told | None) -> Settled:
        """Record how the push ended (and what the PBX was told), in the caller's transaction: the
        campaign's impression is counted here, only when the phone was sent its content."""
        settled, result = pushed.settled, pushed.result
        answer: dict[str, object] = (
            {"lettering": told.lettering, "reason": told.reason, "elapsed_ms": told.elapsed_ms}
            if told
            else {}
        )
        if result is None:
            call_service.update_call(
                conn,
                job.record_id,
                final_outcome=settled.lettering,
                final_reason=settled.reason,
                fallback=settled.fallback,
                **answer,
            )
            if settled.fallback is not None:
                self._queue_fallback(conn, job, "internal_error")
            return settled
        # Only an accepted LG U+ push can have been reported on before it is recorded.
        lgu = settled.carrier == "lgu"
        shown = call_service.display_result_of(conn, job.record_id) if lgu else None
        call_service.add_attempts(conn, job.record_id, result.attempts, shown)
        notes = [note for push in result.attempts for note in push.notes]
        call_service.update_call(
            conn,
            job.record_id,
            final_outcome=settled.lettering,
            final_reason=settled.reason,
            carrier=settled.carrier,
            fallback=settled.fallback,
            notes=json.dumps(notes, ensure_ascii=False),
            **answer,
        )
        self._learn(conn, job, pushed, result)
        if settled.fallback is not None:
            self._queue_fallback(conn, job, settled.reason or "")
        elif lgu and (
            shown == "UNSUPPORTED"
            # A report committed while this update waited for the row (PostgreSQL) is seen now.
            or (shown is None and call_service.display_result_of(conn, job.record_id) == "UNSUPPORTED")
        ):
            # The LG U+ report came first: UNSUPPORTED then still means fallback.
            settled = self._late_unsupported(conn, job.record_id) or settled
        self._count_impression(conn, job, pushed, settled)
        log.info(
            "call %s callee %s: %s%s via %s in %d attempt(s)",
            job.public_id,
            hash_prefix(job.sealed.hash_hex),
            settled.lettering,
            f" ({settled.reason})" if settled.reason else "",
            settled.carrier or "-",
            len(result.attempts),
        )
        return settled

    @staticmethod
    def _count_impression(conn: Connection, job: PushJob, pushed: Pushed, settled: Settled) -> None:
        """The campaign was shown: an accepted push that carried its content (the impression
        upsert of the call path, in the unit that records the outcome; caps read these counts)."""
        campaign, result = job.decision.campaign, pushed.result
        if campaign is None or result is None or settled.lettering != "accepted":
            return
        if carried_content(campaign, result):
            campaign_service.count_impression(conn, campaign.id, job.sealed.hash_hex, pushed.learned_at)

    def _queue_fallback(self, conn: Connection, job: PushJob, reason: str) -> None:
        """The pushed call's AlimTalk notice (with its campaign's card news, if it has one)."""
        decision = job.decision
        self.queue_notice(
            conn, job.record_id, job.agency_id, reason, decision.identity, campaign=decision.campaign
        )

    def _learn(self, conn: Connection, job: PushJob, pushed: Pushed, result: RouteResult) -> None:
        """What the push taught: content a carrier refused (to register again), the callee's route."""
        if self._content_refused is not None:
            for carrier, ref in dict.fromkeys(result.refused_content):
                self._content_refused(conn, carrier, ref)
        if result.subscriber_carrier is not None:
            carrier_routes.learn_route(
                conn, job.sealed.hash_hex, result.subscriber_carrier, pushed.learned_at, self._route_days
            )
        elif result.forget_learned:
            carrier_routes.forget_route(conn, job.sealed.hash_hex)

    def queue_notice(
        self,
        conn: Connection,
        record_id: int,
        agency_id: int,
        reason: str,
        identity: Identity | None,
        *,
        kind: str = FALLBACK_KIND,
        campaign: ActiveCampaign | None = None,
    ) -> bool:
        """The AlimTalk notice of this call (at most one per call), in the caller's transaction.
        The call's campaign with post-call card news goes with it as a button (the relay adds the
        citizen's token and counts the impression once the message is delivered)."""
        record = call_service.get_call_in(conn, record_id)
        assert record is not None
        assert record.callee_hash is not None
        card_news = card_news_of(campaign) if kind == FALLBACK_KIND else None
        return kakao_service.queue_call_notice(
            conn,
            call_record_id=record_id,
            agency_id=agency_id,
            kind=kind,
            reason=reason,
            recipient_hash=record.callee_hash,
            recipient_ciphertext=record.callee_ciphertext,
            key_version=record.callee_key_version or 1,
            variables=kakao_service.call_notice_variables(
                agency=identity.agency_name if identity else "",
                department=identity.department_name if identity else "",
                guidance=identity.guidance if identity else "",
                caller_e164=record.caller_e164,
                occurred_at=record.occurred_at or record.created_at,
                verify_code=record.verify_code or "",
                campaign_id=card_news.id if card_news else None,
                card_news_url=card_news.post_call_url if card_news else None,
            ),
            now=utcnow(),
            expires_in=timedelta(seconds=self._kakao.max_age_s),
        )

    def _late_unsupported(self, conn: Connection, record_id: int) -> Settled | None:
        """Apply the fallback policy to an accepted LG U+ push whose phone could not show it."""
        record = call_service.get_call_in(conn, record_id)
        if record is None or record.agency_id is None or record.final_outcome != "accepted":
            return None
        directory = self._directory()
        agency = directory.agencies.get(record.agency_id)
        wanted = agency.fallback_unsupported if agency is not None else True
        settled = Settled(
            "fallback" if wanted else "failed",
            "unsupported_device",
            record.carrier,
            "alimtalk" if wanted else None,
        )
        changed = call_service.settle_accepted_call(
            conn,
            record_id,
            final_outcome=settled.lettering,
            final_reason=settled.reason,
            fallback=settled.fallback,
        )
        if not changed:
            return None
        if wanted:
            identity = self._identity_of(record.agency_id, record.extension)
            self.queue_notice(conn, record_id, record.agency_id, "unsupported_device", identity)
        return settled

    def _identity_of(self, agency_id: int, extension: str | None) -> Identity:
        """Who called, from the directory snapshot (department guidance, else the agency's default)."""
        directory = self._directory()
        agency = directory.agencies.get(agency_id)
        ext = directory.extension(agency_id, extension or "")
        return Identity(
            agency.name if agency else "",
            ext.department_name if ext else "",
            guidance_for(agency, ext)[0],
        )

    async def settle_interrupted(self, older_than: timedelta = INTERRUPTED_AFTER, batch: int = 500) -> int:
        """Job: give an outcome to calls whose push never got one recorded.

        A setup is recorded before its push and the push's outcome after it (two units, as
        DESIGN.md rule 3 wants); a process that dies in between leaves the call open, and a retry
        of its delivery replays `pending` without pushing again. Once the ring window is long
        past, such a call is settled as the agency's policy says for a carrier failure: `failed`,
        or `fallback` with its AlimTalk notice queued (reason `interrupted`), so no fallback is
        lost with the process. A citizen opted out of everything gets no notice.
        """
        before = utcnow() - older_than

        def unit(conn: Connection) -> int:
            settled = 0
            for record in call_service.open_setups(conn, before, batch):
                assert record.agency_id is not None
                assert record.callee_hash is not None
                agency = self._directory().agencies.get(record.agency_id)
                wanted = (
                    agency is not None
                    and record.arm != "holdout"  # never open (answered at once), and never a notice
                    and agency.fallback_carrier_failure
                    and record.callee_ciphertext is not None
                    and self._optout().scope_for(record.callee_hash, record.agency_id) != "all"
                )
                if not call_service.settle_open_call(
                    conn,
                    record.id,
                    final_outcome="fallback" if wanted else "failed",
                    final_reason=INTERRUPTED,
                    fallback="alimtalk" if wanted else None,
                ):
                    continue
                settled += 1
                if wanted:
                    identity = self._identity_of(record.agency_id, record.extension)
                    self.queue_notice(conn, record.id, record.agency_id, INTERRUPTED, identity)
            return settled

        settled = await self._commit.run(unit)
        if settled:
            log.warning("settled %d calls whose push outcome was never recorded (interrupted)", settled)
        return settled

    def falls_back_when_shed(self, agency_id: int) -> bool:
        """Whether the agency wants an AlimTalk notice for its calls shed at the admission limit."""
        agency = self._directory().agencies.get(agency_id)
        return agency is not None and agency.enabled and agency.fallback_shed

    def shed_notice(
        self, agency_id: int, extension: str, sealed: SealedNumber, call_id: str
    ) -> Identity | None:
        """Who called, for the AlimTalk notice of a shed call; None when none is to be sent (an
        extension the directory does not know, a citizen who opted out of everything, or a call
        of the holdout arm: a held-out call never gets an AlimTalk)."""
        directory = self._directory()
        if directory.extension(agency_id, extension) is None:
            return None
        if arm_of(directory, agency_id, extension, call_id) == "holdout":
            return None
        if self._optout().scope_for_any(sealed.all_hashes, agency_id) == "all":
            return None
        return self._identity_of(agency_id, extension)

    def directory_caller(self, agency_id: int, extension: str) -> str | None:
        """The extension's published number (E.164), as `decide` would present it."""
        ext = self._directory().extension(agency_id, extension)
        return ext.caller_e164 if ext is not None else None

    def missed_call(self, conn: Connection, record: CallRecordView) -> bool:
        """Queue the missed-call notice for an unanswered call when its agency has turned it on."""
        if record.end_cause not in MISSED_CAUSES or record.agency_id is None:
            return False
        if (
            record.callee_ciphertext is None
            or record.callee_hash is None
            or record.lettering in ("suppressed", "skipped")
            or record.arm == "holdout"
        ):
            return False  # setup not seen (yet), or a call that gets nothing (held out included)
        directory = self._directory()
        agency = directory.agencies.get(record.agency_id)
        account = self._kakao.account(agency.code) if agency else None
        if agency is None or account is None or not account.missed_call_notice:
            return False
        if self._optout().scope_for(record.callee_hash, record.agency_id) == "all":
            return False
        identity = self._identity_of(record.agency_id, record.extension)
        return self.queue_notice(
            conn, record.id, record.agency_id, record.end_cause, identity, kind="missed_call"
        )

    async def lgu_report(self, report: LguReport) -> str:
        """Record an LG U+ display report once: 'recorded', 'repeat' or 'unknown'."""

        def unit(conn: Connection) -> str:
            outcome = call_service.record_display_result(conn, report.tid, report.result, report.at)
            if isinstance(outcome, str):
                return outcome
            if report.result == "UNSUPPORTED":
                self._late_unsupported(conn, outcome)
            return "recorded"

        return await self._commit.run(unit)
