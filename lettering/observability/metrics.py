"""Prometheus metrics at `GET /metrics`: what the call path did, in bounded label values only.

What is measured, and where:

- setups by what the PBX was answered (`lettering_setups_total`: lettering outcome, reason,
  carrier, fallback channel) and how long the answer took from receipt (`lettering_setup_answer_
  seconds`), in `WebhookService.handle`; PBX events by type; setups being answered now;
- `decide()`'s time, around its one call in `WebhookService._decide`;
- each carrier push's time by carrier and outcome, in `Dispatcher.push`;
- the carriers' breakers (how many workers hold each state), set at scrape and every second;
- the AlimTalk outbox's depth by status, read from the database at scrape time.

Personal data: no label or value ever carries a number, a hash, a call id or a token. Every label
value is one of a fixed set (`bounded`): anything else is counted as "other", so a new reason shows
up without a free-text value ever reaching a label.

Hot path: each observation is a dictionary lookup of a child made once per label set and an
increment; no label validation, no string work, no lock other than the value's own
(bench/metrics_overhead.py, bench/RESULTS.md "Metrics overhead").

Several workers (`lettering serve --workers N`): the serve command sets PROMETHEUS_MULTIPROC_DIR
to a fresh folder before the workers start, each worker writes its values to memory-mapped files
there, and a scrape (answered by any one worker) sums them with `MultiProcessCollector`. Gauges
say how they add up (`multiprocess_mode`); a worker that exits is marked dead (`worker_exit`,
and at scrape for one that died without saying so), so its gauges stop counting.

Why the outbox depth is read at scrape time rather than by a job: it is a fact about the shared
database, not about a worker, so it must not be summed across workers; read at scrape it is
exact, costs one GROUP BY over the status index (messages still on their way only) every scrape
interval, and nothing is queried when nobody scrapes. The read is bounded by `OUTBOX_TIMEOUT_S`
and never piles up: while one is still running, the next scrape reports the outbox as unread.
"""

from __future__ import annotations

import asyncio
import glob
import hmac
import ipaddress
import os
import re
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from carriers.base import Outcome, PushResult
from carriers.breaker import BreakerState
from carriers.registry import Carriers
from kakao_fallback import service as kakao_service
from kakao_fallback.relay import RelayStats
from lettering.core.deps import SessionsDep, SettingsDep, provided
from lettering.core.errors import AppError
from lettering.core.settings import MetricsSettings

P = ParamSpec("P")
R = TypeVar("R")

# -- label values: fixed sets only ----------------------------------------------------------------

NONE = "none"  # the reply has no such field (e.g. no reason, no carrier)
OTHER = "other"  # a value outside the known set: counted, never named
OUTCOMES = frozenset({"accepted", "pending", "fallback", "suppressed", "skipped", "failed"})
REASONS = frozenset(
    {
        "callee_not_mobile",
        "opted_out",
        "extension_unknown",
        "agency_disabled",
        "holdout",
        "overloaded",
        "unsupported_device",
        "no_subscriber",
        "carrier_rejected",
        "carrier_failure",
        "internal_error",
        "interrupted",
    }
)
CARRIERS = frozenset({"skt", "kt", "lgu"})
FALLBACKS = frozenset({"alimtalk"})
EVENT_TYPES = frozenset({"call.setup", "call.answered", "call.ended"})
PUSH_OUTCOMES = frozenset(outcome.value for outcome in Outcome)
BREAKER_STATES = tuple(state.value for state in BreakerState)


def bounded(value: object, known: frozenset[str]) -> str:
    """The label value for `value`: itself when known, "none" for None, else "other"."""
    if value is None:
        return NONE
    return value if isinstance(value, str) and value in known else OTHER


# -- the metrics ----------------------------------------------------------------------------------

# The PBX's hold budget is 500 ms by default: fine steps up to it, coarse ones past it.
ANSWER_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.75, 1.0, 2.0)
# decide() runs in memory in tens of microseconds; a millisecond is already slow for it.
DECIDE_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
# A push may go on past the hold budget, up to the ring window (6 s by default).
PUSH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 4.0, 6.0)

EVENTS = Counter(
    "lettering_pbx_events", "PBX events received (valid, authenticated; redeliveries too), by type.", ["type"]
)
SETUPS = Counter(
    "lettering_setups",
    "Setup answers to the PBX (a redelivery's too) by lettering outcome, reason, carrier and fallback.",
    ["lettering", "reason", "carrier", "fallback"],
)
ANSWER_SECONDS = Histogram(
    "lettering_setup_answer_seconds",
    "Time from a setup's receipt to its answer to the PBX, by lettering outcome.",
    ["lettering"],
    buckets=ANSWER_BUCKETS,
)
SETUPS_IN_FLIGHT = Gauge(
    "lettering_setups_in_flight",
    "Setups received and not answered yet (summed over live workers).",
    multiprocess_mode="livesum",
)
DECIDE_SECONDS = Histogram("lettering_decide_seconds", "Time of one decide() call.", buckets=DECIDE_BUCKETS)
PUSH_SECONDS = Histogram(
    "lettering_carrier_push_seconds",
    "Time of one push to a carrier, by carrier and the carrier's outcome.",
    ["carrier", "outcome"],
    buckets=PUSH_BUCKETS,
)
BREAKERS = Gauge(
    "lettering_carrier_breaker_state",
    "Workers whose breaker for the carrier is in this state (1 or 0 with one worker).",
    ["carrier", "state"],
    multiprocess_mode="livesum",
)

