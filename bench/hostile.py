"""Hostile bodies against the running service while a PBX sends setups (issue 15): does the
setups' latency hold, and is every hostile request refused?

Run: .venv/bin/python bench/hostile.py [--db sqlite|postgres] [--rate 50] [--duration 15]
                                       [--loris 100]

The stack is bench/load.py's (service, carrier simulator, each its own process; 1 worker on
SQLite, 2 on PostgreSQL). Two phases of `--rate` setups/s for `--duration` s each, open loop,
latency from each request's scheduled send time:

  A. setups alone;
  B. the same, while from this process (its own thread and event loop) `--loris` connections send
     a body to POST /v1/auth/login at one byte per 0.5 s, and four loops send in turn: a multipart
     body with a 10 MB epilogue (chunked, no length), 1,001 fields, a part with 10,000 headers,
     and a declared body 6 MB over the cap. The login route reads its body before anything else
     (no account is needed), so it is what an outsider can reach.

Reported: setups p50 / p99 and share within the 500 ms hold budget in A and B, the service's
CPU per second in each phase, and the hostile requests' answers by status.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402  (bench/load.py: the stack, the senders, the signing)

PATH = "/v1/auth/login"
BOUNDARY = "hostile-boundary"


def part(name: str, value: bytes, extra: bytes = b"") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n'.encode()
        + extra
        + b"\r\n"
        + value
        + b"\r\n"
    )


CLOSE = f"--{BOUNDARY}--\r\n".encode()
FIELDS_1001 = b"".join(part(f"f{n}", b"x") for n in range(1001)) + CLOSE
HEADERS_10000 = part("email", b"a@b.kr", b"".join(b"X-Filler-%d: y\r\n" % n for n in range(10_000))) + CLOSE
EPILOGUE_FORM = part("email", b"a@b.kr") + part("password", b"x" * 12) + CLOSE


async def exchange(port: int, head: list[str], body: object, statuses: Counter[str]) -> None:
    """One request; the body is bytes (sent at once), or an async iterator of chunks."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        statuses["connect_error"] += 1
        return
    writer.write(("\r\n".join([f"POST {PATH} HTTP/1.1", "Host: bench", *head]) + "\r\n\r\n").encode())

    async def send() -> None:
        try:
            if isinstance(body, bytes):
                writer.write(body)
                await writer.drain()
            else:
                async for piece in body:  # type: ignore[attr-defined]
                    writer.write(piece)
                    await writer.drain()
        except (ConnectionError, OSError):
            pass

    sender = asyncio.create_task(send())
    try:
        line = await asyncio.wait_for(reader.readline(), timeout=120)
        statuses[line.split()[1].decode() if line else "closed"] += 1
    except (ConnectionError, OSError):
        statuses["reset"] += 1
    except TimeoutError:
        statuses["no_answer_120s"] += 1
    finally:
        sender.cancel()
        writer.close()


def multipart_head(length: int | None) -> list[str]:
    size = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return [f"Content-Type: multipart/form-data; boundary={BOUNDARY}", size]


async def chunked(prefix: bytes, total: int, size: int = 64 * 1024) -> object:
    yield b"%x\r\n%s\r\n" % (len(prefix), prefix)
    sent = 0
    while sent < total:
        piece = b"e" * min(size, total - sent)
        sent += len(piece)
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


async def trickle(total: int, gap_s: float) -> object:
    for _ in range(total):
        yield b"e"
        await asyncio.sleep(gap_s)


