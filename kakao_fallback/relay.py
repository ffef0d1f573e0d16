"""The AlimTalk outbox relay: claim queued rows, send them in batches, follow their results.

Nothing queued may be lost or sent twice. Rows are claimed with a lease (a crashed relay's rows
come back when it ends) and formed into batches whose key is stored on the rows before the
request goes out: every retry of a batch, by this process or the next one, sends the same rows
with the same idempotency key, so the dealer refuses a second copy of anything it accepted.

The dealer remembers a key for 10 minutes only (spec/alimtalk.md). A batch's first post is
recorded (`first_sent_at`, committed before the request goes out), and a batch whose first post
is older than `REPOST_WINDOW` is never posted again: it ends as `sent_unknown`, like a batch the
dealer refused as a duplicate. Every attempt (first, retry, or a dead relay's batch taken over)
checks again, right before posting, that its lease still holds and that each message has not
expired and its citizen has not opted out in the meantime.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kakao_fallback import policy, repository
from kakao_fallback.client import (
    AlimtalkClient,
    DealerRefused,
    DealerUnavailable,
    DuplicateRequest,
    Recipient,
    Resend,
    national_mobile,
)
from kakao_fallback.models import KakaoMessage
from kakao_fallback.templates import Template, TemplateRuleError, load_templates, render
from lettering.core.db import session_scope, utcnow
from lettering.core.phone import PhoneVault, hash_prefix
from lettering.core.scheduler import stopped_within
from lettering.core.settings import KakaoAgencySettings, Settings

log = logging.getLogger(__name__)

# How long the dealer remembers an idempotency key (spec/alimtalk.md, "within 10 minutes").
DEALER_KEY_MEMORY = timedelta(minutes=10)
# A batch is posted again only this soon after its first post. The minute to spare covers the
# retry's own request (it must reach the dealer while the key is remembered), the checks before
# it, and clock differences between relay hosts; past it, a second post could be sent twice.
REPOST_WINDOW = timedelta(minutes=9)
# Failures of a post that certainly never reached the dealer's processing (see client.py).
NEVER_RECEIVED = frozenset({"connect_error", "http_429"})
# The message that tells its citizen of an opt-out goes out even after "all" (the law requires it).
OPTOUT_NOTICE_KIND = "optout_notice"
EXPIRED = "expired before it could be sent (sending hours or dealer trouble)"
OPTED_OUT = "recipient opted out of all messages from this agency"
EXPIRED_AFTER_A_POST = "expired before a retry; an earlier post may have been accepted: result unknown"
# The approved template each kind of message is sent with.
TEMPLATE_FOR_KIND = {
    "identity_notice": "IDENTITY_NOTICE_01",
    "missed_call": "MISSED_CALL_01",
    "post_call": "POST_CALL_01",
    "optout_notice": "OPTOUT_NOTICE_01",
}
# The template a kind is sent with when the call's campaign has post-call card news: the same
# message with a 카드뉴스 보기 button (whose delivery is the campaign's impression).
CARD_NEWS_TEMPLATE_FOR_KIND = {"identity_notice": "IDENTITY_NOTICE_02"}


@dataclass(slots=True)
class Batch:
    key: str
    agency_code: str
    account: KakaoAgencySettings
    template: Template
    rows: list[KakaoMessage]
    # The lease this relay holds the rows under (it is renewed right before each post).
    lease: datetime
    # Whether this attempt is the batch's first post (it set `first_sent_at`).
    first_post: bool = False


class PassClock:
    """The time during one relay pass: the pass's start (`relay_once(now)`) plus the time spent since.

    The pass's decisions (expiry, the dealer's key memory, the next attempt) read this clock, so a
    given `now` holds for the whole pass, and a long pass (many batches, a slow dealer) still sees
    time move on.
    """

    __slots__ = ("_start", "_started")

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)


@dataclass(frozen=True, slots=True)
class RelayHooks:
    """What the relay needs from the service around it; lettering wires it
    (`lettering.optout.service.relay_hooks`), so this package imports only lettering.core."""

    agency_codes: Callable[[AsyncSession, list[int]], Awaitable[dict[int, str]]]  # id -> code
    scope_now: Callable[[AsyncSession, str, int], Awaitable[str]]  # the opt-out in force now
    optout_url: Callable[[str, str, str, int], str]  # (base URL, link secret, hash, agency) -> link
    # (session, *, callee_hash, ciphertext, key_version, agency_id, contact_at): refresh the register
    keep_number: Callable[..., Awaitable[None]]
    # (card-news page, link secret, hash, agency) -> the page with the citizen's token (?t=…)
    card_news_url: Callable[[str, str, str, int], str]
    # (session, campaign id, callee hash, when): the campaign's card news reached the citizen
    count_impression: Callable[[AsyncSession, int, str, datetime], Awaitable[None]]
    # Each pass's counts (relay, then results), for the metrics; None: not counted.
    passed: Callable[[RelayStats], None] | None = None


@dataclass(slots=True)
class RelayStats:
    sent: int = 0
    accepted: int = 0
    retried: int = 0
    dead: int = 0
    dropped: int = 0
    deferred: int = 0
    polled: int = 0
    finished: int = 0


def template_parameters(kind: str, variables: dict[str, Any], links: dict[str, str]) -> dict[str, str]:
    """The template's variables from what the call path stored (English keys) and the links."""
    params = {
        "기관명": str(variables.get("agency", "")),
        "부서명": str(variables.get("department", "")),
        "안내문구": str(variables.get("guidance", "")),
        "통화시각": str(variables.get("call_time", "")),
        "회신번호": str(variables.get("callback", "")),
        "확인코드": str(variables.get("verify_code", "")),
        "수신거부URL": links["optout"],
    }
    if "verify" in links:
        params["확인URL"] = links["verify"]
    if "card_news" in links:
        params["카드뉴스URL"] = links["card_news"]
    if kind == "optout_notice":
        params.update(
            {
                "변경내용": str(variables.get("change", "")),
                "변경일시": str(variables.get("changed_at", "")),
            }
        )
    if kind == "post_call":
        params.update(
            {
                "카드뉴스URL": str(variables.get("card_news_url", "")),
                "정책URL": str(variables.get("policy_url", "")),
            }
        )
    return params