ALIMTALK = Counter(
    "lettering_alimtalk_messages",
    "AlimTalk outbox messages by what a relay pass did with them: sent (posted to the dealer), "
    "accepted (by the dealer), retried, deferred (outside sending hours), dead, dropped (opted "
    "out), polled and finished (a delivery result recorded).",
    ["result"],
)
RELAY_RESULTS = ("sent", "accepted", "retried", "deferred", "dead", "dropped", "polled", "finished")
_alimtalk_children = {result: ALIMTALK.labels(result) for result in RELAY_RESULTS}

# Children made once per label set: the hot path does a dictionary lookup, not `labels()`.
_event_children = {kind: EVENTS.labels(kind) for kind in EVENT_TYPES}
# Present from the start (zero), so a rate over them is defined before the first setup.
for _outcome in OUTCOMES:
    ANSWER_SECONDS.labels(_outcome)
_setup_children: dict[tuple[object, ...], tuple[Any, Any]] = {}
_push_children: dict[tuple[str, str], Any] = {}


def event_received(kind: str) -> None:
    """A PBX event passed authentication and validation."""
    child = _event_children.get(kind)
    (child or EVENTS.labels(OTHER)).inc()


def setup_started() -> None:
    SETUPS_IN_FLIGHT.inc()


def setup_answered(body: Mapping[str, Any] | None, received: float) -> None:
    """A setup's answer left (`body` is its reply; None when it failed with an error)."""
    SETUPS_IN_FLIGHT.dec()
    if body is None:
        return
    elapsed = time.monotonic() - received
    key = (body.get("lettering"), body.get("reason"), body.get("carrier"), body.get("fallback"))
    children = _setup_children.get(key)
    if children is None:
        children = _children_for(key)
    children[0].inc()
    children[1].observe(elapsed)


def _children_for(key: tuple[object, ...]) -> tuple[Any, Any]:
    lettering, reason, carrier, fallback = key
    labels = (
        bounded(lettering, OUTCOMES),
        bounded(reason, REASONS),
        bounded(carrier, CARRIERS),
        bounded(fallback, FALLBACKS),
    )
    children = (SETUPS.labels(*labels), ANSWER_SECONDS.labels(labels[0]))
    if OTHER not in labels:  # only known values are kept as keys: the cache stays bounded
        _setup_children[key] = children
    return children


def count_relay_pass(stats: RelayStats) -> None:
    """One AlimTalk relay pass's counts (off the call path: the relay's own loop)."""
    for result, child in _alimtalk_children.items():
        count = getattr(stats, result)
        if count:
            child.inc(count)


def time_decide(decide: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`decide(*args, **kwargs)`, its time observed."""
    started = time.perf_counter()
    try:
        return decide(*args, **kwargs)
    finally:
        DECIDE_SECONDS.observe(time.perf_counter() - started)


def observe_pushes(attempts: Sequence[PushResult]) -> None:
    """Each push of a routed lettering: its carrier, the carrier's outcome, its time."""
    for push in attempts:
        key = (push.carrier, str(push.outcome))
        child = _push_children.get(key)
        if child is None:
            labels = (bounded(key[0], CARRIERS), bounded(key[1], PUSH_OUTCOMES))
            child = PUSH_SECONDS.labels(*labels)
            if OTHER not in labels:
                _push_children[key] = child
        child.observe(push.latency_ms / 1000)


def refresh_breakers(carriers: Carriers) -> None:
    """This worker's breaker states as one-hot gauges (summed over workers at scrape)."""
    for name, breaker in carriers.breakers.items():
        carrier = bounded(name, CARRIERS)
        state = breaker.state.value
        for each in BREAKER_STATES:
            BREAKERS.labels(carrier, each).set(1 if each == state else 0)


async def refresh_loop(carriers: Carriers, stop: asyncio.Event, interval_s: float = 1.0) -> None:
    """Every `interval_s`, this worker's breaker states (an open breaker turns half-open by the
    clock alone, and a scrape reaches one worker only: the others keep their own values fresh)."""
    while not stop.is_set():
        refresh_breakers(carriers)
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass


# -- several workers --------------------------------------------------------------------------------


def multiprocess_dir() -> str | None:
    """The folder the workers share their values in, or None with one process (as prometheus_client
    decides it: at import, from the environment)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def prepare_multiprocess_dir(path: str) -> None:
    """Make `path` and empty it of values left by an earlier run (before any worker starts)."""
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)


def worker_exit() -> None:
    """This worker stops: its live gauges stop counting (its counters keep adding up)."""
    path = multiprocess_dir()
    if path is not None:
        mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


_LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db$")


def sweep_dead_workers(path: str) -> list[int]:
    """Mark dead the workers whose live gauge files remain but whose process is gone (killed
    without its shutdown: uvicorn starts another in its place)."""
    dead: list[int] = []
    for pid in {int(m.group(1)) for f in os.listdir(path) if (m := _LIVE_FILE.search(f))}:
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
            dead.append(pid)
        except PermissionError:  # alive, another user's (not ours to judge)
            continue
    return dead


# -- the outbox, read at scrape ----------------------------------------------------------------------

OUTBOX_TIMEOUT_S = 0.5


class OutboxReader:
    """One outbox read at a time, never waited for past the timeout (as the readiness probe)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], timeout_s: float) -> None:
        self._sessions = sessions
        self._timeout_s = timeout_s
        self._running: asyncio.Task[dict[str, int]] | None = None

    async def read(self) -> dict[str, int] | None:
        if self._running is not None and not self._running.done():
            return None
        task = asyncio.create_task(self._query(), name="metrics-outbox")
        task.add_done_callback(_consume)
        self._running = task
        done, _ = await asyncio.wait({task}, timeout=self._timeout_s)
        if not done or task.exception() is not None:
            if not done:
                task.cancel()
            return None
        return task.result()

    async def _query(self) -> dict[str, int]:
        async with self._sessions() as session:
            return await kakao_service.outbox_depth(session)