async def attack(port: int, loris: int, until: float, statuses: dict[str, Counter[str]]) -> None:
    async def slow_loris() -> None:
        while time.monotonic() < until:
            head = ["Content-Type: application/x-www-form-urlencoded", "Content-Length: 100000"]
            await exchange(port, head, trickle(100_000, 0.5), statuses["slow loris"])

    async def loop(name: str, make: object) -> None:
        while time.monotonic() < until:
            head, body = make()  # type: ignore[operator]
            await exchange(port, head, body, statuses[name])

    jobs = [slow_loris() for _ in range(loris)]
    jobs += [
        loop("10 MB epilogue", lambda: (multipart_head(None), chunked(EPILOGUE_FORM, 10 * 1024 * 1024))),
        loop("1,001 fields", lambda: (multipart_head(len(FIELDS_1001)), FIELDS_1001)),
        loop("10,000 part headers", lambda: (multipart_head(len(HEADERS_10000)), HEADERS_10000)),
        loop("6 MB over the cap, declared", lambda: (multipart_head(256 * 1024 + 6 * 1024 * 1024), b"")),
    ]
    await asyncio.gather(*jobs)


def setups(b: load.Bench, tag: str, rate: float, duration: float) -> tuple[load.OpenLoopResult, float]:
    n = int(rate * duration)
    start = datetime.now(UTC) + timedelta(seconds=2)
    deliveries = b.gen.make(tag, n, lambda i: start + timedelta(seconds=i / rate))
    reqs = load.raw_requests(b.s.service_port, load.sign(deliveries))
    cpu0, t0 = b.service_cpu(), time.monotonic()
    res = load.open_loop(b.s.service_port, reqs, rate)
    return res, (b.service_cpu() - cpu0) / (time.monotonic() - t0)


def report(label: str, res: load.OpenLoopResult, cpu_per_s: float) -> None:
    lat = res.latencies
    load.say(
        f"  {label}: {res.sent} setups at {res.rate:.0f}/s | p50 {load.percentile(lat, 50):.1f}"
        f" p99 {load.percentile(lat, 99):.1f} ms | within 500 ms {100 * res.within(500):.1f}%"
        f" | service CPU {1000 * cpu_per_s:.0f} ms/s | answers {dict(res.keys)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--loris", type=int, default=100)
    args = parser.parse_args()
    load.check_signature_once()
    workers = 2 if args.db == "postgres" else 1
    opts = load.Options(
        duration=args.duration,
        connections=[],
        steady_rates=[],
        overload=[],
        stall_rate=0.0,
        stall_share=0.0,
        drain_cap=60.0,
        profile=False,
        capacity=None,
        mix=load.parse_mix("skt=80,kt=10,lgu=5,iphone=5"),
        figures=set(),
        keep_profile=None,
    )
    with load.stack(args.db, workers, False, None) as s:
        b = load.Bench(s, opts)
        load.warm_up(b)
        load.say(
            f"\n== hostile bodies ({args.db}, {workers} worker(s)),"
            f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        alone, cpu_alone = setups(b, "quiet", args.rate, args.duration)
        report("A. setups alone      ", alone, cpu_alone)
        statuses: dict[str, Counter[str]] = {}
        for name in (
            "slow loris",
            "10 MB epilogue",
            "1,001 fields",
            "10,000 part headers",
            "6 MB over the cap, declared",
        ):
            statuses[name] = Counter()
        # The attack starts 2 s before the setups' first scheduled send and runs past their last.
        until = time.monotonic() + 2 + args.duration + 15
        attacker = threading.Thread(
            target=lambda: asyncio.run(attack(s.service_port, args.loris, until, statuses)), daemon=True
        )
        attacker.start()
        time.sleep(2)
        attacked, cpu_attacked = setups(b, "attacked", args.rate, args.duration)
        report("B. setups under attack", attacked, cpu_attacked)
        attacker.join(timeout=200)
        for name, counts in statuses.items():
            load.say(f"     {name}: {dict(counts)}")
        errors = [line for line in s.service.tail(400).splitlines() if "Traceback" in line or "ERROR" in line]
        load.say(
            f"  service log: {len(errors)} error lines in its last 400"
            + (f", e.g. {errors[-1][:200]}" if errors else "")
        )


if __name__ == "__main__":
    main()
