"""Load benchmark of the call path (issue 11): every figure next to a floor measured in the same run.

Run:  .venv/bin/python bench/load.py [--db sqlite|postgres|both] [--workers N] [--duration S]
                                     [--quick] [--profile] [--mix skt=80,kt=10,lgu=5,iphone=5]
                                     [--relay-in-process] [--json FILE] [--at REV]
                                     [--figures 1,2,3,4] [--capacity N] [--keep-profile FILE]

What runs, each in its own OS process on 127.0.0.1: the carrier simulator (`lettering simulate
carriers`, latency 0-0 ms), the service (`lettering serve --workers N`, simulators not in process),
the floor (bench/floor_app.py: a bare FastAPI route served the same way), wrk, and the open-loop
senders (this file, spawned). PostgreSQL is a throwaway cluster from scripts/pg-test.

Figures:
  1. wrk, 1 thread, 64 and 128 connections: floor req/s, service req/s, service decided/s (answers
     whose "lettering" is neither "pending" nor "shed"), decided / floor, latency distribution.
  2. Open loop at fixed rates (5, 50, 300/s): service CPU ms per answered setup (utime+stime of the
     uvicorn master and workers, plus the PostgreSQL cluster's processes), p50/p99 latency measured
     from each request's scheduled send time, and the p99 added over the floor at the same rate.
  3. Open loop at 2x and 5x the capacity from figure 1: share answered within the hold budget,
     answers by lettering value, service RSS, and from the database: late pushes, carrier_failure
     without an attempt, time for the backlog to drain.
  4. 300/s with a share of callees on 010-0998-… (the simulator stalls their carrier 3 s): share
     answered within 500 ms, and stalled calls with a final outcome after the ring window + margin.

Every delivery is signed ahead of time (shortly before its phase; the tolerance is 300 s) and sent
once: unique webhook-id and call_id. Callees are the simulator's fictional test numbers only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import math
import multiprocessing
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PY = (
    str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
)
WRK = shutil.which("wrk") or "/usr/bin/wrk"
PY_SPY = str(ROOT / ".venv" / "bin" / "py-spy")
LUA = str(ROOT / "bench" / "wrk_setup.lua")
SECRET = "whsec_" + base64.b64encode(b"bench-secret-0123456789abcdef012345").decode()
PBX_ID = "bench"
HOLD_MS = 500
RING_WINDOW_S = 6.0  # lettering.core.settings.CarrierSettings.ring_window_ms default
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
NOT_DECIDED = frozenset({"pending", "shed"})
OPEN_WHEN = ("skipped", "suppressed", "shed")  # answers that leave nothing to push

SIM_SECRETS = {
    "LETTERING_CARRIERS__SKT__CLIENT_SECRET": "bench-skt",
    "LETTERING_CARRIERS__KT__SECRET": "bench-kt",
    "LETTERING_CARRIERS__LGU__API_KEY": "bench-lgu",
    "LETTERING_CARRIERS__LGU__CALLBACK_SECRET": "bench-cb",
}


def say(text: str = "") -> None:
    print(text, flush=True)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- processes: accounting from /proc ---------------------------------------------------------


def _all_stats() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, CPU ticks of the process plus its reaped children)."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        fields = raw[raw.rindex(b")") + 2 :].split()
        # fields[0] is field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
        ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        stats[int(entry)] = (int(fields[1]), ticks)
    return stats


def tree_pids(root: int, stats: dict[int, tuple[int, int]] | None = None) -> list[int]:
    stats = stats if stats is not None else _all_stats()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _t) in stats.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_s(root: int) -> float:
    """CPU seconds of a process tree: every live process's own time plus what it reaped.

    utime+stime of each live process, plus cutime+cstime (children it has waited for, e.g. the
    PostgreSQL backends of closed connections): nothing is counted twice, exited children are kept.
    """
    stats = _all_stats()
    return sum(stats[pid][1] for pid in tree_pids(root, stats)) / CLK_TCK


def tree_rss_mb(root: int) -> float:
    total_kb = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open(f"/proc/{pid}/statm") as f:
                total_kb += int(f.read().split()[1]) * PAGE_KB
    return total_kb / 1024


def worker_pids(root: int) -> list[int]:
    """uvicorn's worker processes under a master (the master itself when it serves alone)."""
    workers = []
    for pid in tree_pids(root):
        if pid == root:
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"spawn_main" in f.read():
                    workers.append(pid)
    return workers or [root]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """SIGTERM to its process group (it runs in its own session), SIGKILL after 10 s."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def start_proc(name: str, argv: list[str], env: dict[str, str], logdir: Path, cwd: Path = ROOT) -> Proc:
    log = logdir / f"{name}.log"
    with open(log, "wb") as out:
        popen = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Proc(name, popen, log)


def wait_listening(proc: Proc, port: int, timeout_s: float = 60.0) -> None:
    """Until something answers HTTP on the port (any status)."""
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.tail()}")
        with contextlib.suppress(OSError):
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if sock.recv(16).startswith(b"HTTP/1.1"):
                    return
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not start listening on {port}:\n{proc.tail()}")


# -- deliveries ---------------------------------------------------------------------------------

DEFAULT_MIX = "skt=80,kt=10,lgu=5,iphone=5"
KINDS = ("skt", "kt", "lgu", "none", "iphone", "stall")


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        kind, _, share = part.partition("=")
        if kind.strip() not in KINDS:
            raise SystemExit(f"--mix: unknown kind {kind!r} (one of {', '.join(KINDS)})")
        mix.append((kind.strip(), float(share)))
    total = sum(s for _k, s in mix)
    return [(k, s / total) for k, s in mix]


def test_callee(rng: random.Random, kind: str) -> str:
    """A fictional test number 010-0ABC-DEFG (spec/carriers.md, simulator profile) of this kind.

    skt/kt/lgu: an Android subscriber of that carrier (G 0-3 / 4-6 / 7-8, F 3-9; the router asks
    skt, kt, lgu in turn, so kt costs one not_subscriber hop and lgu two); none: G 9, no carrier;
    iphone: an SKT subscriber on an iPhone (F 0-2: unsupported device, AlimTalk fallback);
    stall: an SKT subscriber on 010-0998-… (the simulator answers after 3 s).
    """
    abc = "998" if kind == "stall" else f"{rng.randint(100, 996):03d}"
    d, e = rng.randint(0, 9), rng.randint(0, 9)
    f = rng.randint(0, 2) if kind == "iphone" else rng.randint(3, 9)
    g = {
        "skt": rng.randint(0, 3),
        "stall": rng.randint(0, 3),
        "iphone": rng.randint(0, 3),
        "kt": rng.randint(4, 6),
        "lgu": rng.randint(7, 8),
        "none": 9,
    }[kind]
    return f"010-0{abc}-{d}{e}{f}{g}"


@dataclass
class Delivery:
    msg_id: str
    call_id: str
    kind: str
    body: str


class Deliveries:
    """Unique call.setup bodies for the benchmark PBX: varied extensions and callees."""

    def __init__(self, extensions: Sequence[str], mix: list[tuple[str, float]], seed: int = 11) -> None:
        self._extensions = list(extensions)
        self._mix = mix
        self._rng = random.Random(seed)
        self._salt = os.urandom(4).hex()

    def _kind(self) -> str:
        x = self._rng.random()
        for kind, share in self._mix:
            x -= share
            if x < 0:
                return kind
        return self._mix[-1][0]

    def make(
        self,
        tag: str,
        n: int,
        occurred_at: Callable[[int], datetime],
        stall_share: float = 0.0,
    ) -> list[Delivery]:
        out = []
        for i in range(n):
            kind = "stall" if stall_share and self._rng.random() < stall_share else self._kind()
            call_id = f"{tag}-{i:07d}-{kind}"
            body = json.dumps(
                {
                    "type": "call.setup",
                    "pbx_id": PBX_ID,
                    "call_id": call_id,
                    "occurred_at": occurred_at(i).isoformat(timespec="milliseconds"),
                    "extension": self._rng.choice(self._extensions),
                    "callee_number": test_callee(self._rng, kind),
                },
                separators=(",", ":"),
            )
            out.append(Delivery(f"msg_{tag}_{i}_{self._salt}", call_id, kind, body))
        return out


def sign(deliveries: Sequence[Delivery], secret: str = SECRET) -> list[tuple[str, str, str, str]]:
    """Standard Webhooks signatures, all at the current second: (id, timestamp, signature, body)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    ts = str(int(time.time()))
    signed = []
    for d in deliveries:
        mac = hmac.new(key, f"{d.msg_id}.{ts}.{d.body}".encode(), hashlib.sha256).digest()
        signed.append((d.msg_id, ts, "v1," + base64.b64encode(mac).decode(), d.body))
    return signed


