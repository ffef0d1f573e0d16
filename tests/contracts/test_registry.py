"""build_carriers from settings, against the simulator mounted in-process as the app will mount it."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI

from carriers.base import Outcome
from carriers.registry import build_carriers
from carriers.routing import route_push
from carriers.simulator.app import create_simulator_app_from_settings
from lettering.core.settings import Settings
from tests.contracts.conftest import citizen_number, lettering_for


async def test_build_carriers_pushes_through_the_mounted_simulator() -> None:
    settings = Settings(_env_file=None, simulator={"latency_min_ms": 0, "latency_max_ms": 0})
    outer = FastAPI()
    outer.mount("/sim/carriers", create_simulator_app_from_settings(settings))
    carriers = build_carriers(settings, transport=httpx.ASGITransport(app=outer))
    try:
        assert carriers.order == ("skt", "kt", "lgu")
        assert set(carriers.adapters) == {"skt", "kt", "lgu"}
        client = carriers.clients["kt"]
        assert client.timeout.connect == settings.carriers.connect_timeout_s
        assert carriers.breakers["lgu"].state == "closed"
        for name in ("skt", "kt", "lgu"):
            result = await carriers.adapters[name].push(
                lettering_for(citizen_number(name)), time.monotonic() + 2
            )
            assert result.outcome is Outcome.accepted, result
        routed = await route_push(
            carriers.adapters,
            carriers.order,
            None,
            lettering_for(citizen_number("lgu")),
            time.monotonic() + 2,
        )
        assert routed.outcome == "accepted"
        assert [a.carrier for a in routed.attempts] == ["skt", "kt", "lgu"]
        assert routed.subscriber_carrier == "lgu"
    finally:
        await carriers.aclose()
    assert all(client.is_closed for client in carriers.clients.values())