def _consume(task: asyncio.Task[dict[str, int]]) -> None:
    if not task.cancelled():
        task.exception()


# One reader per session factory (one per app): the next scrape sees whether the last read still runs.
_readers: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], OutboxReader] = (
    weakref.WeakKeyDictionary()
)


def _reader(sessions: async_sessionmaker[AsyncSession]) -> OutboxReader:
    reader = _readers.get(sessions)
    if reader is None:
        reader = _readers[sessions] = OutboxReader(sessions, OUTBOX_TIMEOUT_S)
    return reader


class _Families:
    """Metric families computed for one scrape (the outbox), as a collector."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self._families


def outbox_families(depth: Mapping[str, int] | None) -> list[Metric]:
    ok = GaugeMetricFamily(
        "lettering_outbox_read_ok", "1 when this scrape read the outbox's depth, else 0 (timeout, error)."
    )
    ok.add_metric([], 0 if depth is None else 1)
    messages = GaugeMetricFamily(
        "lettering_outbox_messages", "AlimTalk messages still on their way, by status.", labels=["status"]
    )
    for status, count in (depth or {}).items():
        messages.add_metric([status], count)
    return [ok, messages]


def render(depth: Mapping[str, int] | None) -> bytes:
    """The exposition: every worker's values (summed) or this process's, then the outbox."""
    path = multiprocess_dir()
    if path is None:
        base = generate_latest(REGISTRY)
    else:
        sweep_dead_workers(path)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
        base = generate_latest(registry)
    extra = CollectorRegistry(auto_describe=False)
    extra.register(_Families(outbox_families(depth)))
    return base + generate_latest(extra)


# -- access -------------------------------------------------------------------------------------------


class MetricsRefused(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__(
            "/metrics answers only addresses in LETTERING_METRICS__ALLOW (default: loopback) or a "
            "request with the bearer token of LETTERING_METRICS__TOKEN"
        )


def allowed(rules: MetricsSettings, client_host: str | None, authorization: str | None) -> bool:
    """May this client read the metrics: its address is in an allowed network, or it sent the
    configured bearer token (compared in constant time). No token configured: addresses only."""
    if client_host is not None:
        try:
            address = ipaddress.ip_address(client_host)
        except ValueError:
            address = None
        if address is not None and any(
            address in ipaddress.ip_network(net, strict=False) for net in rules.allow
        ):
            return True
    if rules.token is None or authorization is None:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), rules.token.get_secret_value().encode())


router = APIRouter(tags=["ops"])
CarriersDep = Annotated[Carriers, Depends(provided(Carriers))]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text exposition"},
        403: {"description": "not an allowed address and no valid bearer token"},
    },
)
async def metrics(
    request: Request, settings: SettingsDep, sessions: SessionsDep, carriers: CarriersDep
) -> Response:
    """Prometheus metrics: the call path's counters and times, the breakers, the outbox's depth."""
    client = request.client.host if request.client else None
    if not allowed(settings.metrics, client, request.headers.get("authorization")):
        raise MetricsRefused()
    refresh_breakers(carriers)
    depth = await _reader(sessions).read()
    # Reading every worker's files is blocking I/O: off the event loop, which serves setups.
    body = await asyncio.to_thread(render, depth)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