def check_signature_once() -> None:
    """Our signing agrees with the standardwebhooks package (what the service verifies with)."""
    from standardwebhooks.webhooks import Webhook

    d = Delivery("msg_check", "check", "skt", '{"a":1}')
    msg_id, ts, sig, body = sign([d])[0]
    Webhook(SECRET).verify(body, {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig})


def write_lines(path: Path, signed: Sequence[tuple[str, str, str, str]]) -> None:
    with open(path, "w") as f:
        for row in signed:
            f.write("\t".join(row) + "\n")


def raw_requests(port: int, signed: Sequence[tuple[str, str, str, str]]) -> list[bytes]:
    out = []
    for msg_id, ts, sig, body in signed:
        data = body.encode()
        head = (
            f"POST /v1/pbx/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"webhook-id: {msg_id}\r\nwebhook-timestamp: {ts}\r\nwebhook-signature: {sig}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        out.append(head.encode() + data)
    return out


# -- wrk ----------------------------------------------------------------------------------------


def run_wrk(port: int, lines: Path, connections: int, duration_s: float, wrap: bool) -> dict[str, Any]:
    argv = [WRK, "-t1", f"-c{connections}", f"-d{int(duration_s)}s", "--timeout", "10s", "-s", LUA]
    argv += [f"http://127.0.0.1:{port}", "--", str(lines)] + (["wrap"] if wrap else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 120, cwd=ROOT)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            result["seconds"] = result["duration_us"] / 1e6
            result["rps"] = result["requests"] / result["seconds"]
            return result
    raise RuntimeError(f"wrk gave no summary (rc {done.returncode}):\n{done.stdout}\n{done.stderr}")


# -- open-loop sender ---------------------------------------------------------------------------

ANSWER_RE = re.compile(rb'"lettering"\s*:\s*"([A-Za-z_]+)"')
SHED_RE = re.compile(rb'"reason"\s*:\s*"overloaded"')
LENGTH_RE = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)
CLOSE_RE = re.compile(rb"\r\nconnection:\s*close", re.IGNORECASE)


