"""`POST /v1/pbx/events`: authenticate, validate, process each delivery once, answer in time."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaigns import service as campaign_service
from lettering.calls import service as call_service
from lettering.calls.service import CallRecordView, OpenedCall, SetupFacts, Told
from lettering.core.db import GroupCommitter, Unit, database_unavailable, utcnow
from lettering.core.errors import AppError
from lettering.core.phone import (
    NotAPhoneNumber,
    PhoneVault,
    SealedNumber,
    hash_prefix,
    parse_number,
    to_e164_kr,
)
from lettering.decision.service import CallFacts, Decision, Identity, arm_of, decide
from lettering.dispatch.service import OVERLOADED, Dispatcher, Pushed, PushJob, Settled
from lettering.observability import metrics
from lettering.snapshots.callpath import CallPathStore
from lettering.webhook import repository as webhook_repo
from lettering.webhook.admission import Admission, Ticket
from lettering.webhook.auth import PbxView, authenticate, pbx_for_body
from lettering.webhook.schemas import REQUIRED_BY_TYPE, PbxEvent, SetupResponse

log = logging.getLogger(__name__)

# An event time further than this from its receipt is a PBX clock gone wrong (or a replayed body).
MAX_EVENT_SKEW = timedelta(days=1)
# A delivery still unanswered after this long was lost with its process: a retry takes it over.
STALE_CLAIM = timedelta(seconds=15)
# How often a duplicate delivery looks for the first one's response in the database.
REPLAY_POLL_S = 0.02
# Of the hold budget, the share kept for recording a `pending` answer before it is sent, so the
# record shows the answer when the PBX gets it (50 ms of the default 500 ms).
RECORDING_SHARE = 0.1
# Shed setups are recorded this many at a time (one unit of the group commit each).
SHED_ROWS_PER_UNIT = 200
# A setup that fails after the PBX was answered `pending` is processed again after these waits.
AFTER_ANSWER_RETRIES_S = (0.5, 1.0, 2.0, 4.0)


class InvalidEvent(AppError):
    """422 with FastAPI's list of field errors."""

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("the event body is not valid per spec/pbx-webhook.md")
        self.errors = errors

    def body(self) -> object:
        return self.errors


class StillProcessing(AppError):
    status_code = 503


class NotRecorded(AppError):
    """The hold budget ran out before the setup's claim and call record were committed: nothing is
    acknowledged that a crash could lose, so the PBX is told to retry (the retry, with the same
    webhook-id, is answered from this delivery's processing, which goes on)."""

    status_code = 503


class DatabaseUnavailable(AppError):
    """The delivery could not be recorded: the database refused or dropped the connection (a
    restart, a failover). Nothing was acknowledged; the PBX retries with the same webhook-id."""

    status_code = 503


