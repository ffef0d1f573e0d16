"""A simulated month of calls with a 10 % holdout, through the running service over HTTP.

The answer probabilities are known (52 % without lettering, 61 % with it: a true lift of 9
points); `call.ended` says whether each call was answered, drawn from a seeded RNG. Then the
holdout endpoint's 95 % interval for the lift covers the true value, and a small sample (the
first 40 calls) is reported as too small to tell.

Size: 500 setups and their ends (about 50 held out), ~20 s on SQLite: every request goes
through the real service, the carrier simulator and the test's client in one process (~20 ms
of CPU each). The interval is then about ±14 points wide, so `sufficient` stays False under
the 10-point rule (that needs ~4,500 calls at a 10 % holdout); a larger sample is what the
unit tests of lettering/dashboard/stats.py cover. The salt and the RNG are fixed, so the run
is the same every time (for a random seed the interval would cover the true lift 95 % of runs).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lettering.decision.arms import assign_arm
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_holdout import bearer

pytestmark = pytest.mark.integration

CALLS = 500
SMALL = 40
TRUE_RATE = {"holdout": 0.52, "lettered": 0.61}
CONCURRENCY = 8
SALT = bytes.fromhex("5a17" * 8)


def callee(i: int) -> str:
    # Last digits "30": an SKT subscriber whose phone shows lettering (the simulator's profile).
    return f"010-{7000 + i // 100:04d}-{i % 100:02d}30"


async def report(service: Service, headers: dict[str, str], **params: str) -> dict[str, Any]:
    response = await service.client.get("/v1/agencies/HANBIT/holdout", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_month_with_a_ten_percent_holdout(service: Service) -> None:
    admin = await bearer(service, "admin")
    put = await service.client.put(
        "/v1/agencies/HANBIT/holdout-settings", json={"holdout_percent": 10}, headers=admin
    )
    assert put.status_code == 200, put.text
    # A fixed salt (the agency's own is random): with the seeded RNG the run is the same every time.
    await service.set_agency("HANBIT", holdout_salt=SALT.hex())
    salt = SALT

    probes = (f"probe-{i}" for i in range(100_000) if assign_arm(f"probe-{i}", salt, 1000, 0)[0] == "holdout")

    async def in_force() -> bool:  # a held-out probe is skipped once the snapshot has the share
        reply = (await service.post(service.event(call_id=next(probes), callee_number=callee(0)))).json()
        return bool(reply["lettering"] == "skipped")

    # The probes (no call.ended: not counted) are made before `since`.
    assert await service.wait_for(in_force, timeout_s=5)
    since = (datetime.now(UTC) + timedelta(milliseconds=10)).isoformat()
    await asyncio.sleep(0.05)

    rng = random.Random(20261203)
    gate = asyncio.Semaphore(CONCURRENCY)
    arms: dict[str, str] = {}

    async def one_call(i: int) -> None:
        call_id = f"sim-{i:05d}"
        answered = None
        async with gate:
            body = service.event(call_id=call_id, callee_number=callee(i))
            reply = (await service.post(body)).json()
            # The arm is the call id's (a `pending` answer, on a loaded machine, does not say it).
            arm = "holdout" if assign_arm(call_id, salt, 1000, 0)[0] == "holdout" else "lettered"
            if reply["lettering"] != "pending":
                assert (reply["lettering"] == "skipped") == (arm == "holdout"), reply
                assert reply["lettering"] != "skipped" or reply["reason"] == "holdout", reply
            arms[call_id] = arm
            answered = draws[i] < TRUE_RATE[arm]
            ended = service.event(
                "call.ended",
                call_id=call_id,
                answered=answered,
                talk_seconds=talk[i] if answered else 0,
                end_cause="normal" if answered else "busy",  # busy: no missed-call notice to send
            )
            assert (await service.post(ended)).status_code == 202

    draws = [rng.random() for _ in range(CALLS)]
    talk = [rng.randint(20, 300) for _ in range(CALLS)]

    await asyncio.gather(*(one_call(i) for i in range(SMALL)))
    small = await report(service, admin, since=since)
    assert small["sufficient"] is False
    assert "30" in small["rule"]

    await asyncio.gather(*(one_call(i) for i in range(SMALL, CALLS)))
    full = await report(service, admin, since=since)
    by_arm = {a["arm"]: a for a in full["arms"]}
    held_out = sum(1 for a in arms.values() if a == "holdout")
    assert by_arm["holdout"]["calls"] == held_out
    assert by_arm["lettered"]["calls"] == CALLS - held_out
    assert 0.06 * CALLS < held_out < 0.14 * CALLS
    assert by_arm["identity_only"]["calls"] == 0
    assert by_arm["lettered"]["mean_talk_seconds"] > 20
    lift = by_arm["holdout"]["difference_to_lettered"]
    true_lift = TRUE_RATE["lettered"] - TRUE_RATE["holdout"]
    assert lift["ci95"]["lower"] <= true_lift <= lift["ci95"]["upper"], lift
    assert lift["ci95"]["lower"] < lift["estimate"] < lift["ci95"]["upper"]

    # The department filter: every simulated call came from HANBIT-0100 (extension 2114).
    same = await report(service, admin, since=since, department="HANBIT-0100")
    assert same["arms"] == full["arms"]
    other = await report(service, admin, since=since, department="HANBIT-0001")
    assert all(a["calls"] == 0 for a in other["arms"])
    assert other["sufficient"] is False
    foreign = await service.client.get(
        "/v1/agencies/HANBIT/holdout", params={"department": "PUREUN-0001"}, headers=admin
    )
    assert foreign.status_code == 404
    bad = await service.client.get(
        "/v1/agencies/HANBIT/holdout", params={"since": "yesterday"}, headers=admin
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"][-1] == "since"