class Relay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AlimtalkClient,
        settings: Settings,
        vault: PhoneVault,
        *,
        hooks: RelayHooks,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._sessions = sessions
        self._hooks = hooks
        self._client = client
        self._settings = settings
        self._kakao = settings.kakao
        self._vault = vault
        self._rng = rng
        templates = load_templates()
        self._templates: dict[str, Template] = {
            kind: templates[code] for kind, code in TEMPLATE_FOR_KIND.items() if code in templates
        }
        self._card_news_templates: dict[str, Template] = (
            {kind: templates[code] for kind, code in CARD_NEWS_TEMPLATE_FOR_KIND.items() if code in templates}
            if self._kakao.card_news_button
            else {}
        )
        self._postgres = False
        # A configured request timeout longer than the spare minute shortens the window.
        self._repost_window = min(
            REPOST_WINDOW, DEALER_KEY_MEMORY - timedelta(seconds=self._kakao.request_timeout_s)
        )

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, *, stop: asyncio.Event | None = None) -> None:
        """Relay and poll until `stop` is set (or cancelled); errors are logged and retried.
        Stopping lets the pass under way finish: no query or post is cut off mid-flight."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                stats = await self.relay_once()
                results = await self.poll_once()
                if self._hooks.passed is not None:
                    self._hooks.passed(stats)
                    self._hooks.passed(results)
                busy = stats.sent > 0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("AlimTalk relay pass failed; retrying")
                busy = False
            if not busy:
                await stopped_within(stop, self._kakao.relay_interval_s)

    async def relay_once(self, now: datetime | None = None) -> RelayStats:
        """One pass: claim due batches and fresh rows, send each batch once."""
        clock = PassClock(now or utcnow())
        stats = RelayStats()
        batches = await self._claim(clock(), stats)
        for batch in batches:
            try:
                await self._send(batch, stats, clock)
            except Exception as exc:  # one bad batch must not hold up the others
                log.exception("AlimTalk batch %s could not be sent", batch.key[:8])
                await self._retry_later(batch, f"internal error: {type(exc).__name__}", None, stats, clock)
        return stats

    # -- claiming ---------------------------------------------------------------------------

    async def _claim(self, now: datetime, stats: RelayStats) -> list[Batch]:
        lease = now + timedelta(seconds=self._kakao.lease_s)
        async with session_scope(self._sessions) as session:
            self._postgres = session.bind.dialect.name == "postgresql" if session.bind else False
            keys = await self._due_batch_keys(session, now)
            claimed: list[str] = []
            for key in keys:
                # One statement for the whole batch: a concurrent relay gets all its rows or none.
                if await repository.claim_batch(session, key, now, lease):
                    claimed.append(key)
            claimed += await self._form_batches(session, now, lease, stats)
            rows = await repository.leased_rows(session, claimed, lease)
            by_key: dict[str, list[KakaoMessage]] = defaultdict(list)
            for row in rows:
                assert row.batch_key is not None
                by_key[row.batch_key].append(row)
            codes = await self._hooks.agency_codes(
                session, sorted({r.agency_id for r in by_key_rows(by_key)})
            )
        batches: list[Batch] = []
        for key, batch_rows in by_key.items():
            first = batch_rows[0]
            code = codes.get(first.agency_id, "")
            account = self._kakao.account(code)
            template = self._template_of(first)
            if account is None or template is None:
                await self._finish(
                    batch_rows, "dead", f"no dealer account or template for {code}/{first.kind}"
                )
                stats.dead += len(batch_rows)
                continue
            batches.append(Batch(key, code, account, template, batch_rows, lease))
        return batches

    async def _due_batch_keys(self, session: AsyncSession, now: datetime) -> list[str]:
        """Batches formed earlier whose retry is due or whose relay died holding them."""
        return await repository.due_batch_keys(session, now)

    async def _form_batches(
        self, session: AsyncSession, now: datetime, lease: datetime, stats: RelayStats
    ) -> list[str]:
        """Fresh rows: apply the policy, then group by agency and template, at most batch_size each."""
        rows = await repository.fresh_rows(session, now, self._kakao.batch_size * 4, lock=self._postgres)
        if not rows:
            return []
        opening = policy.next_send_time(now, self._kakao.send_from, self._kakao.send_until)
        groups: dict[tuple[int, str, str], list[KakaoMessage]] = defaultdict(list)
        for row in rows:
            problem = self._refusal(row, now)
            if problem is not None:
                status, why = problem
                row.status, row.last_error, row.finished_at, row.updated_at = status, why, now, now
                row.recipient_ciphertext = None
                stats.dead += status == "dead"
                stats.dropped += status == "dropped"
                continue
            if opening is not None:
                row.next_attempt_at, row.updated_at = opening, now  # waits for the sending window
                stats.deferred += 1
                continue
            template = self._template_of(row)
            groups[(row.agency_id, row.kind, template.code if template else "")].append(row)
        keys: list[str] = []
        for group in groups.values():
            for start in range(0, len(group), self._kakao.batch_size):
                key = uuid.uuid4().hex
                ids = [row.id for row in group[start : start + self._kakao.batch_size]]
                # Conditional, so a row another relay formed meanwhile is not taken twice.
                if await repository.form_batch(session, ids, key, now, lease):
                    keys.append(key)
        return keys

    def _refusal(self, row: KakaoMessage, now: datetime) -> tuple[str, str] | None:
        """Why this fresh row must not go out at all: ('dead', reason), or None.

        The opt-out is not read here: it is checked right before every post (`_preflight`), under
        every key version's hash, which needs the number opened, once, then.
        """
        if row.expires_at is not None and row.expires_at <= now:
            return "dead", EXPIRED
        if row.recipient_ciphertext is None:
            return "dead", "no recipient number kept"
        template = self._template_of(row)
        if template is None:
            return "dead", f"no template for {row.kind}"
        try:
            render(template, self._parameters(row))
        except TemplateRuleError as exc:
            return "dead", f"template rule broken: {exc}"
        return None

    def _parameters(self, row: KakaoMessage) -> dict[str, str]:
        variables = json.loads(row.variables or "{}")
        optout = self._hooks.optout_url(
            self._settings.public_base_url,
            self._settings.link_secret.get_secret_value(),
            row.recipient_hash,
            row.agency_id,
        )
        code = str(variables.get("verify_code", ""))
        verify = f"{self._settings.public_base_url.rstrip('/')}/verify?code={quote(code, safe='')}"
        links = {"optout": optout, "verify": verify}
        page = variables.get("card_news_url")
        if row.kind != "post_call" and isinstance(page, str) and page:
            links["card_news"] = self._hooks.card_news_url(
                page, self._settings.link_secret.get_secret_value(), row.recipient_hash, row.agency_id
            )
        params = template_parameters(row.kind, variables, links)
        template = self._template_of(row)
        # Each template uses some of these; Kakao refuses a parameter its template does not have.
        return {k: v for k, v in params.items() if template is None or k in template.variables}

    def _card_news_campaign(self, row: KakaoMessage) -> int | None:
        """The campaign whose card news this message carries as a button, or None."""
        if row.kind not in self._card_news_templates:
            return None
        variables = json.loads(row.variables or "{}")
        campaign_id, page = variables.get("campaign_id"), variables.get("card_news_url")
        if isinstance(campaign_id, int) and isinstance(page, str) and page:
            return campaign_id
        return None

    def _template_of(self, row: KakaoMessage) -> Template | None:
        """The approved template this message goes with: with the card-news button when it has one."""
        if self._card_news_campaign(row) is not None:
            return self._card_news_templates[row.kind]
        return self._templates.get(row.kind)

    # -- sending ----------------------------------------------------------------------------

    async def _send(self, batch: Batch, stats: RelayStats, clock: PassClock) -> None:
        ready = await self._preflight(batch, clock, stats)
        if not ready:
            return
        recipients: list[Recipient] = []
        resend_types: dict[str, str] = {}
        for row, number in ready:
            parameters = self._parameters(row)
            rendered = render(batch.template, parameters)
            resend = (
                Resend.from_rendered(rendered, batch.account.sender_no)
                if batch.account.sms_failover
                else None
            )
            if resend is not None:
                resend_types[row.idempotency_key] = resend.type
            recipients.append(Recipient(national_mobile(number), parameters, row.idempotency_key, resend))
        stats.sent += len(recipients)
        now = utcnow()
        try:
            result = await self._client.send(
                batch.account, batch.template.code, recipients, batch.key, self._kakao.request_timeout_s
            )
        except DealerUnavailable as exc:
            # A first post that surely never reached the dealer (no connection; a 429 is refused
            # before anything is processed) leaves no key for the dealer to remember: its retry is
            # a first post again, so a long outage does not use up the key's 10-minute window.
            unsent = batch.first_post and exc.reason in NEVER_RECEIVED
            await self._retry_later(batch, str(exc), exc.retry_after_s, stats, clock, unsent=unsent)
            return
        except DuplicateRequest:
            # An earlier attempt of this very batch was accepted (its relay died before recording
            # it). Sending again would message citizens twice; the delivery result is not known.
            await self._finish(
                batch.rows, "sent_unknown", "accepted by an earlier attempt; delivery result unknown"
            )
            stats.accepted += len(batch.rows)
            return
        except DealerRefused as exc:
            log.error("AlimTalk refused for agency %s: %s; messages dead-lettered", batch.agency_code, exc)
            await self._finish(batch.rows, "dead", f"configuration: {exc}", never_accepted=True)
            stats.dead += len(batch.rows)
            return
        by_key = {r.grouping_key: r for r in result.results}
        async with session_scope(self._sessions) as session:
            for row in batch.rows:
                answer = by_key.get(row.idempotency_key)
                values: dict[str, Any] = {
                    "lease_until": None,
                    "updated_at": now,
                    "request_id": result.request_id,
                }
                if answer is not None and answer.accepted:
                    values.update(
                        status="accepted",
                        resend_type=resend_types.get(row.idempotency_key),
                        recipient_seq=answer.seq,
                        accepted_at=now,
                        next_poll_at=now + timedelta(seconds=self._kakao.result_poll_base_s),
                        last_error=None,
                    )
                    stats.accepted += 1
                    if row.kind != OPTOUT_NOTICE_KIND and row.recipient_ciphertext is not None:
                        # The message carries an opt-out link, valid from now: the number is kept
                        # as long, to notify the result of using it (lettering/optout).
                        await self._hooks.keep_number(
                            session,
                            callee_hash=row.recipient_hash,
                            ciphertext=row.recipient_ciphertext,
                            key_version=row.key_version,
                            agency_id=row.agency_id,
                            contact_at=now,
                        )
                else:
                    code = str(answer.result_code) if answer else "missing"
                    message = answer.result_message if answer else "no result for this recipient"
                    values.update(
                        status="dead",
                        result_code=code[:8],
                        last_error=f"refused by the dealer: {code} {message}",
                        finished_at=now,
                        recipient_ciphertext=None,
                    )
                    stats.dead += 1
                await repository.record_answer(session, row.id, values)
        log.info(
            "AlimTalk batch %s (%s, %d recipients) accepted as %s",
            batch.key[:8],
            batch.template.code,
            len(batch.rows),
            result.request_id,
        )

    async def _preflight(
        self, batch: Batch, clock: PassClock, stats: RelayStats
    ) -> list[tuple[KakaoMessage, str]]:
        """Right before every post of a batch: what may still go out, with the opened numbers.

        First attempt, retry or a dead relay's batch taken over, alike: the lease must still be
        this relay's (it is renewed for the request), the batch's first post must be recent enough
        for the dealer to still remember its key, and each message must not have expired nor its
        citizen opted out since it was queued. The rows kept get `first_sent_at` (if they have none)
        in the same transaction, committed before the request goes out: a relay that dies after
        posting leaves the time of the post behind. `batch.rows` becomes the rows kept.
        """
        async with session_scope(self._sessions) as session:
            now = clock()
            ids = [row.id for row in batch.rows]
            lease = now + timedelta(seconds=self._kakao.lease_s)
            if await repository.renew_lease(session, ids, batch.lease, lease) != len(ids):
                # Our lease ran out during a long pass and another relay has taken the batch over.
                await session.rollback()
                log.warning("AlimTalk batch %s: lease lost before posting; left to its holder", batch.key[:8])
                batch.rows = []
                return []
            batch.lease = lease
            first_sent = min((r.first_sent_at for r in batch.rows if r.first_sent_at), default=None)
            if first_sent is not None and now - first_sent > self._repost_window:
                # The dealer may have accepted the first post and forgotten its key by now: a
                # second post would reach the citizens twice. Whether the first got through is
                # not known, as with a batch refused as a duplicate.
                age_s = (now - first_sent).total_seconds()
                why = (
                    f"not posted again: first posted {age_s:.0f} s ago, past the dealer's "
                    f"{DEALER_KEY_MEMORY.total_seconds() / 60:.0f}-minute idempotency memory; "
                    "delivery result unknown"
                )
                await self._finish_in(session, ids, "sent_unknown", why, now)
                stats.accepted += len(ids)
                log.warning(
                    "AlimTalk batch %s (%d messages, ids %s) not posted again: first posted %.0f s ago; "
                    "recorded as sent_unknown",
                    batch.key[:8],
                    len(ids),
                    _id_list(ids),
                    age_s,
                )
                batch.rows = []
                return []
            ready: list[tuple[KakaoMessage, str]] = []
            refused: dict[tuple[str, str], list[int]] = defaultdict(list)
            for row in batch.rows:
                assert row.id is not None
                if row.expires_at is not None and row.expires_at <= now:
                    if row.first_sent_at is not None:
                        # An earlier post may have reached the dealer: not known to be unsent.
                        refused[("sent_unknown", EXPIRED_AFTER_A_POST)].append(row.id)
                    else:
                        refused[("dead", EXPIRED)].append(row.id)
                    continue
                if row.recipient_ciphertext is None:
                    refused[("dead", "no recipient number kept")].append(row.id)
                    continue
                number = self._vault.open(row.recipient_ciphertext, row.key_version)
                if await self._opted_out(session, row, number):
                    refused[("dropped", OPTED_OUT)].append(row.id)
                    continue
                ready.append((row, number))
            for (status, why), refused_ids in refused.items():
                await self._finish_in(session, refused_ids, status, why, now)
                stats.dead += len(refused_ids) if status == "dead" else 0
                stats.dropped += len(refused_ids) if status == "dropped" else 0
                stats.accepted += len(refused_ids) if status == "sent_unknown" else 0
                log.info(
                    "AlimTalk batch %s: %d messages %s before posting (%s), ids %s",
                    batch.key[:8],
                    len(refused_ids),
                    status,
                    why,
                    _id_list(refused_ids),
                )
            batch.first_post = first_sent is None
            if ready:
                await repository.mark_first_sent(session, [row.id for row, _ in ready], now)
        batch.rows = [row for row, _ in ready]
        return ready

    async def _opted_out(self, session: AsyncSession, row: KakaoMessage, number: str) -> bool:
        """An opt-out of everything in force, found under the number's hash of any key version.

        While keys rotate, the citizen's opt-out may still be indexed under an older version's hash
        than the message (or a newer one): every configured version is looked up.
        """
        if row.kind == OPTOUT_NOTICE_KIND:  # the one message the law requires even after "all"
            return False
        hashes = dict.fromkeys((*self._vault.hashes(number), row.recipient_hash))
        for callee_hash in hashes:
            if await self._hooks.scope_now(session, callee_hash, row.agency_id) == "all":
                return True
        return False

    async def _finish_in(
        self,
        session: AsyncSession,
        ids: Sequence[int | None],
        status: str,
        why: str,
        now: datetime,
        *,
        never_accepted: bool = False,
    ) -> None:
        """Finish rows for good inside the caller's transaction; their number is released."""
        # never_accepted: the dealer refused the whole request, so an operator may send it again.
        await repository.finish(session, ids, status, why, now, never_accepted=never_accepted)

    async def _retry_later(
        self,
        batch: Batch,
        error: str,
        retry_after_s: float | None,
        stats: RelayStats,
        clock: PassClock,
        *,
        unsent: bool = False,
    ) -> None:
        if not batch.rows:
            return
        now = clock()
        attempts = max(r.attempts for r in batch.rows)
        wait = policy.backoff_s(attempts, self._kakao.retry_base_s, self._kakao.retry_cap_s, self._rng())
        if retry_after_s is not None:
            wait = max(wait, retry_after_s)
        expired = [
            r
            for r in batch.rows
            if r.expires_at is not None and r.expires_at <= now + timedelta(seconds=wait)
        ]
        if expired:
            # The whole batch goes or stays together (same idempotency key); it cannot wait past expiry.
            await self._finish(
                batch.rows, "dead", f"expired while the dealer was unavailable; last error: {error}"
            )
            stats.dead += len(batch.rows)
            return
        async with session_scope(self._sessions) as session:
            await repository.requeue(
                session,
                [r.id for r in batch.rows],
                now=now,
                next_attempt_at=now + timedelta(seconds=wait),
                error=error[:500],
                unsent=unsent,
            )
        stats.retried += len(batch.rows)
        log.warning("AlimTalk batch %s: %s; retry in %.1f s", batch.key[:8], error, wait)

    async def _finish(
        self, rows: Sequence[KakaoMessage], status: str, why: str, *, never_accepted: bool = False
    ) -> None:
        """`_finish_in`, in a transaction of its own."""
        async with session_scope(self._sessions) as session:
            await self._finish_in(
                session, [r.id for r in rows], status, why, utcnow(), never_accepted=never_accepted
            )

    # -- delivery results -------------------------------------------------------------------

    async def poll_once(self, now: datetime | None = None, limit: int = 200) -> RelayStats:
        """Ask the dealer for the results that are due; record them as a monotonic state machine."""
        now = now or utcnow()
        stats = RelayStats()
        async with self._sessions() as session:
            rows = await repository.due_polls(session, now, limit)
            codes = await self._hooks.agency_codes(session, sorted({r.agency_id for r in rows}))
        for row in rows:
            account = self._kakao.account(codes.get(row.agency_id, ""))
            if account is None:
                continue
            assert row.request_id is not None
            assert row.recipient_seq is not None
            try:
                result = await self._client.result(
                    account, row.request_id, row.recipient_seq, self._kakao.request_timeout_s
                )
            except (DealerUnavailable, DealerRefused) as exc:
                await self._poll_later(row, now, str(exc))
                continue
            stats.polled += 1
            if await self.record_result(
                row.id or 0, result.status, result.result_code, result.resend_status, now
            ):
                stats.finished += 1
        return stats

    async def record_result(
        self,
        row_id: int,
        status: str,
        result_code: str | None,
        resend_status: str | None,
        now: datetime,
        resend_channel: str = "lms",
    ) -> bool:
        """Apply one delivery result; True when the message reached a final state."""
        rank = policy.DELIVERY_RANK.get(status, 0)
        final = status in policy.FINAL_STATUSES
        values: dict[str, Any] = {
            "delivery_status": status,
            "delivery_rank": rank,
            "result_code": result_code,
            "resend_status": resend_status,
            "updated_at": now,
        }
        if final:
            # NHN resendStatus RSC04: the SMS/LMS failover was sent.
            resent = resend_status == "RSC04"
            delivered = status == "COMPLETED" or resent
            values.update(
                status="delivered" if delivered else "failed",
                channel=(resend_channel if resent else "alimtalk") if delivered else None,
                finished_at=now,
                next_poll_at=None,
                recipient_ciphertext=None,  # nothing pending needs the number any more
            )
        async with session_scope(self._sessions) as session:
            # Only ever up the precedence order: a late READY never overwrites COMPLETED.
            changed = await repository.raise_delivery(session, row_id, rank, values)
            if not final:
                row = await repository.get_message(session, row_id)
                if row is not None and row.status == "accepted":
                    await self._schedule_poll(session, row, now)
            elif changed and values["status"] == "delivered":
                await self._delivered(session, row_id, now)
        return final and changed

    async def _delivered(self, session: AsyncSession, row_id: int, now: datetime) -> None:
        """A message with the campaign's card-news button reached the citizen (by AlimTalk or its
        failover text, which carries the same link): the campaign's impression, counted once (the
        result that made the row final), in the transaction that records it."""
        row = await repository.get_message(session, row_id)
        campaign_id = self._card_news_campaign(row) if row is not None else None
        if row is not None and campaign_id is not None:
            await self._hooks.count_impression(session, campaign_id, row.recipient_hash, now)

    async def _schedule_poll(self, session: AsyncSession, row: KakaoMessage, now: datetime) -> None:
        too_old = (
            row.accepted_at is not None
            and (now - row.accepted_at).total_seconds() > self._kakao.result_poll_max_age_s
        )
        if too_old:
            row.status, row.last_error, row.finished_at, row.next_poll_at = (
                "failed",
                "no final result from the dealer",
                now,
                None,
            )
            row.recipient_ciphertext = None
            return
        wait = policy.backoff_s(
            row.poll_attempts, self._kakao.result_poll_base_s, self._kakao.result_poll_cap_s, 1.0
        )
        row.poll_attempts += 1
        row.next_poll_at = now + timedelta(
            seconds=max(self._kakao.result_poll_base_s, wait * (0.5 + self._rng() / 2))
        )

    async def _poll_later(self, row: KakaoMessage, now: datetime, error: str) -> None:
        async with session_scope(self._sessions) as session:
            fresh = await repository.get_message(session, row.id)
            if fresh is not None and fresh.status == "accepted":
                fresh.last_error = f"result poll: {error}"[:500]
                await self._schedule_poll(session, fresh, now)


def by_key_rows(by_key: dict[str, list[KakaoMessage]]) -> list[KakaoMessage]:
    return [row for rows in by_key.values() for row in rows]


def _id_list(ids: Sequence[int | None], shown: int = 10) -> str:
    """Row ids for a log line (never numbers): the first few, and how many more."""
    head = ",".join(str(i) for i in ids[:shown])
    return head if len(ids) <= shown else f"{head},… (+{len(ids) - shown})"


__all__ = [
    "DEALER_KEY_MEMORY",
    "REPOST_WINDOW",
    "Batch",
    "PassClock",
    "Relay",
    "RelayStats",
    "hash_prefix",
    "template_parameters",
]
