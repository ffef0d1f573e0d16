"""`POST /v1/pbx/events`: authenticate, validate, process each delivery once, answer in time."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from campaigns import service as campaign_service
from lettering.calls import service as call_service
from lettering.db import utcnow, write_scope
from lettering.decision.service import CallFacts, DecisionInputs, decide
from lettering.directory.service import SNAPSHOT_NAME as DIRECTORY
from lettering.dispatch.service import Dispatcher, PushJob
from lettering.errors import AppError
from lettering.optout.service import SNAPSHOT_NAME as OPTOUT
from lettering.phone import NotAPhoneNumber, PhoneVault, hash_prefix, parse_number, to_e164_kr
from lettering.snapshots.service import SnapshotStore
from lettering.webhook.auth import SNAPSHOT_NAME as PBX
from lettering.webhook.auth import PbxView, authenticate, pbx_for_body
from lettering.webhook.models import WebhookDelivery
from lettering.webhook.schemas import REQUIRED_BY_TYPE, PbxEvent, SetupResponse

log = logging.getLogger(__name__)

# A delivery still unanswered after this long was lost with its process: a retry takes it over.
STALE_CLAIM = timedelta(seconds=15)
# How often a duplicate delivery looks for the first one's response in the database.
REPLAY_POLL_S = 0.02
# Of the hold budget, what is kept for recording the answer before it is sent: the push is awaited
# until this much before the budget ends, so the record shows the answer when the PBX gets it.
RECORDING_MARGIN_S = 0.05
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


def field_error(field: str, msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "type": kind}


def parse_event(raw: bytes) -> PbxEvent:
    """Validate the body; every problem is listed with its field. Inputs are never echoed back
    (they may hold a citizen's number)."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidEvent(
            [{"loc": ["body"], "msg": "body is not valid JSON", "type": "json_invalid"}]
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


class WebhookService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        snapshots: SnapshotStore,
        dispatcher: Dispatcher,
        vault: PhoneVault,
        *,
        tolerance_s: int,
        ring_window_ms: int,
    ) -> None:
        self._sessions = sessions
        self._snapshots = snapshots
        self._dispatcher = dispatcher
        self._vault = vault
        self._tolerance_s = tolerance_s
        self._ring_window_s = ring_window_ms / 1000
        self._done: dict[tuple[str, str], asyncio.Event] = {}
        # Deliveries still being processed (a setup answered `pending` goes on in the background).
        self._tasks: set[asyncio.Task[Reply]] = set()
        # The answer of each delivery being processed here, shared with copies that arrive meanwhile.
        self._answers: dict[tuple[str, str], asyncio.Future[Reply]] = {}

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float) -> None:
        """Let deliveries still being processed finish (shutdown), up to `timeout_s`."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def handle(self, raw: bytes, headers: Mapping[str, str], client_host: str | None) -> Reply:
        """Process one delivery (or replay the response to its first delivery).

        A `call.setup` is answered at the latest when the PBX's hold budget runs out, whatever
        holds up the processing (a slow database, a duplicate waiting for its first delivery):
        then the answer is `pending` and the processing goes on in the background, as it does for
        a push still under way. The processing never depends on the request: a PBX hanging up
        does not cancel it.
        """
        received = time.monotonic()
        registry = self._snapshots.current.get(PBX)
        auth = authenticate(registry, headers, raw, client_host, time.time(), self._tolerance_s)
        event = parse_event(raw)
        pbx = pbx_for_body(auth, event.pbx_id)
        key = (
            auth.webhook_id if auth.mode == "signed" and auth.webhook_id else f"{event.call_id}:{event.type}"
        )
        answer = self._answers.get((pbx.id, key))
        if answer is None:
            answer = asyncio.get_running_loop().create_future()
            self._answers[(pbx.id, key)] = answer
            work = asyncio.create_task(self._deliver(pbx, key, event, received, answer))
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
            log.warning(
                "setup %s/%s not decided within the hold budget (%d ms): answered pending, goes on",
                pbx.id,
                event.call_id,
                pbx.hold_ms,
            )
            response = SetupResponse(
                call_id=event.call_id,
                lettering="pending",
                elapsed_ms=int((time.monotonic() - received) * 1000),
            )
            pending = Reply(200, response.model_dump())
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
        if task.cancelled():
            if not answer.done():
                answer.cancel()
            return
        error = task.exception()
        if answer.done():
            if error is not None:
                log.error("delivery %s/%s failed after it was answered", pbx_id, call_id, exc_info=error)
        elif error is not None:
            answer.set_exception(error)
        else:
            answer.set_result(task.result())

    async def _deliver(
        self, pbx: PbxView, key: str, event: PbxEvent, received: float, answer: asyncio.Future[Reply]
    ) -> Reply:
        """Process the delivery; once the PBX has been answered (`pending`) it will not retry, so a
        failure is retried here instead (processing again never pushes twice: see `_setup`)."""
        for wait_s in (*AFTER_ANSWER_RETRIES_S, None):
            try:
                return await self._deliver_once(pbx, key, event, received, answer)
            except Exception:
                if not answer.done() or wait_s is None:
                    raise
                log.exception(
                    "setup %s/%s failed after it was answered pending; processing it again in %.1f s",
                    pbx.id,
                    event.call_id,
                    wait_s,
                )
                await asyncio.sleep(wait_s)
        raise AssertionError("unreachable")

    async def _deliver_once(
        self, pbx: PbxView, key: str, event: PbxEvent, received: float, answer: asyncio.Future[Reply]
    ) -> Reply:
        claim_id = await self._claim(pbx.id, key, event)
        if claim_id is None:
            replay = await self._replay(pbx, key, event)
            if isinstance(replay, Reply):
                return replay
            claim_id = replay
        waiter = self._done.setdefault((pbx.id, key), asyncio.Event())
        try:
            reply = await self._process(pbx, event, received, claim_id, answer)
        except BaseException:
            # Unexpected failure: forget the claim so the PBX's retry is processed afresh.
            async with write_scope(self._sessions) as session:
                await session.execute(delete(WebhookDelivery).where(WebhookDelivery.id == claim_id))  # type: ignore[arg-type]
            raise
        finally:
            waiter.set()
            self._done.pop((pbx.id, key), None)
        return reply

    async def _claim(self, pbx_id: str, key: str, event: PbxEvent) -> int | None:
        """Insert the delivery row (committed at once); None if it was already there."""
        try:
            async with write_scope(self._sessions) as session:
                row = WebhookDelivery(
                    pbx_id=pbx_id, dedupe_key=key, event_type=event.type, call_id=event.call_id
                )
                session.add(row)
                await session.flush()
                return row.id
        except IntegrityError:
            return None

    async def _replay(self, pbx: PbxView, key: str, event: PbxEvent) -> Reply | int:
        """The first delivery's response, once it is stored; or the claim when its owner died."""
        waiter = self._done.get((pbx.id, key))
        patience = pbx.hold_ms / 1000 + self._ring_window_s
        give_up = time.monotonic() + patience
        while True:
            async with self._sessions() as session:
                row = (
                    await session.execute(
                        select(WebhookDelivery).where(
                            WebhookDelivery.pbx_id == pbx.id,  # type: ignore[arg-type]
                            WebhookDelivery.dedupe_key == key,  # type: ignore[arg-type]
                        )
                    )
                ).scalar_one_or_none()
            if row is None:  # the first delivery failed and released its claim: process this one
                claim = await self._claim(pbx.id, key, event)
                if claim is not None:
                    return claim
            elif row.response_status is not None and row.response_body is not None:
                return Reply(row.response_status, json.loads(row.response_body))
            elif row.received_at < utcnow() - STALE_CLAIM:
                taken = await self._take_over(row.id)
                if taken:
                    assert row.id is not None
                    return row.id
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

    async def _take_over(self, claim_id: int | None) -> bool:
        async with write_scope(self._sessions) as session:
            result = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == claim_id,  # type: ignore[arg-type]
                    WebhookDelivery.response_status.is_(None),  # type: ignore[union-attr]
                    col(WebhookDelivery.received_at) < utcnow() - STALE_CLAIM,
                )
                .values(received_at=utcnow())
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _process(
        self, pbx: PbxView, event: PbxEvent, received: float, claim_id: int, answer: asyncio.Future[Reply]
    ) -> Reply:
        if event.type == "call.setup":
            return await self._setup(pbx, event, received, claim_id, answer)
        async with write_scope(self._sessions) as session:
            record = await call_service.record_progress(
                session,
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
                await self._dispatcher.missed_call(session, record)
            reply = Reply(202, {"call_id": event.call_id, "recorded": True})
            await self._store_reply(session, claim_id, reply)
        return reply

    async def _setup(
        self, pbx: PbxView, event: PbxEvent, received: float, claim_id: int, answer: asyncio.Future[Reply]
    ) -> Reply:
        assert event.callee_number is not None
        assert event.extension is not None
        hold_deadline = received + pbx.hold_ms / 1000
        async with write_scope(self._sessions) as session:
            seen = await call_service.find_call(session, pbx.id, event.call_id)
            if seen is not None and seen.setup_received_at is not None:
                # The same call's setup again (a retry after a failure, or a new webhook-id):
                # answer what was decided and never push a second time.
                reply = told(answer, Reply(200, self._answer_from_record(seen, received).model_dump()))
                await self._store_reply(session, claim_id, reply)
                return reply
        callee = parse_number(event.callee_number)
        explanation: list[str] = []
        caller_e164: str | None = None
        if event.caller_number:
            try:
                caller_e164 = to_e164_kr(event.caller_number)
            except Exception:
                explanation.append(
                    "caller_number from the PBX is not a valid number; the directory's is used"
                )
        base: dict[str, Any] = {
            "verify_code": call_service.new_verify_code(),
            "agency_id": pbx.agency_id,
            "extension": event.extension,
            "occurred_at": event.occurred_at,
            "setup_received_at": utcnow(),
        }
        if not callee.is_kr_mobile:
            return await self._answer_now(
                claim_id,
                pbx,
                event,
                received,
                "skipped",
                "callee_not_mobile",
                base,
                ["callee is not a Korean mobile number"],
                answer,
            )
        sealed = self._vault.seal(callee.e164)
        snapshots = self._snapshots.current
        campaigns = snapshots.get(campaign_service.SNAPSHOT_NAME)
        # Caps are counted in the database (every worker sees them); read only when a campaign has caps.
        async with self._sessions() as session:
            counts = await campaign_service.load_counts(
                session, campaigns, pbx.agency_id, sealed.all_hashes, event.occurred_at
            )
        decision = decide(
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
            DecisionInputs(
                directory=snapshots.get(DIRECTORY), optout=snapshots.get(OPTOUT), campaigns=campaigns
            ),
        )
        explanation = [*decision.explanation, *explanation]
        base.update(callee_hash=sealed.hash_hex, department_id=decision.department_id)
        if decision.verdict == "suppressed":
            return await self._answer_now(
                claim_id, pbx, event, received, "suppressed", decision.reason, base, explanation, answer
            )
        async with write_scope(self._sessions) as session:
            record = await call_service.record_setup(
                session,
                pbx.id,
                event.call_id,
                explanation=explanation,
                caller_e164=decision.caller_e164,
                callee_ciphertext=sealed.ciphertext,
                callee_key_version=sealed.key_version,
                campaign_id=decision.campaign_id,
                **base,
            )
            if decision.campaign_id is not None:
                await campaign_service.count_impression(
                    session, decision.campaign_id, sealed.hash_hex, event.occurred_at
                )
            if record.end_cause is not None:
                # call.ended came first: its missed-call notice could not be queued without the number.
                assert record.id is not None
                refreshed = await call_service.get_call(session, record.id)
                if refreshed is not None:
                    await self._dispatcher.missed_call(session, refreshed)
        assert record.id is not None
        job = PushJob(
            record_id=record.id,
            public_id=record.public_id,
            agency_id=pbx.agency_id,
            extension=event.extension,
            callee_e164=callee.e164,
            sealed=sealed,
            decision=decision,
            deadline=received + self._ring_window_s,
        )
        settled = await self._dispatcher.push(
            job, hold_deadline - min(RECORDING_MARGIN_S, pbx.hold_ms / 10_000)
        )
        response = SetupResponse(call_id=event.call_id, lettering="pending", campaign_id=decision.campaign_id)
        if settled is not None:
            response.lettering = settled.lettering  # type: ignore[assignment]
            response.reason = settled.reason
            response.carrier = settled.carrier
            response.fallback = settled.fallback  # type: ignore[assignment]
        response.elapsed_ms = int((time.monotonic() - received) * 1000)
        reply = told(answer, Reply(200, response.model_dump()))
        async with write_scope(self._sessions) as session:
            await call_service.update_call(
                session,
                record.id,
                lettering=reply.body["lettering"],
                reason=reply.body.get("reason"),
                elapsed_ms=reply.body.get("elapsed_ms"),
            )
            await self._store_reply(session, claim_id, reply)
        log.info(
            "setup %s/%s callee %s: %s in %d ms",
            pbx.id,
            event.call_id,
            hash_prefix(sealed.hash_hex),
            reply.body["lettering"],
            reply.body.get("elapsed_ms") or 0,
        )
        return reply

    @staticmethod
    def _answer_from_record(record: Any, received: float) -> SetupResponse:
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

    async def _answer_now(
        self,
        claim_id: int,
        pbx: PbxView,
        event: PbxEvent,
        received: float,
        outcome: str,
        reason: str | None,
        base: dict[str, Any],
        explanation: list[str],
        answer: asyncio.Future[Reply],
    ) -> Reply:
        """Answer without a push (skipped, suppressed), recording the call and the reply together."""
        elapsed = int((time.monotonic() - received) * 1000)
        response = SetupResponse.model_validate(
            {"call_id": event.call_id, "lettering": outcome, "reason": reason, "elapsed_ms": elapsed}
        )
        reply = told(answer, Reply(200, response.model_dump()))
        async with write_scope(self._sessions) as session:
            await call_service.record_setup(
                session,
                pbx.id,
                event.call_id,
                explanation=explanation,
                lettering=reply.body["lettering"],
                reason=reply.body.get("reason"),
                final_outcome=outcome,
                final_reason=reason,
                elapsed_ms=elapsed,
                **base,
            )
            await self._store_reply(session, claim_id, reply)
        return reply

    async def _store_reply(self, session: AsyncSession, claim_id: int, reply: Reply) -> None:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claim_id)  # type: ignore[arg-type]
            .values(
                response_status=reply.status,
                response_body=json.dumps(reply.body, ensure_ascii=False),
                completed_at=utcnow(),
            )
        )


def told(answer: asyncio.Future[Reply], reply: Reply) -> Reply:
    """The reply to record: what the PBX was already told (`pending` when the hold budget ran out
    first), else `reply`. A duplicate delivery is answered with the same."""
    if answer.done() and not answer.cancelled() and answer.exception() is None:
        return answer.result()
    return reply


async def purge_deliveries(session: AsyncSession, older_than: datetime) -> int:
    """Retention: forget processed deliveries received before `older_than` (dedupe needs only hours)."""
    result = await session.execute(
        delete(WebhookDelivery).where(col(WebhookDelivery.received_at) < older_than)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