def field_error(field: str, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": kind}


def parse_event(raw: bytes, received_at: datetime | None = None) -> PbxEvent:
    """Validate the body; every problem is listed with its field. Inputs are never echoed back
    (they may hold a citizen's number). Whatever the bytes, the answer is the event or an
    InvalidEvent (422), never another exception: a body that cannot be parsed is refused before
    anything is claimed or stored."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidEvent(
            [{"loc": ["body"], "msg": "body is not valid JSON", "type": "json_invalid"}]
        ) from None
    except RecursionError:
        raise InvalidEvent(
            [{"loc": ["body"], "msg": "body is nested too deeply to be an event", "type": "json_invalid"}]
        ) from None
    if not isinstance(body, dict):
        raise InvalidEvent([{"loc": ["body"], "msg": "body must be a JSON object", "type": "dict_type"}])
    errors: list[dict[str, Any]] = []
    event: PbxEvent | None = None
    try:
        event = PbxEvent.model_validate(body)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            errors.append({"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]})
    if event is not None:
        now = received_at or utcnow()
        # Aware datetimes subtract without leaving datetime's range (converting 9999-12-31 with
        # a negative offset to UTC would not).
        if abs(event.occurred_at - now) > MAX_EVENT_SKEW:
            errors.append(
                field_error(
                    "occurred_at",
                    f"more than {MAX_EVENT_SKEW.days} day from the time it was received: check the PBX clock",
                )
            )
    for name in REQUIRED_BY_TYPE.get(str(body.get("type")), ()):
        if body.get(name) is None and not any(e["loc"][:2] == ["body", name] for e in errors):
            errors.append(field_error(name, f"Field required for {body.get('type')}", "missing"))
    callee = body.get("callee_number")
    if isinstance(callee, str) and callee.strip() and len(callee) <= 32:
        try:
            parse_number(callee)
        except NotAPhoneNumber:
            errors.append(field_error("callee_number", "not a phone number (national or E.164 digits)"))
    if errors or event is None:
        raise InvalidEvent(errors)
    return event


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any]


class AlreadyClaimed(Exception):
    """The delivery was claimed before (a copy in another process, or an earlier attempt)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery being processed here: what came in, and the answer its requests await."""

    pbx: PbxView
    key: str  # what deduplicates it: the webhook-id, else call id and event type
    event: PbxEvent
    received: float  # monotonic
    answer: asyncio.Future[Reply]
    ticket: Ticket | None  # a setup's place in admission control, while in its local stage


@dataclass(slots=True)
class Claim:
    """The delivery's row once this process holds it (set when the unit that claimed it commits)."""

    id: int | None = None


class WebhookService:
    """The PBX events, processed as named steps: authenticate → claim → decide → record → push →
    answer. The database work of each step is a unit of the process's group commit."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        snapshots: CallPathStore,
        dispatcher: Dispatcher,
        vault: PhoneVault,
        *,
        tolerance_s: int,
        ring_window_ms: int,
        max_unanswered: int = 128,
        committer: GroupCommitter | None = None,
    ) -> None:
        self._sessions = sessions
        self._snapshots = snapshots
        self._dispatcher = dispatcher
        self._vault = vault
        self._tolerance_s = tolerance_s
        self._ring_window_s = ring_window_ms / 1000
        self._commit = committer or GroupCommitter(sessions)
        self._done: dict[tuple[str, str], asyncio.Event] = {}
        # Deliveries still being processed (a setup answered `pending` goes on in the background).
        self._tasks: set[asyncio.Task[Reply]] = set()
        # The answer of each delivery being processed here, shared with copies that arrive meanwhile.
        self._answers: dict[tuple[str, str], asyncio.Future[Reply]] = {}
        # Of those, the deliveries whose claim (and, for a setup, call record) has committed: only
        # these may be answered `pending` when the hold budget runs out.
        self._recorded: set[tuple[str, str]] = set()
        # Setups in their local stage (before the push or the answer): what admission bounds.
        self._admission = Admission(max_unanswered)
        self.shed = 0
        self._shed_logged = 0.0
        self._shed_rows: list[ShedCall] = []
        self._shed_writer: asyncio.Task[Reply] | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    @property
    def unanswered(self) -> int:
        """Setups admitted and still in their local stage."""
        return self._admission.local

    @property
    def admission_limit(self) -> float:
        return self._admission.limit

    async def drain(self, timeout_s: float) -> None:
        """Let deliveries still being processed finish (shutdown), up to `timeout_s`."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def handle(self, raw: bytes, headers: Mapping[str, str], client_host: str | None) -> Reply:
        """Process one delivery (or replay the response to its first delivery).

        A `call.setup` is answered at the latest when the PBX's hold budget runs out, whatever
        holds up the processing (a slow database, a duplicate waiting for its first delivery):
        then the answer is `pending` and the processing goes on in the background, as it does for
        a push still under way. Only a recorded setup is answered `pending` (a 200 the PBX never
        retries): one whose claim and call record have not committed yet is answered 503 with
        Retry-After (`NotRecorded`), and its retry joins the processing, which goes on. The
        processing never depends on the request: a PBX hanging up
        does not cancel it. Past the admission limit a setup is shed: answered at once, recorded
        as such, never pushed.
        """
        received = time.monotonic()
        registry = self._snapshots.current.pbx
        auth = authenticate(registry, headers, raw, client_host, time.time(), self._tolerance_s)
        event = parse_event(raw, utcnow())
        pbx = pbx_for_body(auth, event.pbx_id)
        key = (
            auth.webhook_id if auth.mode == "signed" and auth.webhook_id else f"{event.call_id}:{event.type}"
        )
        metrics.event_received(event.type)
        if event.type != "call.setup":
            return await self._answer(pbx, key, event, received)
        # What the PBX is answered, and when, in bounded labels only (lettering/observability/metrics.py).
        metrics.setup_started()
        try:
            reply = await self._answer(pbx, key, event, received)
        except BaseException:
            metrics.setup_answered(None, received)
            raise
        metrics.setup_answered(reply.body, received)
        return reply

    async def _answer(self, pbx: PbxView, key: str, event: PbxEvent, received: float) -> Reply:
        """`handle`, once the delivery is authenticated and valid: its answer, or `pending` when
        the hold budget runs out first."""
        if event.type == "call.setup" and (pbx.id, key) not in self._answers and not self._admission.admit():
            return self._shed(pbx, key, event)
        answer = self._answers.get((pbx.id, key))
        if answer is None:
            answer = asyncio.get_running_loop().create_future()
            self._answers[(pbx.id, key)] = answer
            ticket = (
                self._admission.enter(received, pbx.hold_ms / 1000) if event.type == "call.setup" else None
            )
            if ticket is not None:
                answer.add_done_callback(lambda _: ticket.leave())
            work = asyncio.create_task(self._deliver(Delivery(pbx, key, event, received, answer, ticket)))
            self._tasks.add(work)
            work.add_done_callback(lambda task: self._settle(task, answer, pbx.id, key, event.call_id))
        # else: a copy of a delivery this process is still processing: it gets the same answer.
        if event.type != "call.setup":
            return await asyncio.shield(answer)
        budget = received + pbx.hold_ms / 1000 - time.monotonic()
        try:
            return await asyncio.wait_for(asyncio.shield(answer), max(budget, 0.0))
        except TimeoutError:
            if answer.done():  # a copy's budget ran out first: the same answer for both
                return answer.result()
            if (pbx.id, key) not in self._recorded:
                # Not committed yet (a slow or unavailable database): a `pending` now would be an
                # acknowledgement a crash could lose, and the PBX never retries a 200.
                log.warning(
                    "setup %s/%s not recorded within the hold budget (%d ms): answered 503, goes on",
                    pbx.id,
                    event.call_id,
                    pbx.hold_ms,
                )
                raise NotRecorded(
                    "the setup could not be recorded within the hold budget; retry with the same "
                    "webhook-id (it is answered from this delivery's processing)",
                    headers={"Retry-After": "1"},
                ) from None
            log.warning(
                "setup %s/%s not decided within the hold budget (%d ms): answered pending, goes on",
                pbx.id,
                event.call_id,
                pbx.hold_ms,
            )
            pending = pending_reply(event, received)
            # What the PBX was told: the processing records this answer, not a later one.
            answer.set_result(pending)
            return pending

    def _settle(
        self, task: asyncio.Task[Reply], answer: asyncio.Future[Reply], pbx_id: str, key: str, call_id: str
    ) -> None:
        """The delivery's task ended: its reply (or error) answers the request if nothing has yet."""
        self._tasks.discard(task)
        if self._answers.get((pbx_id, key)) is answer:
            del self._answers[(pbx_id, key)]
            self._recorded.discard((pbx_id, key))
        if task.cancelled():
            if not answer.done():
                answer.cancel()
            return
        error = task.exception()
        if answer.done():
            if error is not None:
                log.error("delivery %s/%s failed after it was answered", pbx_id, call_id, exc_info=error)
        elif error is not None and database_unavailable(error):
            # Not a 500: the PBX retries a 503 after Retry-After, and the database is back by then
            # (the pool reconnects on its own). No statement or parameter goes to the log.
            log.warning(
                "delivery %s/%s not recorded: the database is unavailable (%s); answered 503",
                pbx_id,
                call_id,
                _cause(error),
            )
            answer.set_exception(
                DatabaseUnavailable(
                    "the event could not be recorded: the database is unavailable; retry with the "
                    "same webhook-id",
                    headers={"Retry-After": "1"},
                )
            )
        elif error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(task.result())

    async def _deliver(self, d: Delivery) -> Reply:
        """Process the delivery; once the PBX has been answered (`pending`) it will not retry, so a
        failure is retried here instead (processing again never pushes twice: see `_setup`)."""
        for wait_s in (*AFTER_ANSWER_RETRIES_S, None):
            try:
                return await self._deliver_once(d)
            except Exception as exc:
                if not d.answer.done() or wait_s is None:
                    raise
                if isinstance(exc, StillProcessing):
                    # A copy whose first delivery is still held by a claim (its owner may have
                    # died: the claim is taken over once stale). Expected; no traceback.
                    log.info("setup %s/%s: %s; again in %.1f s", d.pbx.id, d.event.call_id, exc, wait_s)
                else:
                    log.exception(
                        "setup %s/%s failed after it was answered pending; processing it again in %.1f s",
                        d.pbx.id,
                        d.event.call_id,
                        wait_s,
                    )
                await asyncio.sleep(wait_s)
        raise AssertionError("unreachable")

    async def _deliver_once(self, d: Delivery) -> Reply:
        claim = Claim()
        waiter = self._done.setdefault((d.pbx.id, d.key), asyncio.Event())
        try:
            try:
                return await self._process(d, claim)
            except AlreadyClaimed:
                # The first delivery committed its claim (with its call record): this one is
                # recorded already, whatever the replay finds.
                self._recorded.add((d.pbx.id, d.key))
                replay = await self._replay(d.pbx, d.key, d.event)
                if isinstance(replay, Reply):
                    return replay
                claim.id = replay
                return await self._process(d, claim)
        except BaseException:
            if claim.id is not None:
                # Unexpected failure: forget the claim so the PBX's retry is processed afresh.
                claim_id = claim.id
                await self._commit.run(lambda conn: webhook_repo.release(conn, claim_id))
                self._recorded.discard((d.pbx.id, d.key))
            raise
        finally:
            waiter.set()
            self._done.pop((d.pbx.id, d.key), None)

    @staticmethod
    def _claimed(conn: Connection, claim: Claim, pbx_id: str, key: str, event: PbxEvent) -> int | None:
        """Step "claim", first in the unit that records the event: the claim's id, or None when
        the delivery was claimed before (the unit then writes nothing and returns None, and its
        caller raises `AlreadyClaimed` outside the batch, which a raise inside would spoil)."""
        if claim.id is not None:
            return claim.id
        return webhook_repo.claim(conn, pbx_id, key, event.type, event.call_id)

    async def _claim(self, pbx_id: str, key: str, event: PbxEvent) -> int | None:
        """Claim the delivery on its own (a retry whose first delivery released its claim)."""
        return await self._commit.run(
            lambda conn: webhook_repo.claim(conn, pbx_id, key, event.type, event.call_id)
        )

    async def _replay(self, pbx: PbxView, key: str, event: PbxEvent) -> Reply | int:
        """The first delivery's response, once it is stored; or the claim when its owner died."""
        waiter = self._done.get((pbx.id, key))
        patience = pbx.hold_ms / 1000 + self._ring_window_s
        give_up = time.monotonic() + patience
        while True:
            async with self._sessions() as session:
                row = await session.run_sync(lambda s: webhook_repo.find(s.connection(), pbx.id, key))
            if row is None:  # the first delivery failed and released its claim: process this one
                claim = await self._claim(pbx.id, key, event)
                if claim is not None:
                    return claim
            elif row.response_status is not None and row.response_body is not None:
                return Reply(row.response_status, json.loads(row.response_body))
            elif row.received_at < utcnow() - STALE_CLAIM:
                claim_id = int(row.id)
                stale_before = utcnow() - STALE_CLAIM
                if await self._commit.run(
                    functools.partial(webhook_repo.take_over, claim_id=claim_id, stale_before=stale_before)
                ):
                    return claim_id
            if time.monotonic() >= give_up:
                raise StillProcessing(
                    "the first delivery of this event is still being processed; retry",
                    headers={"Retry-After": "1"},
                )
            if waiter is not None:
                try:
                    await asyncio.wait_for(waiter.wait(), REPLAY_POLL_S * 5)
                except TimeoutError:
                    pass
            else:
                await asyncio.sleep(REPLAY_POLL_S)

    async def _process(self, d: Delivery, claim: Claim) -> Reply:
        pbx, key, event = d.pbx, d.key, d.event
        if event.type == "call.setup":
            return await self._setup(d, claim)
        reply = Reply(202, {"call_id": event.call_id, "recorded": True})

        def record(conn: Connection) -> int | None:
            claim_id = self._claimed(conn, claim, pbx.id, key, event)
            if claim_id is None:
                return None
            record = call_service.record_progress(
                conn,
                pbx.id,
                event.call_id,
                event.type,
                event.occurred_at,
                answered=event.answered,
                talk_seconds=event.talk_seconds,
                end_cause=event.end_cause,
            )
            if event.type == "call.ended":
                # In the same transaction as the record: a missed-call notice is never lost.
                self._dispatcher.missed_call(conn, record)
            webhook_repo.store_reply(conn, claim_id, reply.status, reply.body)
            return claim_id

        claim.id = _claimed_here(await self._commit.run(record))
        return reply

    async def _setup(self, d: Delivery, claim: Claim) -> Reply:
        """A setup: decide in memory, record, push within the ring window, record and answer."""
        pbx, event = d.pbx, d.event
        assert event.callee_number is not None
        assert event.extension is not None
        callee = parse_number(event.callee_number)
        facts, notes = self._facts(pbx, event)
        if not callee.is_kr_mobile:
            return await self._answer_now(
                d,
                claim,
                "skipped",
                "callee_not_mobile",
                replace(facts, explanation=("callee is not a Korean mobile number",)),
            )
        sealed = self._vault.seal(callee.e164)
        decision = await self._decide(pbx, event, sealed, facts.caller_e164)
        facts = replace(
            facts,
            explanation=(*decision.explanation, *notes),
            callee_hash=sealed.hash_hex,
            department_id=decision.department_id,
            arm=decision.arm,
        )
        if decision.verdict != "send":
            # suppressed (opted out, unknown, disabled) or skipped (held out): nothing is pushed,
            # no AlimTalk is queued, and the number is kept only as its keyed hash.
            return await self._answer_now(d, claim, decision.verdict, decision.reason, facts)
        facts = replace(
            facts,
            caller_e164=decision.caller_e164,
            callee_ciphertext=sealed.ciphertext,
            callee_key_version=sealed.key_version,
            campaign_id=decision.campaign_id,
        )
        opened = await self._open_call(d, claim, facts, sealed)
        if isinstance(opened, Reply):
            return opened
        record, learned = opened
        job = PushJob(
            record_id=record.record_id,
            public_id=record.public_id,
            agency_id=pbx.agency_id,
            extension=event.extension,
            callee_e164=callee.e164,
            sealed=sealed,
            decision=decision,
            deadline=d.received + self._ring_window_s,
            verify_code=facts.verify_code,
        )
        pushed = await self._push(d, claim, job, learned)
        return await self._close_call(d, claim, job, pushed)

    async def _open_call(
        self, d: Delivery, claim: Claim, facts: SetupFacts, sealed: SealedNumber
    ) -> tuple[OpenedCall, str | None] | Reply:
        """Step "record": the claim, the call record and the learned route in one unit of the group
        commit, committed before anything is pushed (the campaign's impression is counted with the
        push's outcome, once its content reached the phone). A setup of this call seen
        before answers what was decided then (a Reply) and is never pushed a second time."""
        pbx, key, event, received, answer = d.pbx, d.key, d.event, d.received, d.answer

        def open_call(conn: Connection) -> tuple[int, OpenedCall, str | None, Reply | None] | None:
            claim_id = self._claimed(conn, claim, pbx.id, key, event)
            if claim_id is None:
                return None
            opened = call_service.open_setup(conn, pbx.id, event.call_id, facts)
            if opened.earlier is not None:
                # The same call's setup again (a retry after a failure, or a new webhook-id):
                # answer what was decided and never push a second time.
                again = told(answer, Reply(200, answer_from_record(opened.earlier, received).model_dump()))
                webhook_repo.store_reply(conn, claim_id, again.status, again.body)
                return claim_id, opened, None, again
            if opened.ended_first is not None:
                # call.ended came first: its missed-call notice could not be queued without the number.
                self._dispatcher.missed_call(conn, opened.ended_first)
            learned = self._dispatcher.learned_carrier(conn, sealed)
            return claim_id, opened, learned, None

        claim.id, opened, learned, again = _claimed_here(await self._commit.run(open_call))
        self._recorded.add((pbx.id, key))
        return again if again is not None else (opened, learned)

    async def _push(self, d: Delivery, claim: Claim, job: PushJob, learned: str | None) -> Pushed:
        """Step "push": within the ring window. When the hold budget runs out first, `pending` is
        recorded and answered (`handle` answers it by itself should even that be late), and the
        push goes on."""
        if d.ticket is not None:
            d.ticket.pause()  # waiting on a carrier is not the worker's doing: not counted
        push = asyncio.ensure_future(self._dispatcher.push(job, learned))
        recording_starts = d.received + (d.pbx.hold_ms / 1000) * (1 - RECORDING_SHARE)
        await asyncio.wait({push}, timeout=max(0.0, recording_starts - time.monotonic()))
        if not push.done():
            shown = told(d.answer, pending_reply(d.event, d.received))
            record_told = functools.partial(
                self._record_told, record_id=job.record_id, claim_id=claim.id, reply=shown
            )
            await self._commit_after_push(d, record_told)
            if not d.answer.done():
                d.answer.set_result(shown)
        pushed = await push
        if d.ticket is not None:
            d.ticket.resume()  # recording the outcome and answering are local again
        return pushed

    async def _close_call(self, d: Delivery, claim: Claim, job: PushJob, pushed: Pushed) -> Reply:
        """Step "answer": once the outcome is recorded (a fallback's outbox row with it), so the
        record shows what the PBX is told; if the hold budget ran out first, `handle` answered
        `pending`."""
        event, received, answer, campaign_id = d.event, d.received, d.answer, job.decision.campaign_id
        reply = self._reply(event, received, campaign_id, pushed.settled)
        claim_id = claim.id
        assert claim_id is not None

        def close_call(conn: Connection) -> Reply:
            shown = told(answer, reply)
            settled = self._dispatcher.record(
                conn,
                job,
                pushed,
                Told(shown.body["lettering"], shown.body.get("reason"), shown.body.get("elapsed_ms")),
            )
            if settled != pushed.settled and not answer.done():
                # An LG U+ report said the phone could not show it: the fallback is the answer.
                shown = Reply(200, self._reply(event, received, campaign_id, settled).body)
                call_service.update_call(
                    conn, job.record_id, lettering=shown.body["lettering"], reason=shown.body.get("reason")
                )
            webhook_repo.store_reply(conn, claim_id, shown.status, shown.body)
            return shown

        final = await self._commit_after_push(d, close_call)
        shown = told(answer, final)
        if shown is not final:
            # The hold budget ran out while the outcome was being committed: the PBX got `pending`
            # and a copy of the delivery must get the same, so that is what is recorded as told.
            record_told = functools.partial(
                self._record_told, record_id=job.record_id, claim_id=claim_id, reply=shown
            )
            await self._commit_after_push(d, record_told)
            final = shown
        log.info(
            "setup %s/%s callee %s: %s in %d ms",
            d.pbx.id,
            event.call_id,
            hash_prefix(job.sealed.hash_hex),
            final.body["lettering"],
            final.body.get("elapsed_ms") or 0,
        )
        return final

    async def _commit_after_push(self, d: Delivery, unit: Unit[R]) -> R:
        """Commit a unit written once the push has begun. The push is not repeated (processing the
        delivery again finds its call recorded and never pushes twice), so its outcome is only ever
        learned here: a database that is unavailable for a while (restarting, locked) is waited
        for, the unit run again (a failed unit was rolled back), rather than the outcome dropped."""
        for wait_s in (*AFTER_ANSWER_RETRIES_S, None):
            try:
                return await self._commit.run(unit)
            except Exception as exc:
                if not database_unavailable(exc) or wait_s is None:
                    raise
                log.warning(
                    "setup %s/%s: its outcome could not be recorded (%s); again in %.1f s",
                    d.pbx.id,
                    d.event.call_id,
                    _cause(exc),
                    wait_s,
                )
                await asyncio.sleep(wait_s)
        raise AssertionError("unreachable")

    @staticmethod
    def _record_told(conn: Connection, record_id: int, claim_id: int | None, reply: Reply) -> None:
        call_service.update_call(
            conn,
            record_id,
            lettering=reply.body["lettering"],
            reason=reply.body.get("reason"),
            elapsed_ms=reply.body.get("elapsed_ms"),
        )
        if claim_id is not None:
            webhook_repo.store_reply(conn, claim_id, reply.status, reply.body)

    def _facts(self, pbx: PbxView, event: PbxEvent) -> tuple[SetupFacts, tuple[str, ...]]:
        """Step "decide", first part: what the event itself says (the caller number checked)."""
        assert event.extension is not None
        caller_e164: str | None = None
        notes: tuple[str, ...] = ()
        if event.caller_number:
            try:
                caller_e164 = to_e164_kr(event.caller_number)
            except Exception:
                notes = ("caller_number from the PBX is not a valid number; the directory's is used",)
        facts = SetupFacts(
            public_id=call_service.new_public_id(),
            verify_code=call_service.new_verify_code(),
            agency_id=pbx.agency_id,
            extension=event.extension,
            occurred_at=event.occurred_at,
            setup_received_at=utcnow(),
            explanation=notes,
            caller_e164=caller_e164,
        )
        return facts, notes

    async def _decide(
        self, pbx: PbxView, event: PbxEvent, sealed: SealedNumber, caller_e164: str | None
    ) -> Decision:
        """Step "decide": in memory, over the snapshots (caps read from the database only when a
        campaign of this agency has caps: every worker must see the same counts)."""
        assert event.extension is not None
        snapshots = self._snapshots.current
        counts = await campaign_service.load_counts(
            self._sessions, snapshots.campaigns, pbx.agency_id, sealed.all_hashes, event.occurred_at
        )
        return metrics.time_decide(
            decide,
            CallFacts(
                call_id=event.call_id,
                agency_id=pbx.agency_id,
                extension=event.extension,
                callee_hash=sealed.hash_hex,
                callee_previous_hashes=sealed.previous_hashes,
                caller_e164=caller_e164,
                occurred_at=event.occurred_at,
                counts=counts,
            ),
            snapshots.decision_inputs,
        )

    @staticmethod
    def _reply(event: PbxEvent, received: float, campaign_id: int | None, settled: Settled) -> Reply:
        response = SetupResponse.model_validate(
            {
                "call_id": event.call_id,
                "lettering": settled.lettering,
                "reason": settled.reason,
                "carrier": settled.carrier,
                "campaign_id": campaign_id,
                "fallback": settled.fallback,
                "elapsed_ms": int((time.monotonic() - received) * 1000),
            }
        )
        return Reply(200, response.model_dump())

    async def _answer_now(
        self, d: Delivery, claim: Claim, outcome: str, reason: str | None, facts: SetupFacts
    ) -> Reply:
        """Answer without a push (skipped, suppressed): claim, call and reply recorded together."""
        pbx, key, event, received, answer = d.pbx, d.key, d.event, d.received, d.answer
        elapsed = int((time.monotonic() - received) * 1000)
        response = SetupResponse.model_validate(
            {"call_id": event.call_id, "lettering": outcome, "reason": reason, "elapsed_ms": elapsed}
        )
        reply = Reply(200, response.model_dump())

        def record(conn: Connection) -> tuple[int, Reply] | None:
            claim_id = self._claimed(conn, claim, pbx.id, key, event)
            if claim_id is None:
                return None
            shown = told(answer, reply)
            opened = call_service.open_setup(
                conn,
                pbx.id,
                event.call_id,
                replace(
                    facts,
                    lettering=shown.body["lettering"],
                    reason=shown.body.get("reason"),
                    final_outcome=outcome,
                    final_reason=reason,
                    elapsed_ms=elapsed,
                ),
            )
            if opened.earlier is not None:
                shown = told(answer, Reply(200, answer_from_record(opened.earlier, received).model_dump()))
            webhook_repo.store_reply(conn, claim_id, shown.status, shown.body)
            return claim_id, shown

        claim.id, shown = _claimed_here(await self._commit.run(record))
        self._recorded.add((pbx.id, key))
        return shown

    def _shed(self, pbx: PbxView, key: str, event: PbxEvent) -> Reply:
        """Past the admission limit: answer at once (the PBX carries on without lettering) and
        queue the call's record as shed. Nothing is decided or pushed, and nothing is kept of the
        number but its keyed hash, unless the agency's policy wants an AlimTalk notice for shed
        calls (`fallback_shed`): then the number is sealed for the outbox row, which is written
        with the record. Shed calls are recorded in bulk, one unit at a time, so under overload
        their records neither cost a transaction each nor crowd out the setups that were admitted."""
        self.shed += 1
        response = SetupResponse(call_id=event.call_id, lettering="skipped", reason=OVERLOADED, elapsed_ms=0)
        reply = Reply(200, response.model_dump())
        facts, notes = self._facts(pbx, event)
        shed = replace(
            facts,
            explanation=(*notes, "shed: the service was at its admission limit; nothing was pushed"),
            lettering="skipped",
            reason=OVERLOADED,
            final_outcome="skipped",
            final_reason=OVERLOADED,
            elapsed_ms=0,
            arm=arm_of(
                self._snapshots.current.directory, pbx.agency_id, event.extension or "", event.call_id
            ),
        )
        shed, notice = self._shed_notice(pbx, event, shed)
        self._shed_rows.append(ShedCall(pbx.id, key, event.call_id, shed, reply.body, notice))
        if self._shed_writer is None or self._shed_writer.done():
            self._shed_writer = asyncio.create_task(self._record_shed())
            self._tasks.add(self._shed_writer)
            self._shed_writer.add_done_callback(self._tasks.discard)
        now = time.monotonic()
        if now - self._shed_logged >= 1.0:  # one line a second under overload, not one a call
            self._shed_logged = now
            log.warning(
                "shedding setups at the admission limit (%.0f in progress); %d shed so far",
                self._admission.limit,
                self.shed,
            )
        return reply

    def _shed_notice(
        self, pbx: PbxView, event: PbxEvent, shed: SetupFacts
    ) -> tuple[SetupFacts, Identity | None]:
        """The shed call's number as its record keeps it: the keyed hash only, or sealed with the
        caller's identity when the agency wants an AlimTalk notice for shed calls."""
        try:
            callee = parse_number(event.callee_number or "")
        except NotAPhoneNumber:
            return shed, None
        extension = event.extension or ""
        if not (callee.is_kr_mobile and self._dispatcher.falls_back_when_shed(pbx.agency_id)):
            return replace(shed, callee_hash=self._vault.hash(callee.e164)), None
        sealed = self._vault.seal(callee.e164)
        notice = self._dispatcher.shed_notice(pbx.agency_id, extension, sealed, event.call_id)
        if notice is None:
            return replace(shed, callee_hash=sealed.hash_hex), None
        return replace(
            shed,
            callee_hash=sealed.hash_hex,
            callee_ciphertext=sealed.ciphertext,
            callee_key_version=sealed.key_version,
            caller_e164=shed.caller_e164 or self._dispatcher.directory_caller(pbx.agency_id, extension),
            explanation=(*shed.explanation, "AlimTalk notice queued: the agency's policy for shed calls"),
            final_outcome="fallback",
            fallback="alimtalk",
        ), notice

    async def _record_shed(self) -> Reply:
        while self._shed_rows:
            # At most SHED_ROWS_PER_UNIT a unit: the admitted setups' units are not held up behind
            # one huge insert (under a flood, thousands of setups are shed each second).
            rows, self._shed_rows = self._shed_rows[:SHED_ROWS_PER_UNIT], self._shed_rows[SHED_ROWS_PER_UNIT:]
            try:
                await self._commit.run(
                    functools.partial(record_shed_calls, rows=rows, dispatcher=self._dispatcher)
                )
            except Exception:
                log.exception("could not record %d shed setups", len(rows))
        return Reply(200, {})


@dataclass(frozen=True, slots=True)
class ShedCall:
    pbx_id: str
    key: str
    call_id: str
    facts: SetupFacts
    reply: dict[str, Any]
    notice: Identity | None  # who called, when an AlimTalk notice is to be queued


def record_shed_calls(conn: Connection, rows: list[ShedCall], dispatcher: Dispatcher) -> None:
    """Claims (with their answer) and call records of shed setups, two statements for all of them,
    and the outbox rows of those whose agency wants a notice. A delivery or call already known is
    left as it is (ON CONFLICT DO NOTHING), and gets no notice from here."""
    webhook_repo.claim_answered(
        conn, [(r.pbx_id, r.key, "call.setup", r.call_id, 200, r.reply) for r in rows]
    )
    call_service.record_setups(conn, [(r.pbx_id, r.call_id, r.facts) for r in rows])
    for row in rows:
        if row.notice is None:
            continue
        record = call_service.find_call_in(conn, row.pbx_id, row.call_id)
        if record is not None and record.public_id == row.facts.public_id:  # the record written here
            dispatcher.queue_notice(conn, record.id, row.facts.agency_id, OVERLOADED, row.notice)


R = TypeVar("R")


def _cause(exc: BaseException) -> str:
    """What a database error was, by its class only (its text may carry statement parameters)."""
    orig = getattr(exc, "orig", None)
    return type(orig if orig is not None else exc).__name__


def _claimed_here(result: R | None) -> R:
    """A unit's result; None means the delivery was claimed before (see `_claimed`)."""
    if result is None:
        raise AlreadyClaimed()
    return result


def pending_reply(event: PbxEvent, received: float) -> Reply:
    """`pending`: the hold budget ran out before a carrier answered; the push goes on."""
    response = SetupResponse(
        call_id=event.call_id, lettering="pending", elapsed_ms=int((time.monotonic() - received) * 1000)
    )
    return Reply(200, response.model_dump())


def answer_from_record(record: CallRecordView, received: float) -> SetupResponse:
    """The answer to a setup processed before, from its call record."""
    return SetupResponse.model_validate(
        {
            "call_id": record.call_id,
            "lettering": record.lettering or "pending",
            "reason": record.reason,
            "carrier": record.carrier if record.lettering in ("accepted", "fallback", "failed") else None,
            "campaign_id": record.campaign_id,
            "fallback": record.fallback if record.lettering == "fallback" else None,
            "elapsed_ms": int((time.monotonic() - received) * 1000),
        }
    )


def told(answer: asyncio.Future[Reply], reply: Reply) -> Reply:
    """The reply to record: what the PBX was already told (`pending` when the hold budget ran out
    first), else `reply`. A duplicate delivery is answered with the same."""
    if answer.done() and not answer.cancelled() and answer.exception() is None:
        return answer.result()
    return reply


async def purge_deliveries(session: AsyncSession, older_than: datetime) -> int:
    """Retention: forget processed deliveries received before `older_than` (dedupe needs only hours)."""
    return await webhook_repo.purge_deliveries(session, older_than)
