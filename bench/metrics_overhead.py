"""The metrics' cost per setup on the call path (lettering/observability/metrics.py).

One setup makes these observations: the event counted (`event_received`), the setup in flight
(`setup_started`), decide() timed (`time_decide`), one carrier push (`observe_pushes`, most
setups make one), the answer counted and timed (`setup_answered`); and `handle` awaits one more
coroutine (`_answer`). Each is timed alone and together, with timeit (best of 11), in one process
and in multiprocess mode (PROMETHEUS_MULTIPROC_DIR set, as `lettering serve --workers N` does:
the values are memory-mapped files), which a child process measures because prometheus_client
picks the mode at import. A scrape's rendering is timed too (it runs off the event loop).

Times are CPU time (`time.process_time`), the call path's budget being CPU per setup, so a
shared machine's other load does not count as ours. The yardstick (one SetupResponse validated
and dumped, which every setup's answer costs already) is measured in the same run.

    .venv/bin/python bench/metrics_overhead.py
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NUMBER = 20_000
REPEAT = 11


def measure() -> dict[str, float]:
    """Microseconds per call of each observation, and of one setup's whole set."""
    from carriers.base import Outcome, PushResult
    from lettering.observability import metrics
    from lettering.webhook.schemas import SetupResponse

    push = [PushResult("skt", Outcome.accepted, "200", 12)]
    body = {"lettering": "accepted", "reason": None, "carrier": "skt", "fallback": None, "elapsed_ms": 3}

    def decide() -> int:
        return 1

    def one_setup() -> None:
        received = time.monotonic()
        metrics.event_received("call.setup")
        metrics.setup_started()
        metrics.time_decide(decide)
        metrics.observe_pushes(push)
        metrics.setup_answered(body, received)

    def nothing() -> None:
        time.monotonic()
        decide()

    cases = {
        "event_received": lambda: metrics.event_received("call.setup"),
        "setup_started": metrics.setup_started,
        "time_decide (around a no-op)": lambda: metrics.time_decide(decide),
        "observe_pushes (one push)": lambda: metrics.observe_pushes(push),
        "setup_answered": lambda: metrics.setup_answered(body, time.monotonic()),
        "one setup, all of the above": one_setup,
        "baseline (the same loop, no metrics)": nothing,
        "yardstick: one SetupResponse validated and dumped": lambda: SetupResponse.model_validate(
            body | {"call_id": "c-0123456789abcdef"}
        ).model_dump(),
    }
    found = {
        name: min(timeit.repeat(case, timer=time.process_time, number=NUMBER, repeat=REPEAT)) / NUMBER * 1e6
        for name, case in cases.items()
    }

    async def inner() -> int:
        return 1

    async def outer() -> int:
        return await inner()

    async def awaits(layer: object) -> float:
        call = outer if layer else inner
        start = time.process_time()
        for _ in range(NUMBER):
            await call()
        return (time.process_time() - start) / NUMBER * 1e6

    one_more = min(asyncio.run(awaits(True)) - asyncio.run(awaits(False)) for _ in range(REPEAT))
    found["handle's extra await (_answer)"] = max(0.0, one_more)
    render = (
        min(
            timeit.repeat(
                lambda: metrics.render({"queued": 1}), timer=time.process_time, number=200, repeat=REPEAT
            )
        )
        / 200
    )
    found["scrape: render (ms, not per setup)"] = render * 1e3
    return found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(measure()))
        return
    single = measure()
    with tempfile.TemporaryDirectory(prefix="lettering-metrics-bench-") as folder:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": folder}
        run = subprocess.run(
            [sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True
        )
        multi = json.loads(run.stdout.strip().splitlines()[-1])
    width = max(len(k) for k in single)
    print(f"{'µs per call'.ljust(width)}  {'one process':>12}  {'multiprocess':>12}")
    for name, value in single.items():
        print(f"{name.ljust(width)}  {value:12.2f}  {multi[name]:12.2f}")
    for label, figures in (("one process", single), ("multiprocess", multi)):
        added = (
            figures["one setup, all of the above"]
            - figures["baseline (the same loop, no metrics)"]
            + figures["handle's extra await (_answer)"]
        )
        print(f"added per setup, {label}: {added:.2f} µs")


if __name__ == "__main__":
    main()