async def _open_loop(
    port: int,
    requests: list[bytes],
    offsets: list[float],
    start_wall: float,
    timeout_s: float,
    max_connections: int,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    t0 = loop.time() + (start_wall - time.time())
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    slots = asyncio.Semaphore(max_connections)
    latencies: list[float | None] = [None] * len(requests)
    keys: list[str] = ["unsent"] * len(requests)
    lags: list[float] = []
    opened = 0

    async def one(k: int) -> None:
        nonlocal opened
        scheduled = t0 + offsets[k]
        conn = None
        try:
            async with asyncio.timeout_at(scheduled + timeout_s), slots:
                if idle:
                    conn = idle.pop()
                else:
                    conn = await asyncio.open_connection("127.0.0.1", port)
                    conn[1].get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    opened += 1
                reader, writer = conn
                writer.write(requests[k])
                head = await reader.readuntil(b"\r\n\r\n")
                length = LENGTH_RE.search(head)
                body = await reader.readexactly(int(length.group(1))) if length else b""
                latencies[k] = (loop.time() - scheduled) * 1000
                status = int(head[9:12])
                if status == 200:
                    found = ANSWER_RE.search(body)
                    keys[k] = found.group(1).decode() if found else "no_lettering"
                    if keys[k] == "skipped" and SHED_RE.search(body):
                        keys[k] = "shed"  # answered at the admission limit: not a decided setup
                else:
                    keys[k] = f"http_{status}"
                if CLOSE_RE.search(head):
                    writer.close()
                else:
                    idle.append(conn)
                conn = None
        except TimeoutError:
            keys[k] = "timeout"
        except (OSError, asyncio.IncompleteReadError, ValueError):
            keys[k] = "error"
        finally:
            if conn is not None:
                conn[1].close()

    tasks = []
    for k in range(len(requests)):
        delay = t0 + offsets[k] - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lags.append((loop.time() - t0 - offsets[k]) * 1000)
        tasks.append(asyncio.create_task(one(k)))
    await asyncio.gather(*tasks)
    for _r, w in idle:
        w.close()
    return {"latencies": latencies, "keys": keys, "lags": lags, "connections": opened}


def _sender_main(
    port: int,
    requests: list[bytes],
    offsets: list[float],
    start_wall: float,
    timeout_s: float,
    max_connections: int,
    pipe: Any,
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    before = os.times()
    result = asyncio.run(_open_loop(port, requests, offsets, start_wall, timeout_s, max_connections))
    after = os.times()
    result["cpu_s"] = (after.user + after.system) - (before.user + before.system)
    pipe.send(result)
    pipe.close()


@dataclass
class OpenLoopResult:
    rate: float
    sent: int
    latencies: list[float]  # ms from the scheduled send time, answered requests only
    keys: Counter[str]
    lag_p99_ms: float
    sender_cpu_s: float
    seconds: float
    connections: int
    by_kind: dict[str, list[float]] = field(default_factory=dict)

    @property
    def answered(self) -> int:
        return len(self.latencies)

    def within(self, ms: float) -> float:
        """Share of all sent requests answered within `ms` of their scheduled send time."""
        return sum(1 for x in self.latencies if x <= ms) / self.sent if self.sent else float("nan")

    @property
    def http_200(self) -> int:
        return sum(
            v for k, v in self.keys.items() if not k.startswith("http_") and k not in ("timeout", "error")
        )


def open_loop(
    port: int,
    requests: list[bytes],
    rate: float,
    kinds: Sequence[str] | None = None,
    timeout_s: float = 15.0,
    max_connections: int = 2000,
    per_process_rate: float = 1500.0,
) -> OpenLoopResult:
    """Send `requests` at `rate`/s on schedule (never waiting for answers), from 1+ processes."""
    n = len(requests)
    processes = max(1, math.ceil(rate / per_process_rate))
    ctx = multiprocessing.get_context("spawn")
    start_wall = time.time() + 1.5 + 0.3 * processes
    jobs = []
    for j in range(processes):
        idx = list(range(j, n, processes))
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_sender_main,
            args=(
                port,
                [requests[i] for i in idx],
                [i / rate for i in idx],
                start_wall,
                timeout_s,
                max(1, max_connections // processes),
                child,
            ),
            daemon=True,
        )
        proc.start()
        child.close()
        jobs.append((idx, proc, parent))
    latencies: list[float] = []
    keys: Counter[str] = Counter()
    lags: list[float] = []
    cpu = 0.0
    conns = 0
    by_kind: dict[str, list[float]] = {}
    bound = n / rate + timeout_s + 60
    try:
        for idx, proc, parent in jobs:
            if not parent.poll(max(1.0, start_wall + bound - time.time())):
                raise RuntimeError("an open-loop sender did not report in time")
            got = parent.recv()
            proc.join(timeout=10)
            cpu += got["cpu_s"]
            conns += got["connections"]
            lags += got["lags"]
            for pos, i in enumerate(idx):
                key = got["keys"][pos]
                keys[key] += 1
                ms = got["latencies"][pos]
                if ms is not None:
                    latencies.append(ms)
                    if kinds is not None:
                        by_kind.setdefault(kinds[i], []).append(ms)
    finally:
        for _idx, proc, _parent in jobs:
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
    return OpenLoopResult(rate, n, latencies, keys, percentile(lags, 99), cpu, n / rate, conns, by_kind)


# -- the database, read-only --------------------------------------------------------------------


def _tables() -> tuple[Any, Any]:
    """The columns read here of call_record and call_attempt (lettering/calls/models.py), declared
    locally: the harness never imports the service's code, which may be mid-edit."""
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

    meta = MetaData()
    record = Table(
        "call_record",
        meta,
        Column("id", Integer, primary_key=True),
        Column("pbx_id", String),
        Column("call_id", String),
        Column("lettering", String),
        Column("final_outcome", String),
        Column("final_reason", String),
        Column("occurred_at", DateTime(timezone=True)),
        Column("setup_received_at", DateTime(timezone=True)),
        Column("updated_at", DateTime(timezone=True)),
    )
    attempt = Table(
        "call_attempt",
        meta,
        Column("id", Integer, primary_key=True),
        Column("call_record_id", Integer),
        Column("created_at", DateTime(timezone=True)),
        Column("latency_ms", Integer),
        Column("outcome", String),
    )
    return record, attempt


def read_only_url(url: str) -> tuple[str, dict[str, Any]]:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        return f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true", {}
    return url, {"server_settings": {"default_transaction_read_only": "on"}}


async def _open_calls(url: str, prefix: str) -> tuple[int, int]:
    """(records of this phase, records still waiting for their final outcome)."""
    from sqlalchemy import func, or_, select
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    ro_url, args = read_only_url(url)
    engine = create_async_engine(ro_url, poolclass=NullPool, connect_args=args)
    t, _a = _tables()
    phase = (t.c.pbx_id == PBX_ID) & t.c.call_id.like(f"{prefix}-%")
    try:
        async with engine.connect() as conn:
            total = (await conn.execute(select(func.count()).where(phase))).scalar_one()
            still = (
                await conn.execute(
                    select(func.count()).where(
                        phase,
                        t.c.final_outcome.is_(None),
                        or_(t.c.lettering.is_(None), t.c.lettering.not_in(OPEN_WHEN)),
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    return int(total), int(still)


def wait_drained(url: str, prefix: str, expected: int, started: float, cap_s: float) -> float | None:
    """Seconds from `started` (monotonic) until every answered setup of the phase has its final
    outcome recorded; None if that did not happen within `cap_s`."""
    give_up = time.monotonic() + cap_s
    while True:
        total, still = asyncio.run(_open_calls(url, prefix))
        if total >= expected and still == 0:
            return time.monotonic() - started
        if time.monotonic() > give_up:
            say(
                f"    (backlog of {prefix}: {still} of {total} calls still open"
                f" after {cap_s:.0f} s; going on)"
            )
            return None
        time.sleep(0.5)


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


async def _phase_rows(url: str, prefix: str) -> tuple[list[Any], dict[int, list[Any]]]:
    from sqlalchemy import select
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    ro_url, args = read_only_url(url)
    engine = create_async_engine(ro_url, poolclass=NullPool, connect_args=args)
    r, a = _tables()
    phase = (r.c.pbx_id == PBX_ID) & r.c.call_id.like(f"{prefix}-%")
    try:
        async with engine.connect() as conn:
            records = (
                await conn.execute(
                    select(
                        r.c.id,
                        r.c.call_id,
                        r.c.lettering,
                        r.c.final_outcome,
                        r.c.final_reason,
                        r.c.occurred_at,
                        r.c.setup_received_at,
                        r.c.updated_at,
                    ).where(phase)
                )
            ).all()
            attempts: dict[int, list[Any]] = {}
            rows = await conn.execute(
                select(a.c.call_record_id, a.c.created_at, a.c.latency_ms, a.c.outcome)
                .join(r, r.c.id == a.c.call_record_id)
                .where(phase)
            )
            for row in rows:
                attempts.setdefault(row.call_record_id, []).append(row)
    finally:
        await engine.dispose()
    return list(records), attempts


@dataclass
class PhaseRecords:
    records: int
    lettering: Counter[str]
    final: Counter[str]
    late_vs_pbx: int  # pushes whose estimated start is after occurred_at + ring window
    late_vs_receipt: int  # ... after setup_received_at + ring window
    with_attempts: int
    failure_without_attempt: int
    open_calls: int
    last_update_after_start_s: float | None
    stalled: int
    stalled_final: int


def phase_records(url: str, prefix: str, phase_start_wall: float) -> PhaseRecords:
    """What the database says about one phase's calls (call_id starts with `prefix-`).

    A push's start time is not stored: call_attempt.created_at is when its row was built, after
    the whole route finished. The start is estimated as the last attempt's created_at minus the sum
    of the attempts' latency_ms (an upper bound of the real start when recording was delayed).
    occurred_at is the scheduled send time (the harness sets it), setup_received_at the service's.
    """
    records, attempts = asyncio.run(_phase_rows(url, prefix))
    lettering: Counter[str] = Counter()
    final: Counter[str] = Counter()
    late_pbx = late_rcv = with_att = fail_no_att = still = stalled = stalled_final = 0
    last_update: datetime | None = None
    ring = timedelta(seconds=RING_WINDOW_S)
    for rec in records:
        lettering[rec.lettering or "(none)"] += 1
        final[f"{rec.final_outcome or '(open)'}/{rec.final_reason or '-'}"] += 1
        if rec.call_id.endswith("-stall"):
            stalled += 1
            stalled_final += rec.final_outcome is not None
        if rec.final_outcome is None and (rec.lettering or "") not in OPEN_WHEN:
            still += 1
        updated = _aware(rec.updated_at)
        if updated is not None and (last_update is None or updated > last_update):
            last_update = updated
        tried = attempts.get(rec.id, [])
        if not tried and rec.final_reason == "carrier_failure":
            fail_no_att += 1
        if tried:
            with_att += 1
            end = max(_aware(x.created_at) for x in tried)  # type: ignore[type-var]
            start = end - timedelta(milliseconds=sum(int(x.latency_ms) for x in tried))
            occurred = _aware(rec.occurred_at)
            received = _aware(rec.setup_received_at)
            if occurred is not None and start > occurred + ring:
                late_pbx += 1
            if received is not None and start > received + ring:
                late_rcv += 1
    after = (last_update.timestamp() - phase_start_wall) if last_update is not None else None
    return PhaseRecords(
        len(records),
        lettering,
        final,
        late_pbx,
        late_rcv,
        with_att,
        fail_no_att,
        still,
        after,
        stalled,
        stalled_final,
    )


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Stack:
    db: str
    url: str
    workers: int
    tmp: Path
    service: Proc
    service_port: int
    floor: Proc
    floor_port: int
    simulator: Proc
    others: list[Proc]
    postmaster: int | None
    extensions: list[str]


def export_commit(rev: str, tmp: Path) -> Path:
    """A copy of the tree at `rev` (git archive; the repository is only read): the code under test."""
    code = tmp / "code"
    code.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, timeout=120, check=True)
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, timeout=120, check=True)
    return code


def base_env(
    db_url: str, service_port: int, sim_port: int, kakao_port: int | None, tmp: Path
) -> dict[str, str]:
    key = lambda: base64.b64encode(os.urandom(32)).decode()  # noqa: E731
    sim = f"http://127.0.0.1:{sim_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LETTERING_") and k != "PYTHONPATH"}
    env.update(SIM_SECRETS)
    env.update(
        {
            "LETTERING_ENV": "test",
            "LETTERING_DATABASE_URL": db_url,
            "LETTERING_PUBLIC_BASE_URL": f"http://127.0.0.1:{service_port}",
            "LETTERING_PHONE_HASH_KEY": key(),
            "LETTERING_PHONE_ENC_KEY": key(),
            "LETTERING_LINK_SECRET": "bench-link-secret",
            "LETTERING_MEDIA_DIR": str(tmp / "media"),
            "LETTERING_CARRIERS__SKT__BASE_URL": f"{sim}/skt",
            "LETTERING_CARRIERS__KT__BASE_URL": f"{sim}/kt",
            "LETTERING_CARRIERS__LGU__BASE_URL": f"{sim}/lgu",
            "LETTERING_KAKAO__AGENCIES": json.dumps({"*": {"secret_key": "bench-kakao"}}),
            "LETTERING_KAKAO__RELAY_IN_PROCESS": "true" if kakao_port else "false",
            "LETTERING_SIMULATORS_IN_PROCESS": "false",
            "LETTERING_SIMULATOR__LATENCY_MIN_MS": "0",
            "LETTERING_SIMULATOR__LATENCY_MAX_MS": "0",
            "LETTERING_LOG_LEVEL": "WARNING",
        }
    )
    if kakao_port:
        env["LETTERING_KAKAO__BASE_URL"] = f"http://127.0.0.1:{kakao_port}"
    return env


def prepare_db(code: Path, env: dict[str, str], logdir: Path) -> None:
    """Migrations, the directory (data/directory.csv), the signed benchmark PBX: with the CLI of the
    code under test (`code`), so a half-edited working tree never runs in this process."""
    steps = [
        ["db", "upgrade"],
        ["directory", "import", str(ROOT / "data" / "directory.csv")],
        ["pbx", "add", "--id", PBX_ID, "--agency", "HANBIT", "--secret", SECRET, "--hold-ms", str(HOLD_MS)],
    ]
    for step in steps:
        done = subprocess.run(
            [PY, "-m", "lettering.cli", *step], env=env, cwd=code, capture_output=True, text=True, timeout=300
        )
        (logdir / "prepare.log").open("a").write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(
                f"lettering {' '.join(step[:2])} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )


def hanbit_extensions() -> list[str]:
    """The extensions of the benchmark PBX's agency (HANBIT) in data/directory.csv."""
    with open(ROOT / "data" / "directory.csv", encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        agency, ext = header.index("agency_code"), header.index("extension")
        return [row[ext] for row in (line.rstrip("\n").split(",") for line in f) if row[agency] == "HANBIT"]


@contextlib.contextmanager
def stack(db: str, workers: int, relay: bool, at: str | None) -> Iterator[Stack]:
    procs: list[Proc] = []
    pg_dir: Path | None = None
    tmp = Path(tempfile.mkdtemp(prefix="lettering-load-"))
    try:
        code = export_commit(at, tmp) if at else ROOT
        postmaster = None
        if db == "postgres":
            # Not under `tmp` (mode 0700): as root the cluster belongs to the postgres user.
            pg_dir = Path(tempfile.gettempdir()) / f"lettering-load-pg-{os.getpid()}-{os.urandom(3).hex()}"
            out = subprocess.run(
                [str(ROOT / "scripts" / "pg-test"), "start", str(pg_dir)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if out.returncode != 0:
                raise RuntimeError(f"scripts/pg-test start failed:\n{out.stderr}")
            url = out.stdout.strip().splitlines()[-1]
            postmaster = int((pg_dir / "data" / "postmaster.pid").read_text().split()[0])
        else:
            url = f"sqlite+aiosqlite:///{tmp}/load.db"
        service_port, sim_port, floor_port = free_port(), free_port(), free_port()
        kakao_port = free_port() if relay else None
        env = base_env(url, service_port, sim_port, kakao_port, tmp)
        if at:
            env["PYTHONPATH"] = str(code)
        prepare_db(code, env, tmp)
        extensions = hanbit_extensions()
        simulator = start_proc(
            "simulator",
            [PY, "-m", "lettering.cli", "simulate", "carriers", "--port", str(sim_port)],
            env,
            tmp,
        )
        procs.append(simulator)
        others = []
        if kakao_port:
            kakao = start_proc(
                "alimtalk",
                [PY, "-m", "lettering.cli", "simulate", "alimtalk", "--port", str(kakao_port)],
                env,
                tmp,
                code,
            )
            procs.append(kakao)
            others.append(kakao)
        service = start_proc(
            "service",
            [PY, "-m", "lettering.cli", "serve", "--host", "127.0.0.1", "--port", str(service_port)]
            + ["--workers", str(workers)],
            env,
            tmp,
            code,
        )
        procs.append(service)
        floor = start_proc(
            "floor",
            [PY, str(ROOT / "bench" / "floor_app.py"), "--port", str(floor_port), "--workers", str(workers)],
            env,
            tmp,
        )
        procs.append(floor)
        wait_listening(simulator, sim_port)
        if kakao_port:
            wait_listening(others[0], kakao_port)
        wait_listening(service, service_port, 90)
        wait_listening(floor, floor_port)
        time.sleep(1.0 + workers)  # every worker has started and built its snapshots
        yield Stack(
            db,
            url,
            workers,
            tmp,
            service,
            service_port,
            floor,
            floor_port,
            simulator,
            others,
            postmaster,
            extensions,
        )
    finally:
        for proc in reversed(procs):
            proc.stop()
        if pg_dir is not None:
            subprocess.run(
                [str(ROOT / "scripts" / "pg-test"), "stop", str(pg_dir)], timeout=120, capture_output=True
            )
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Options:
    duration: float
    connections: list[int]
    steady_rates: list[float]
    overload: list[float]
    stall_rate: float
    stall_share: float
    drain_cap: float
    profile: bool
    capacity: float | None
    mix: list[tuple[str, float]]
    figures: set[int] = field(default_factory=lambda: {1, 2, 3, 4})
    keep_profile: Path | None = None


class Bench:
    def __init__(self, s: Stack, opts: Options) -> None:
        self.s = s
        self.o = opts
        self.gen = Deliveries(s.extensions, opts.mix)
        self.results: dict[str, Any] = {"db": s.db, "workers": s.workers}
        self.idle = (0.0, 0.0)

    # helpers

    def service_cpu(self) -> float:
        return tree_cpu_s(self.s.service.pid)

    def pg_cpu(self) -> float:
        return tree_cpu_s(self.s.postmaster) if self.s.postmaster else 0.0

    def requests_for(self, port: int, tag: str, n: int, rate: float, stall_share: float = 0.0):  # type: ignore[no-untyped-def]
        start = datetime.now(UTC) + timedelta(seconds=2)
        deliveries = self.gen.make(tag, n, lambda i: start + timedelta(seconds=i / rate), stall_share)
        return raw_requests(port, sign(deliveries)), [d.kind for d in deliveries]

    def drain(self, prefix: str, expected: int, started: float) -> float | None:
        return wait_drained(self.s.url, prefix, expected, started, self.o.drain_cap)

    # figure 1

    def figure1(self) -> None:
        say("\n== 1. Decided setups per second (wrk, 1 thread, closed loop, pre-signed unique deliveries)")
        d = self.o.duration
        floor_file = self.s.tmp / "floor.tsv"
        rows = []
        for c in self.o.connections:
            write_lines(floor_file, sign(self.gen.make(f"f{c}", 20_000, lambda _i: datetime.now(UTC))))
            floor = run_wrk(self.s.floor_port, floor_file, c, d, wrap=True)
            n = int(floor["rps"] * d * 1.2) + 2000
            tag = f"w{c}"
            svc_file = self.s.tmp / f"{tag}.tsv"
            write_lines(svc_file, sign(self.gen.make(tag, n, lambda _i: datetime.now(UTC))))
            cpu0 = self.service_cpu()
            svc = run_wrk(self.s.service_port, svc_file, c, d, wrap=False)
            cpu1 = self.service_cpu()
            started = time.monotonic()
            counts = svc["counts"]
            decided = sum(v for k, v in counts.items() if k not in NOT_DECIDED and not k.startswith("http_"))
            row = {
                "connections": c,
                "floor_rps": floor["rps"],
                "floor_latency_us": floor["latency_us"],
                "floor_errors": floor["errors"],
                "service_rps": svc["rps"],
                "service_decided_per_s": decided / svc["seconds"],
                "service_counts": counts,
                "service_latency_us": svc["latency_us"],
                "service_errors": svc["errors"],
                "service_exhausted": svc["exhausted"],
                "service_cpu_s_during": cpu1 - cpu0,
            }
            answered = sum(v for k, v in counts.items() if not k.startswith("http_"))
            row["drain_s"] = self.drain(tag, answered, started)
            rows.append(row)
            lf, ls = floor["latency_us"], svc["latency_us"]
            say(
                f"  c={c:<4} floor {floor['rps']:8.0f} req/s"
                f" (p50 {lf['p50'] / 1000:.1f} p99 {lf['p99'] / 1000:.1f} ms)"
                f" | service {svc['rps']:7.0f} req/s, decided {row['service_decided_per_s']:7.1f}/s"
                f" = {row['service_decided_per_s'] / floor['rps']:.1%} of floor"
                f" (p50 {ls['p50'] / 1000:.1f} p90 {ls['p90'] / 1000:.1f} p99 {ls['p99'] / 1000:.1f}"
                f" max {ls['max'] / 1000:.1f} ms)"
            )
            say(
                f"         answers {dict(sorted(counts.items()))}; wrk errors {svc['errors']}"
                + (" [delivery file used up]" if svc["exhausted"] else "")
            )
            say(
                f"         load generator: floor driven at {floor['rps'] / max(svc['rps'], 1e-9):.1f}x the"
                f" service's rate ({'ok' if floor['rps'] >= 2 * svc['rps'] else 'NOT >= 2x: wrk may limit'});"
                f" backlog drained {fmt_s(row['drain_s'])} after wrk stopped"
            )
        self.results["figure1"] = rows

    # figure 2

    def steady(self, rate: float, profile: bool) -> dict[str, Any]:
        n = max(10, int(rate * self.o.duration))
        floor_reqs, _ = self.requests_for(self.s.floor_port, f"fs{int(rate)}", n, rate)
        fcpu0 = tree_cpu_s(self.s.floor.pid)
        floor = open_loop(self.s.floor_port, floor_reqs, rate)
        floor_cpu = tree_cpu_s(self.s.floor.pid) - fcpu0
        tag = f"s{int(rate)}"
        reqs, _ = self.requests_for(self.s.service_port, tag, n, rate)
        spy = self.start_profile() if profile else None
        cpu0, pg0, sim0 = self.service_cpu(), self.pg_cpu(), tree_cpu_s(self.s.simulator.pid)
        start_wall = time.time()
        started = time.monotonic()
        svc = open_loop(self.s.service_port, reqs, rate)
        answered_at = time.monotonic()
        drain = self.drain(tag, svc.http_200, started)
        cpu1, pg1, sim1 = self.service_cpu(), self.pg_cpu(), tree_cpu_s(self.s.simulator.pid)
        prof = self.finish_profile(spy) if spy else None
        answered = max(svc.answered, 1)
        window = time.monotonic() - started
        db = phase_records(self.s.url, tag, start_wall)  # after the CPU window: not counted in it
        idle, pg_idle = self.idle
        row = {
            "rate": rate,
            "sent": n,
            "answered": svc.answered,
            "answers": dict(svc.keys),
            "service_cpu_ms_per_setup": (cpu1 - cpu0) * 1000 / answered,
            "postgres_cpu_ms_per_setup": (pg1 - pg0) * 1000 / answered if self.s.postmaster else None,
            "service_net_cpu_ms_per_setup": (cpu1 - cpu0 - idle * window) * 1000 / answered,
            "postgres_net_cpu_ms_per_setup": (pg1 - pg0 - pg_idle * window) * 1000 / answered
            if self.s.postmaster
            else None,
            "simulator_cpu_ms_per_setup": (sim1 - sim0) * 1000 / answered,
            "floor_cpu_ms_per_request": floor_cpu * 1000 / max(floor.answered, 1),
            "p50_ms": percentile(svc.latencies, 50),
            "p99_ms": percentile(svc.latencies, 99),
            "max_ms": max(svc.latencies, default=float("nan")),
            "floor_p50_ms": percentile(floor.latencies, 50),
            "floor_p99_ms": percentile(floor.latencies, 99),
            "within_hold": svc.within(HOLD_MS),
            "sender_lag_p99_ms": svc.lag_p99_ms,
            "sender_cpu_share": svc.sender_cpu_s / max(answered_at - started, 1e-9),
            "drain_s": drain,
            "cpu_window_s": window,
            "final": dict(db.final),
        }
        row["added_p99_ms"] = row["p99_ms"] - row["floor_p99_ms"]
        if prof is not None:
            row["profile"] = prof
        pg_net = (
            f" + {row['postgres_net_cpu_ms_per_setup']:.2f}"
            if row["postgres_net_cpu_ms_per_setup"] is not None
            else ""
        )
        pg = (
            f" + PostgreSQL {row['postgres_cpu_ms_per_setup']:.2f} ms"
            if row["postgres_cpu_ms_per_setup"] is not None
            else ""
        )
        say(
            f"  {rate:6.0f}/s x {self.o.duration:.0f} s:"
            f" service CPU {row['service_cpu_ms_per_setup']:.2f} ms/setup{pg}"
            f" (net of idle {row['service_net_cpu_ms_per_setup']:.2f}{pg_net})"
            f" (simulator {row['simulator_cpu_ms_per_setup']:.2f};"
            f" floor {row['floor_cpu_ms_per_request']:.2f} ms/req)"
            f" | latency p50 {row['p50_ms']:.1f} p99 {row['p99_ms']:.1f} ms,"
            f" floor p50 {row['floor_p50_ms']:.1f}"
            f" p99 {row['floor_p99_ms']:.1f} ms, added p99 {row['added_p99_ms']:.1f} ms"
        )
        say(
            f"          answers {dict(sorted(svc.keys.items()))};"
            f" within {HOLD_MS} ms {row['within_hold']:.1%};"
            f" sender lag p99 {svc.lag_p99_ms:.1f} ms; CPU counted over {row['cpu_window_s']:.1f} s"
            f" (until the backlog drained: {fmt_s(drain)})"
        )
        say(f"          final outcome/reason: {dict(db.final.most_common())}")
        return row

    def figure2(self) -> None:
        say("\n== 2. CPU per setup at a steady rate (open loop, latency from the scheduled send time)")
        idle0, pg0 = self.service_cpu(), self.pg_cpu()
        time.sleep(3.0)
        idle, pg_idle = (self.service_cpu() - idle0) / 3.0, (self.pg_cpu() - pg0) / 3.0
        self.idle = (idle, pg_idle)
        say(
            f"  idle CPU: service {idle * 1000:.1f} ms/s, PostgreSQL {pg_idle * 1000:.1f} ms/s (scheduler,"
            " snapshot polls); 'net of idle' below subtracts it over the window"
        )
        rows = []
        for rate in self.o.steady_rates:
            rows.append(self.steady(rate, profile=self.o.profile and rate == max(self.o.steady_rates)))
        self.results["figure2"] = {
            "idle_cpu_ms_per_s": idle * 1000,
            "idle_pg_cpu_ms_per_s": pg_idle * 1000,
            "rates": rows,
        }
        for row in rows:
            if "profile" in row:
                print_profile(row["profile"])

    # figure 3

    def capacity(self) -> tuple[float, str]:
        if self.o.capacity:
            return self.o.capacity, "--capacity"
        decided = max((r["service_decided_per_s"] for r in self.results.get("figure1", [])), default=0.0)
        if decided >= 5:
            return decided, "figure 1 decided/s"
        rows = self.results.get("figure2", {}).get("rates", [])
        if rows:
            cpu = rows[0]["service_net_cpu_ms_per_setup"] + (rows[0]["postgres_net_cpu_ms_per_setup"] or 0.0)
            cores = min(os.cpu_count() or 1, self.s.workers)
            est = cores * 1000 / max(cpu, 0.1)
            return (
                est,
                f"figure 1 decided {decided:.0f}/s; estimated from CPU/setup at {rows[0]['rate']:.0f}/s",
            )
        return 25.0 * self.s.workers, "fixed guess"

    def figure3(self) -> None:
        cap, source = self.capacity()
        say(f"\n== 3. On time under overload (capacity {cap:.0f} setups/s, from {source})")
        rows = []
        for factor in self.o.overload:
            rate = cap * factor
            n = max(10, int(rate * self.o.duration))
            tag = f"o{int(factor)}x"
            reqs, _ = self.requests_for(self.s.service_port, tag, n, rate)
            start_wall = time.time()
            started = time.monotonic()
            peak = PeakRss(self.s.service.pid)
            with peak:
                svc = open_loop(self.s.service_port, reqs, rate)
                rss_end = tree_rss_mb(self.s.service.pid)
            drain = self.drain(tag, svc.http_200, started)
            db = phase_records(self.s.url, tag, start_wall)
            row = {
                "factor": factor,
                "rate": rate,
                "sent": n,
                "answers": dict(svc.keys),
                "within_hold": svc.within(HOLD_MS),
                "p50_ms": percentile(svc.latencies, 50),
                "p99_ms": percentile(svc.latencies, 99),
                "sender_lag_p99_ms": svc.lag_p99_ms,
                "rss_end_mb": rss_end,
                "rss_peak_mb": peak.peak,
                "drain_s": drain,
                "db": db.__dict__ | {"lettering": dict(db.lettering), "final": dict(db.final)},
            }
            rows.append(row)
            say(
                f"  {factor:.0f}x = {rate:.0f}/s x {self.o.duration:.0f} s ({n} setups): within {HOLD_MS} ms"
                f" {row['within_hold']:.1%} (p50 {row['p50_ms']:.0f} p99 {row['p99_ms']:.0f} ms);"
                f" answers {dict(sorted(svc.keys.items()))}"
            )
            say(
                f"          service RSS {rss_end:.0f} MB at the end of sending (peak {peak.peak:.0f} MB);"
                f" backlog drained {fmt_s(drain)} after the first send"
                f" (last call_record update {fmt_s(db.last_update_after_start_s)} after it)"
            )
            say(
                f"          database: {db.records} records; pushes started after the ring window: "
                f"{db.late_vs_pbx} (vs the PBX's occurred_at) / {db.late_vs_receipt} (vs setup_received_at)"
                f" of {db.with_attempts} with attempts; carrier_failure without any attempt:"
                f" {db.failure_without_attempt}; still open: {db.open_calls}"
            )
            say(f"          final outcome/reason: {dict(db.final.most_common())}")
        self.results["figure3"] = {"capacity": cap, "capacity_source": source, "rates": rows}

    # figure 4

    def figure4(self) -> None:
        rate, share = self.o.stall_rate, self.o.stall_share
        say(
            f"\n== 4. Hold budget with one carrier stalled: {rate:.0f}/s x {self.o.duration:.0f} s,"
            f" {share:.0%} of callees on 010-0998-… (SKT answers after 3 s)"
        )
        n = max(10, int(rate * self.o.duration))
        tag = "st"
        reqs, kinds = self.requests_for(self.s.service_port, tag, n, rate, stall_share=share)
        start_wall = time.time()
        started = time.monotonic()
        svc = open_loop(self.s.service_port, reqs, rate, kinds=kinds)
        wait = max(0.0, start_wall + n / rate + RING_WINDOW_S + 2.0 - time.time())
        time.sleep(wait)
        db = phase_records(self.s.url, tag, start_wall)
        stalled_lat = svc.by_kind.get("stall", [])
        stalled_sent = sum(1 for k in kinds if k == "stall")
        row = {
            "rate": rate,
            "sent": n,
            "stalled_sent": stalled_sent,
            "answers": dict(svc.keys),
            "within_hold": svc.within(HOLD_MS),
            "stalled_within_hold": sum(1 for x in stalled_lat if x <= HOLD_MS) / max(stalled_sent, 1),
            "p99_ms": percentile(svc.latencies, 99),
            "stalled_recorded_final_after_ring_window": db.stalled_final,
            "stalled_records": db.stalled,
            "db": db.__dict__ | {"lettering": dict(db.lettering), "final": dict(db.final)},
        }
        say(
            f"  within {HOLD_MS} ms: {row['within_hold']:.1%} of all ({n}),"
            f" {row['stalled_within_hold']:.1%} of the stalled ({stalled_sent}); p99 {row['p99_ms']:.0f} ms;"
            f" answers {dict(sorted(svc.keys.items()))}"
        )
        say(
            f"  {RING_WINDOW_S + 2:.0f} s after the last send: {db.stalled_final} of {stalled_sent}"
            f" stalled calls have a final outcome recorded ({db.stalled} recorded at all);"
            f" all calls still open: {db.open_calls}"
        )
        say(f"  final outcome/reason: {dict(db.final.most_common())}")
        row["drain_s"] = self.drain(tag, svc.http_200, started)
        say(f"  backlog drained {fmt_s(row['drain_s'])} after the first send")
        self.results["figure4"] = row

    # profile

    def start_profile(self) -> tuple[subprocess.Popen[bytes], Path, int] | None:
        if not Path(PY_SPY).exists():
            say("  (py-spy not found: no profile)")
            return None
        pid = worker_pids(self.s.service.pid)[0]
        out = self.s.tmp / "profile.txt"
        argv = [
            PY_SPY,
            "record",
            "--gil",
            "--rate",
            "200",
            "--format",
            "raw",
            "--nonblocking",
            "--full-filenames",
        ]
        argv += ["-o", str(out), "--pid", str(pid), "--duration", str(int(self.o.duration) + 2)]
        proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        return proc, out, pid

    def finish_profile(self, spy: tuple[subprocess.Popen[bytes], Path, int]) -> dict[str, Any] | None:
        proc, out, pid = spy
        try:
            _o, err = proc.communicate(timeout=self.o.duration + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGINT)
            _o, err = proc.communicate(timeout=30)
        if not out.exists():
            say(f"  (py-spy wrote no profile: {err.decode(errors='replace').strip()[-300:]})")
            return None
        if self.o.keep_profile is not None:
            shutil.copyfile(out, self.o.keep_profile)
        return summarise_profile(out.read_text(errors="replace"), pid)


class PeakRss:
    """Samples the service tree's RSS every 0.25 s in a thread while the block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = False

    def __enter__(self) -> PeakRss:
        import threading

        def run() -> None:
            while not self._stop:
                self.peak = max(self.peak, tree_rss_mb(self.pid))
                time.sleep(0.25)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join(timeout=5)


FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _package(path: str) -> str:
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    exported = re.match(r".*/lettering-load-[^/]+/code/(.*)$", path)  # the tree of --at
    if exported or path.startswith(str(ROOT)) or not path.startswith("/"):
        rel = exported.group(1) if exported else path.removeprefix(str(ROOT) + "/")
        return "app:" + rel.split("/", 1)[0].removesuffix(".py")
    if "/python3" in path:
        parts = path.removesuffix(".py").rsplit("/", 2)
        return "stdlib:" + (parts[-2] if parts[-1] == "__init__" else parts[-1])
    return path


def summarise_profile(raw: str, pid: int) -> dict[str, Any]:
    """py-spy raw (collapsed stacks, root first): own time by function and by package."""
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        leaf = stack.rsplit(";", 1)[-1]
        m = FRAME_RE.match(leaf)
        func, path = (m.group("func"), m.group("file")) if m else (leaf, "")
        short = re.sub(r".*/lettering-load-[^/]+/code/", "", path.split("site-packages/", 1)[-1])
        short = short.removeprefix(str(ROOT) + "/")
        own[f"{func} ({short})"] += n
        packages[_package(path)] += n
    return {
        "pid": pid,
        "samples": total,
        "top_own": [(name, n, n / total) for name, n in own.most_common(25)] if total else [],
        "packages": [(name, n, n / total) for name, n in packages.most_common(15)] if total else [],
    }


def print_profile(prof: dict[str, Any]) -> None:
    say(
        f"\n  profile of worker pid {prof['pid']} (py-spy --gil, 200 Hz):"
        f" {prof['samples']} samples holding the GIL"
    )
    say("  top 25 functions by own time:")
    for name, n, share in prof["top_own"]:
        say(f"    {share:6.1%} {n:6d}  {name}")
    say("  own time by package:")
    for name, n, share in prof["packages"]:
        say(f"    {share:6.1%} {n:6d}  {name}")


def fmt_s(value: float | None) -> str:
    return "not within the cap" if value is None else f"{value:.1f} s"


def warm_up(b: Bench) -> None:
    """Tokens, connections, code paths: 40 setups at 20/s, then the backlog drains."""
    reqs, _ = b.requests_for(b.s.service_port, "warm", 40, 20.0)
    started = time.monotonic()
    res = open_loop(b.s.service_port, reqs, 20.0)
    broken = {k: v for k, v in res.keys.items() if k.startswith("http_5") or k in ("error", "timeout")}
    if broken:
        raise RuntimeError(f"the service fails its warm-up ({dict(res.keys)}):\n{b.s.service.tail(30)}")
    b.drain("warm", res.http_200, started)
    freqs, _ = b.requests_for(b.s.floor_port, "fwarm", 40, 20.0)
    open_loop(b.s.floor_port, freqs, 20.0)
    say(f"  warm-up: {dict(res.keys)}")


def run_db(db: str, workers: int, opts: Options, relay: bool, at: str | None) -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", at or "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = (
        ""
        if at
        else subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "lettering",
                "carriers",
                "kakao_fallback",
                "campaigns",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.rstrip("\n")
    )
    changed = ", ".join(line[3:] for line in dirty.splitlines())
    say(
        f"\n######## {db}, {workers} worker(s); {'exported ' if at else 'working tree at '}commit {commit}"
        f"{' + uncommitted changes in ' + changed if dirty else ''};"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs"
    )
    mix = ", ".join(f"{k} {s:.0%}" for k, s in opts.mix)
    say(f"  callee mix: {mix}; carrier simulator 0-0 ms in its own process; hold budget {HOLD_MS} ms")
    with stack(db, workers, relay, at) as s:
        b = Bench(s, opts)
        warm_up(b)
        for number, figure in ((1, b.figure1), (2, b.figure2), (3, b.figure3), (4, b.figure4)):
            if number in opts.figures:
                figure()
        for proc in [s.service, s.simulator, s.floor, *s.others]:
            if proc.popen.poll() is not None:
                say(f"  !! {proc.name} exited during the run ({proc.popen.returncode}):\n{proc.tail()}")
        errors = [line for line in s.service.tail(400).splitlines() if "Traceback" in line or "ERROR" in line]
        if errors:
            say(f"  service log: {len(errors)} error lines in its last 400 lines, e.g. {errors[-1][:200]}")
        b.results.update(
            commit=commit, dirty=bool(dirty), date=datetime.now(UTC).isoformat(timespec="seconds")
        )
        return b.results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--workers", type=int, default=None, help="default: 1 on SQLite, 2 on PostgreSQL")
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of each wrk run and open-loop phase"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run of every figure")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy one worker during the highest steady rate"
    )
    parser.add_argument("--mix", default=DEFAULT_MIX, help=f"callee kinds and shares (default {DEFAULT_MIX})")
    parser.add_argument("--rates", default="5,50,300", help="steady rates of figure 2, per second")
    parser.add_argument("--overload", default="2,5", help="multiples of capacity for figure 3")
    parser.add_argument(
        "--capacity", type=float, default=None, help="setups/s for figure 3 (default: figure 1)"
    )
    parser.add_argument("--stall-share", type=float, default=0.2, help="share of stalled callees in figure 4")
    parser.add_argument(
        "--drain-cap", type=float, default=300.0, help="longest wait for a backlog to drain, s"
    )
    parser.add_argument(
        "--relay-in-process", action="store_true", help="run the AlimTalk relay in the service"
    )
    parser.add_argument(
        "--at",
        default=None,
        help="measure the code of this commit (git archive into a temp dir) instead of the working tree",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    parser.add_argument("--figures", default="1,2,3,4", help="which figures to run (default all: 1,2,3,4)")
    parser.add_argument("--keep-profile", type=Path, default=None, help="copy py-spy's raw profile here")
    args = parser.parse_args()
    opts = Options(
        duration=args.duration,
        connections=[64, 128],
        steady_rates=[float(x) for x in args.rates.split(",")],
        overload=[float(x) for x in args.overload.split(",")],
        stall_rate=300.0,
        stall_share=args.stall_share,
        drain_cap=args.drain_cap,
        profile=args.profile,
        capacity=args.capacity,
        mix=parse_mix(args.mix),
        figures={int(x) for x in args.figures.split(",")},
        keep_profile=args.keep_profile,
    )
    if args.quick:
        opts.duration = min(opts.duration, 3.0)
        opts.connections = [64]
        opts.drain_cap = min(opts.drain_cap, 90.0)
    if 1 in opts.figures and not os.access(WRK, os.X_OK):
        parser.error("figure 1 needs wrk (Debian: apt-get install wrk); or leave it out: --figures 2,3,4")
    check_signature_once()
    if args.at:  # one commit for every database, even if HEAD moves during the run
        args.at = subprocess.run(
            ["git", "rev-parse", "--verify", f"{args.at}^{{commit}}"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout.strip()

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    results = []
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        workers = args.workers or (1 if db == "sqlite" else 2)
        results.append(run_db(db, workers, opts, args.relay_in_process, args.at))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        say(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
