"""A citizen's number never appears in clear text: not in logs, not in any table."""

from __future__ import annotations

import base64
import logging
import os
import re
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from lettering.core.db import utcnow
from lettering.core.phone import PhoneVault
from lettering.keyring import service as keyring_service
from lettering.retention import service as retention
from tests.integration.callpath.conftest import Service
from tests.integration.callpath.test_optout_links import choose, link

pytestmark = pytest.mark.integration

# One callee of each path: accepted (skt, kt, lgu), fallback (iPhone, nobody), failure, stall, 422.
CALLEES = [
    "010-0160-1230",
    "010-0161-1254",
    "010-0162-1257",
    "010-0163-1210",
    "010-0164-1259",
    "010-0999-1231",
]


def forms(national: str) -> list[str]:
    digits = national.replace("-", "")
    return [national, digits, "+82" + digits[1:], "82" + digits[1:], digits[3:]]


async def test_no_callee_number_in_logs_or_database(
    service: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for callee in CALLEES:
        body = service.event(callee_number=callee)
        assert (await service.post(body)).status_code == 200
        await service.post(
            service.event(
                "call.ended", call_id=body["call_id"], answered=False, talk_seconds=0, end_cause="no_answer"
            )
        )
    bad = await service.post(service.event(callee_number="010-0165-12x0", extension="x"))
    assert bad.status_code == 422
    await service.wait_for(lambda: _no_pushes_in_flight(service), timeout_s=8)
    # A citizen opts out by link, a day passes (numbers move to the register), keys rotate.
    optout_path = link(service, CALLEES[0])
    assert (await choose(service, optout_path, "all")).status_code == 200
    await retention.drop_numbers(service.sessions, utcnow() + timedelta(days=1))
    rotated = PhoneVault(
        base64.b64encode(os.urandom(32)).decode(),
        base64.b64encode(os.urandom(32)).decode(),
        2,
        {
            1: (
                service.settings.phone_hash_key.get_secret_value(),
                service.settings.phone_enc_key.get_secret_value(),
            )
        },
    )
    report = await keyring_service.rotate(service.sessions, rotated, batch=2)
    assert report.resealed["citizen_number"] >= 1

    logged = caplog.text
    assert "setup" in logged  # the service did log about these calls
    dump = await _dump(service)
    for callee in [*CALLEES, "010-0165-12x0"]:
        for form in forms(callee):
            assert form not in logged, f"{form} in logs"
            assert form not in dump, f"{form} in the database"


async def _no_pushes_in_flight(service: Service) -> bool:
    return (await service.client.get("/healthz")).json()["deliveries_in_flight"] == 0


async def _dump(service: Service) -> str:
    """Every value of every table, as text (bytes decoded leniently)."""
    parts: list[str] = []
    async with service.sessions() as session:
        for table in SQLModel.metadata.sorted_tables:
            rows = await session.execute(text(f"SELECT * FROM {table.name}"))
            for row in rows:
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return re.sub(r"\s+", " ", "\n".join(parts))
