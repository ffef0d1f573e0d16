"""The service killed with SIGKILL while it commits batches of setups: the group commit loses nothing.

The guarantee (lettering.core.db.GroupCommitter, DESIGN.md rule 3): a `call.setup` is answered only
after the batch holding its claim, call record and stored reply has committed, and pushed to a
carrier only after its call record has committed. So when the process dies in the middle of a
burst, whatever moment it dies at:

(a) every delivery the PBX got an answer for has its call record and its stored reply, and the
    PBX's retry (same webhook-id and body) is answered the same from the stored reply: replayed,
    not processed again (no second record, no new push);
(b) every delivery that got no answer is processed by the retry: a definite answer and one call
    record. A delivery killed between its two units (claim and record committed, reply not) is not
    pushed again: its retry is answered `pending` (the hold budget runs out while it waits for the
    dead owner's claim to go stale, STALE_CLAIM) and the claim, once taken over, stores that reply;
(c) no call has two records, no claim is left without its reply once the retries have settled,
    and nothing reached a carrier for a call the database does not know.

Real processes, as deployed: `lettering serve` (one worker, so SIGKILL hits the process that holds
the batches) on the test's database, and the carrier simulator as `lettering simulate carriers`.
The test posts signed deliveries over HTTP like a PBX, kills the service once the first answers
have arrived, starts it again on the same database and port, and retries every delivery.

What a SIGKILL can catch is an answer sent before its batch's COMMIT was handed to the database: a
commit already sent (to PostgreSQL, or into SQLite's log file) is finished without the process.
So the test fails when the writer lets its callers answer and only then commits (checked by
delaying the COMMIT after resolving the callers' futures), not when the two are merely reordered
within microseconds.

A `pending` sent by the hold-budget timer (DESIGN.md rule 2) is inside this guarantee too: it is
sent only once the setup's claim and call record have committed (before that the timer answers a
503 with Retry-After, which the PBX retries). One kind of answer is by design sent before anything
is written: `skipped`/`overloaded` for a setup shed at the admission limit (recorded in bulk after
the answer). The burst therefore stays under the admission limit; a shed answer, should one happen
anyway, is held only to (b) and (c). The PBX is registered with a hold budget long enough that on a
loaded test machine most setups are answered from their processing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook

from lettering.calls.models import CallRecord
from lettering.core.db import session_scope
from lettering.core.phone import PhoneVault
from lettering.webhook.admin import add_pbx
from lettering.webhook.models import WebhookDelivery
from tests.factories import PASSPORT_GUIDANCE, Agency, Department, seed_directory
from tests.processes import Proc, child_env, free_port, start, wait_ready

pytestmark = [pytest.mark.integration, pytest.mark.serial]

log = logging.getLogger(__name__)

HASH_KEY = base64.b64encode(b"c" * 32).decode()
ENC_KEY = base64.b64encode(b"k" * 32).decode()
SECRET = "whsec_" + base64.b64encode(b"group-commit-crash-secret-0123456789").decode()
PBX_ID = "crash-pbx"
# Long enough that on a loaded 2-core machine most answers come from the processing, not from the
# hold-budget timer (see the docstring).
HOLD_MS = 3000
SETUPS = 240
CONNECTIONS = 48  # in flight at once: the burst, kept under the admission limit (128)
KILL_AFTER = 30  # answers received before the SIGKILL
ROUNDS = 4  # bursts and kills at most, until one catches a setup between its units
# After KILL_AFTER answers, the kill waits (polling the database) up to this long for a setup
# between its units, so that the takeover is tested whatever the machine's load.
CATCH_S = 3.0
# What a setup may be answered (spec/pbx-webhook.md).
LETTERING = {"accepted", "pending", "fallback", "suppressed", "skipped", "failed"}
# Simulator profile (spec/carriers.md): 010-0ABC-DEFG, G says the carrier, F 0-2 an iPhone.
KINDS = ("skt", "skt", "kt", "lgu", "iphone", "none", "skt")
LAST_DIGITS = {"skt": "51", "kt": "64", "lgu": "77", "iphone": "12", "none": "39"}
CALLS = CallRecord.__table__  # type: ignore[attr-defined]
CLAIMS = WebhookDelivery.__table__  # type: ignore[attr-defined]
# One agency with one extension.
PASSPORT = Department("HANBIT-0100", "민원여권과", PASSPORT_GUIDANCE, ("2114",))
DIRECTORY = (Agency("HANBIT", "한빛특례시", "031-5180-", (PASSPORT,)),)


# -- processes ------------------------------------------------------------------------------


@dataclass
class Stack:
    env: dict[str, str]
    port: int
    sim_url: str
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start_service(self) -> Proc:
        service = start(["serve", "--port", str(self.port)], self.env, self.tmp / "serve.log", self.tmp)
        await wait_ready(service, f"{self.url}/readyz")
        return service


def stack_env(database_url: str, port: int, sim_port: int, tmp: Path) -> dict[str, str]:
    sim = f"http://127.0.0.1:{sim_port}"
    return child_env(
        {
            "LETTERING_ENV": "test",
            "LETTERING_DATABASE_URL": database_url,
            "LETTERING_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "LETTERING_PHONE_HASH_KEY": HASH_KEY,
            "LETTERING_PHONE_ENC_KEY": ENC_KEY,
            "LETTERING_LINK_SECRET": "crash-link-secret",
            "LETTERING_MEDIA_DIR": str(tmp / "media"),
            "LETTERING_SIMULATORS_IN_PROCESS": "false",
            "LETTERING_CARRIERS__SKT__BASE_URL": f"{sim}/skt",
            "LETTERING_CARRIERS__SKT__CLIENT_SECRET": "crash-skt",
            "LETTERING_CARRIERS__KT__BASE_URL": f"{sim}/kt",
            "LETTERING_CARRIERS__KT__SECRET": "crash-kt",
            "LETTERING_CARRIERS__LGU__BASE_URL": f"{sim}/lgu",
            "LETTERING_CARRIERS__LGU__API_KEY": "crash-lgu",
            "LETTERING_CARRIERS__LGU__CALLBACK_SECRET": "crash-lgu-callback",
            # AlimTalk fallbacks stay queued in the outbox: no relay, no dealer.
            "LETTERING_KAKAO__RELAY_IN_PROCESS": "false",
            "LETTERING_KAKAO__AGENCIES": json.dumps({"*": {"secret_key": "crash-kakao"}}),
            # Pushes take a while, so setups are between their two units when the process dies.
            "LETTERING_SIMULATOR__LATENCY_MIN_MS": "40",
            "LETTERING_SIMULATOR__LATENCY_MAX_MS": "120",
            "LETTERING_LOG_LEVEL": "WARNING",
        }
    )


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    port, sim_port = free_port(), free_port()
    env = stack_env(database_url, port, sim_port, tmp_path)
    simulator = start(["simulate", "carriers", "--port", str(sim_port)], env, tmp_path / "sim.log", tmp_path)
    try:
        await wait_ready(simulator, f"http://127.0.0.1:{sim_port}/_control/config")
        yield Stack(env, port, f"http://127.0.0.1:{sim_port}", tmp_path)
    finally:
        simulator.stop()


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    """One agency with one extension, and the signed PBX (what `directory import` and `pbx add` do)."""
    await seed_directory(sessions, DIRECTORY)
    async with session_scope(sessions) as session:
        await add_pbx(
            session,
            PhoneVault(HASH_KEY, ENC_KEY),
            pbx_id=PBX_ID,
            agency_code="HANBIT",
            secret=SECRET,
            hold_ms=HOLD_MS,
        )


# -- deliveries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    call_id: str
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def lettering(self) -> Any:
        return self.body.get("lettering")

    @property
    def shed(self) -> bool:
        return self.lettering == "skipped" and self.body.get("reason") == "overloaded"


def deliveries(n: int) -> list[Delivery]:
    """Unique webhook-ids, call ids and callees (fictional test numbers of every kind)."""
    run = uuid.uuid4().hex[:8]
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        call_id = f"crash-{run}-{i:04d}-{kind}"
        body = {
            "type": "call.setup",
            "pbx_id": PBX_ID,
            "call_id": call_id,
            "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "extension": "2114",
            "caller_number": "031-5180-2114",
            "callee_number": f"010-0{100 + i:03d}-{i % 100:02d}{LAST_DIGITS[kind]}",
        }
        out.append(Delivery(f"msg_{run}_{i}", call_id, json.dumps(body, separators=(",", ":")).encode()))
    return out


def signed(delivery: Delivery) -> dict[str, str]:
    """Fresh Standard Webhooks headers (a retry repeats the webhook-id, signs anew)."""
    now = datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(delivery.webhook_id, now, delivery.body.decode()),
    }


def client(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url,
        timeout=httpx.Timeout(30.0),
        limits=httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS),
    )


async def burst_then_kill(
    stack: Stack, service: Proc, sent: list[Delivery], caught: Callable[[], Awaitable[bool]]
) -> dict[str, Answer]:
    """Send every delivery at once (CONNECTIONS of them in flight); SIGKILL the service after
    KILL_AFTER answers, as soon as `caught()` sees a setup between its two units (or after
    CATCH_S without one: the caller bursts again). Every response that arrived counts as answered
    (before the kill or just after it, out of the socket's buffer: the PBX got it); the rest got
    none."""
    answered: dict[str, Answer] = {}
    enough = asyncio.Event()

    async def send(http: httpx.AsyncClient, delivery: Delivery) -> None:
        try:
            response = await http.post("/v1/pbx/events", content=delivery.body, headers=signed(delivery))
        except httpx.TransportError:
            return  # no answer: the connection died with the process, or never opened
        answered[delivery.webhook_id] = Answer(response.status_code, response.json())
        if len(answered) >= KILL_AFTER:
            enough.set()

    async def killer() -> None:
        await enough.wait()
        give_up = time.monotonic() + CATCH_S
        while time.monotonic() < give_up:
            if await caught():
                break
            await asyncio.sleep(0.005)
        service.kill()

    async with client(stack.url) as http:
        kill = asyncio.create_task(killer())
        await asyncio.gather(*(send(http, d) for d in sent))
        if not kill.done():  # everything was answered before the kill: the test proves nothing
            kill.cancel()
            service.kill()
    return answered


async def retry_all(stack: Stack, sent: list[Delivery], deadline_s: float) -> dict[str, Answer]:
    """The PBX's retries: every delivery again, same webhook-id and body, until a 200; a 503 is
    retried after its Retry-After, a transport error after a moment."""
    answers: dict[str, Answer] = {}
    give_up = time.monotonic() + deadline_s

    async def retry(http: httpx.AsyncClient, delivery: Delivery) -> None:
        while time.monotonic() < give_up:
            try:
                response = await http.post("/v1/pbx/events", content=delivery.body, headers=signed(delivery))
            except httpx.TransportError:
                await asyncio.sleep(0.5)
                continue
            answers[delivery.webhook_id] = Answer(response.status_code, response.json())
            if response.status_code != 503:
                return
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))

    async with client(stack.url) as http:
        await asyncio.gather(*(retry(http, d) for d in sent))
    return answers


# -- what the database and the carriers hold ------------------------------------------------


@dataclass
class Stored:
    records: Counter[str]  # call records per call_id
    public_ids: dict[str, str]  # call_id -> the public id its pushes carry
    replies: dict[str, dict[str, Any] | None]  # webhook-id -> stored reply (None: a claim without)


async def stored(sessions: async_sessionmaker[AsyncSession]) -> Stored:
    calls, claims = CALLS.c, CLAIMS.c
    async with sessions() as session:
        records = (
            await session.execute(select(calls.call_id, calls.public_id).where(calls.pbx_id == PBX_ID))
        ).all()
        replies = (
            await session.execute(
                select(claims.dedupe_key, claims.response_body).where(claims.pbx_id == PBX_ID)
            )
        ).all()
    return Stored(
        records=Counter(call_id for call_id, _ in records),
        public_ids=dict(records),
        replies={key: json.loads(body) if body is not None else None for key, body in replies},
    )


async def settled(sessions: async_sessionmaker[AsyncSession], timeout_s: float) -> Stored:
    """What is stored once no claim is waiting for its reply (or `timeout_s` has passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = await stored(sessions)
        if all(reply is not None for reply in now.replies.values()) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.25)


def between(sessions: async_sessionmaker[AsyncSession], keys: set[str]) -> Callable[[], Awaitable[bool]]:
    """Whether a claim of `keys` is committed without its reply: a setup between its two units."""
    claims = CLAIMS.c

    async def check() -> bool:
        async with sessions() as session:
            waiting = await session.execute(
                select(claims.dedupe_key)
                .where(
                    claims.pbx_id == PBX_ID,
                    claims.dedupe_key.in_(sorted(keys)),
                    claims.response_body.is_(None),
                )
                .limit(1)
            )
        return waiting.first() is not None

    return check


async def pushes(stack: Stack) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.sim_url) as http:
        response = await http.get("/_control/pushes")
        response.raise_for_status()
        rows: list[dict[str, Any]] = response.json()
        return rows


