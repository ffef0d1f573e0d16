"""`GET /metrics` after real setups: the counters say what the PBX was answered, and nothing in
the exposition names a citizen (no number in any form, no keyed hash or its prefix, no call id)."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lettering.core.phone import hash_prefix
from lettering.observability import metrics
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_personal_data import forms

pytestmark = pytest.mark.integration

# One callee per path: accepted by SKT, by KT (after SKT's not-subscriber), by LG U+; an iPhone
# (fallback), nobody's subscriber (fallback), a landline (skipped).
CALLEES = [
    "010-0170-1230",
    "010-0171-1254",
    "010-0172-1257",
    "010-0173-1210",
    "010-0174-1259",
    "031-5180-2000",
]

BOUNDED = {
    metrics.NONE,
    metrics.OTHER,
    *metrics.OUTCOMES,
    *metrics.REASONS,
    *metrics.CARRIERS,
    *metrics.FALLBACKS,
    *metrics.EVENT_TYPES,
    *metrics.PUSH_OUTCOMES,
    *metrics.BREAKER_STATES,
    *metrics.RELAY_RESULTS,
    "queued",
    "sending",
    "accepted",
}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(service: Service) -> tuple[str, Samples]:
    response = await service.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return response.text, samples


def series(samples: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def delta(before: Samples, after: Samples, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    was = series(before, name)
    return {k: v - was.get(k, 0.0) for k, v in series(after, name).items() if v - was.get(k, 0.0)}


def label_set(reply: dict[str, object]) -> tuple[tuple[str, str], ...]:
    def value(field: str) -> str:
        got = reply.get(field)
        return "none" if got is None else str(got)

    return tuple(sorted((f, value(f)) for f in ("lettering", "reason", "carrier", "fallback")))


async def test_outcome_counters_equal_the_answers_and_no_personal_data_is_exposed(service: Service) -> None:
    _, before = await scrape(service)
    answered: Counter[tuple[tuple[str, str], ...]] = Counter()
    bodies = []
    for callee in CALLEES:
        body = service.event(callee_number=callee)
        response = await service.post(body)
        assert response.status_code == 200, response.text
        answered[label_set(response.json())] += 1
        bodies.append(body)
    unknown = service.event(extension="9999", callee_number="010-0175-1230")
    answered[label_set((await service.post(unknown)).json())] += 1
    bodies.append(unknown)
    ended = service.event(
        "call.ended", call_id=bodies[0]["call_id"], answered=True, talk_seconds=30, end_cause="normal"
    )
    assert (await service.post(ended)).status_code == 202

    text, after = await scrape(service)

    # What the PBX was told, counted once per setup, by outcome, reason, carrier and fallback.
    assert delta(before, after, "lettering_setups_total") == dict(answered.items())
    assert {("lettering", "accepted")} <= {label for labels in answered for label in labels}
    times = delta(before, after, "lettering_setup_answer_seconds_count")
    assert sum(times.values()) == len(bodies)
    assert delta(before, after, "lettering_pbx_events_total") == {
        (("type", "call.setup"),): len(bodies),
        (("type", "call.ended"),): 1,
    }
    assert series(after, "lettering_setups_in_flight") == series(before, "lettering_setups_in_flight")
    # decide() ran for the mobile callees (the landline is skipped before it).
    assert sum(delta(before, after, "lettering_decide_seconds_count").values()) == len(bodies) - 1
    pushes = delta(before, after, "lettering_carrier_push_seconds_count")
    assert pushes[(("carrier", "skt"), ("outcome", "accepted"))] >= 1
    assert pushes[(("carrier", "kt"), ("outcome", "accepted"))] >= 1
    assert after[("lettering_carrier_breaker_state", (("carrier", "skt"), ("state", "closed")))] == 1
    assert after[("lettering_outbox_read_ok", ())] == 1
    assert {dict(k)["status"] for k in series(after, "lettering_outbox_messages")} == {
        "queued",
        "sending",
        "accepted",
    }

    # The two fallbacks' AlimTalk notices, posted by the relay and accepted by the dealer.
    fallbacks = sum(n for labels, n in answered.items() if ("fallback", "alimtalk") in labels)
    assert fallbacks == 2

    async def relayed() -> bool:
        _, now = await scrape(service)
        return delta(before, now, "lettering_alimtalk_messages_total").get((("result", "accepted"),), 0) >= 2

    assert await service.wait_for(relayed)
    text, after = await scrape(service)

    # Every label value is from a fixed set; nothing that names a citizen or a call appears.
    for (name, labels), _value in after.items():
        if name.startswith("lettering_"):
            for label, value in labels:
                assert value in BOUNDED or (label == "le" and float(value) > 0), (name, label, value)
    for body in bodies:
        assert body["call_id"] not in text
        record = await service.call(body["call_id"])
        assert record.public_id not in text
        if record.callee_hash:
            assert record.callee_hash not in text
            assert hash_prefix(record.callee_hash) not in text
    for callee in [*CALLEES, "010-0175-1230"]:
        for form in forms(callee):
            assert form not in text, form
