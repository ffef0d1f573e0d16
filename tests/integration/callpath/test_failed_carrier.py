"""A push that failed everywhere names the carrier that failed (or none), in the answer and the record."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration


async def settled_record(service: Service, call_id: str) -> Any:
    async def recorded() -> Any:
        record = await service.call(call_id)
        return record if record.final_outcome is not None else None

    record = await service.wait_for(recorded)
    assert record is not None
    return record


@pytest.mark.parametrize(("callee", "carrier"), [("010-0999-1230", "skt"), ("010-0999-1234", "kt")])
async def test_a_carrier_failure_reports_the_failing_carrier(
    service: Service, callee: str, carrier: str
) -> None:
    body = service.event(callee_number=callee)
    reply = (await service.post(body)).json()
    assert (reply["lettering"], reply["reason"], reply["carrier"]) == ("fallback", "carrier_failure", carrier)
    record = await settled_record(service, body["call_id"])
    assert record.carrier == carrier
    attempts = await service.attempts(record.id)
    assert attempts[-1].outcome == "not_subscriber"  # the last carrier asked is not the callee's
    # The same event sent again is answered from the record: the same carrier.
    assert (await service.post(body)).json()["carrier"] == carrier