# -- the test -------------------------------------------------------------------------------


async def test_sigkill_during_group_commits_loses_no_answered_setup_and_retries_the_rest(
    sessions: async_sessionmaker[AsyncSession], stack: Stack
) -> None:
    await seed(sessions)
    # Where the SIGKILL lands is chance: a setup caught between its two units (claim and record
    # committed, reply not) is what (b) needs. Burst and kill again, with fresh deliveries, until
    # one is caught. Each round's state is taken right after its own kill.
    sent: list[Delivery] = []
    first: dict[str, Answer] = {}
    at_kill = Stored(records=Counter(), public_ids={}, replies={})
    pushed_at_kill: Counter[str] = Counter()
    between_units: list[str] = []
    logs: list[str] = []
    for _ in range(ROUNDS):
        batch = deliveries(SETUPS)
        keys = {d.webhook_id for d in batch}
        service = await stack.start_service()
        try:
            answered = await burst_then_kill(stack, service, batch, caught=between(sessions, keys))
        finally:
            service.kill()
        assert service.popen.returncode == -signal.SIGKILL
        logs.append(service.text())
        now = await stored(sessions)
        await asyncio.sleep(0.5)  # pushes sent before the kill are recorded after the simulator's latency
        pushed_now = Counter(p["request_id"] for p in await pushes(stack))
        calls = {d.call_id for d in batch}
        sent += batch
        first.update(answered)
        at_kill.records.update({c: n for c, n in now.records.items() if c in calls})
        at_kill.public_ids.update({c: i for c, i in now.public_ids.items() if c in calls})
        at_kill.replies.update({k: r for k, r in now.replies.items() if k in keys})
        round_ids = {now.public_ids[c] for c in calls if c in now.public_ids}
        pushed_at_kill.update({i: n for i, n in pushed_now.items() if i in round_ids})
        between_units += [k for k, reply in now.replies.items() if k in keys and reply is None]
        assert len(answered) >= KILL_AFTER, "the kill did not land mid-burst"
        if between_units:
            break
    call_of = {d.webhook_id: d.call_id for d in sent}
    first_log = "\n".join(logs)
    unanswered = [d.webhook_id for d in sent if d.webhook_id not in first]
    log.info(
        "killed after %d answers %s; %d unanswered, %d of them between their two units; "
        "%d claims, %d call records, %d pushes at the kill",
        len(first),
        dict(Counter(a.lettering for a in first.values())),
        len(unanswered),
        len(between_units),
        len(at_kill.replies),
        sum(at_kill.records.values()),
        sum(pushed_at_kill.values()),
    )
    assert unanswered, "the kill did not land mid-burst"
    assert between_units, "no setup was caught between its two units: the takeover went untested"
    odd = {call_of[k]: a for k, a in first.items() if a.status != 200 or a.lettering not in LETTERING}
    assert not odd, (odd, first_log[-3000:])
    durable = {k: a for k, a in first.items() if not a.shed}

    # (a) As the crash left the database: every answered setup has its record and its reply.
    lost = [call_of[k] for k, a in durable.items() if at_kill.records[call_of[k]] != 1]
    assert not lost, f"answered before the kill, no call record: {lost}"
    unstored = {
        call_of[k]: (a.body, at_kill.replies.get(k))
        for k, a in durable.items()
        if at_kill.replies.get(k) != a.body
    }
    assert not unstored, f"answered before the kill, reply not stored (told, stored): {unstored}"

    service = await stack.start_service()
    try:
        again = await retry_all(stack, sent, deadline_s=40)
        # Setups killed between their units: the retry was answered `pending` by the hold budget
        # while it waits for the stale claim (STALE_CLAIM) to be taken over; wait for that too.
        after = await settled(sessions, timeout_s=30)
    finally:
        service.stop()
    second_log = service.text()
    pushed = await pushes(stack)
    pushes_of = Counter(p["request_id"] for p in pushed)

    missing = [call_of[k] for k in call_of if k not in again]
    assert not missing, f"retries never answered: {missing}"
    odd = {call_of[k]: a for k, a in again.items() if a.status != 200 or a.lettering not in LETTERING}
    assert not odd, (odd, second_log[-3000:])
    # (a) The retry of an answered setup is a replay: the same answer, the same record, no push.
    replayed_wrong = {
        call_of[k]: (a.body, again[k].body) for k, a in durable.items() if again[k].body != a.body
    }
    assert not replayed_wrong, f"retry answered otherwise (first, retry): {replayed_wrong}"
    reprocessed = []
    for k in durable:
        public_id = at_kill.public_ids[call_of[k]]
        if after.public_ids[call_of[k]] != public_id or pushes_of[public_id] != pushed_at_kill[public_id]:
            reprocessed.append(call_of[k])
    assert not reprocessed, f"answered before the kill, processed again by the retry: {reprocessed}"
    # (b) A setup killed between its units is taken over, answered from its record, not pushed again.
    pushed_again = [
        call_of[k]
        for k in between_units
        if pushes_of[at_kill.public_ids[call_of[k]]] != pushed_at_kill[at_kill.public_ids[call_of[k]]]
    ]
    assert not pushed_again, f"killed between their units, pushed again by the retry: {pushed_again}"
    # (b), (c) One call record per delivery; one claim each, none left without its reply, and the
    # reply stored is what the retry was told.
    records = {call: after.records[call] for call in call_of.values() if after.records[call] != 1}
    assert not records, f"calls without exactly one record: {records}"
    assert set(after.records) == set(call_of.values())
    assert set(after.replies) == set(call_of)
    waiting = [call_of[k] for k, reply in after.replies.items() if reply is None]
    assert not waiting, (f"claims left without a reply: {waiting}", second_log[-3000:])
    differ = {call_of[k]: (a.body, after.replies[k]) for k, a in again.items() if after.replies[k] != a.body}
    assert not differ, f"stored reply is not what the retry was told (told, stored): {differ}"
    # (c) Nothing was pushed for a call the database does not know, nor accepted twice.
    unknown = set(pushes_of) - set(after.public_ids.values())
    assert not unknown, f"pushes for calls with no record: {unknown}"
    accepted = Counter(p["request_id"] for p in pushed if p.get("result") == "accepted")
    twice = {request: n for request, n in accepted.items() if n > 1}
    assert not twice, f"calls accepted by a carrier more than once: {twice}"

    accepted_between = sum(accepted[at_kill.public_ids[call_of[k]]] for k in between_units)
    log.info(
        "retries answered %s; %d shed before the kill; %d of the setups killed between their units "
        "had been accepted by a carrier (their records keep no outcome)",
        dict(Counter(a.lettering for a in again.values())),
        len(first) - len(durable),
        accepted_between,
    )
