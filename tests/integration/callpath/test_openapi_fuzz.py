"""A bounded schemathesis run over the whole OpenAPI, against the running service over a socket,
authenticated as a platform admin: no operation answers 500, and every answer (its status, content
type, headers and body) is one the schema documents.

Fixed seed and a time budget, so it is repeatable and bounded (FUZZ_SECONDS: 30 s in the suite;
`LETTERING_FUZZ_SECONDS=600` for a longer search). SQLite only: the
run is about the HTTP contract, which does not depend on the database (the other tests run both).

Checks: all of schemathesis' checks except `positive_data_acceptance`, which wants every
schema-valid request accepted; a schema cannot say "an agency code that exists" or "a number that is
a Korean mobile number", so such requests are rightly refused (422/404) with a body that says why.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from lettering.core.db import session_scope
from lettering.users import service as user_service
from tests.integration.callpath.conftest import Service

pytestmark = pytest.mark.integration

FUZZ_SECONDS = int(os.environ.get("LETTERING_FUZZ_SECONDS", "30"))
SEED = 20261203


async def test_no_operation_fails_its_contract(service: Service, tmp_path: Path) -> None:
    if not service.settings.database_url.startswith("sqlite"):
        pytest.skip("the HTTP contract is fuzzed once, on SQLite")
    async with session_scope(service.sessions) as session:
        admin = await user_service.create_user(
            session, "fuzz@example.kr", "퍼즈", "correct horse battery", "platform_admin"
        )
        token = await user_service.create_api_token(session, admin.id, "schemathesis")
    report = tmp_path / "report.json"
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        f"{service.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--max-examples",
        "25",
        "--seed",
        str(SEED),
        "--max-time",
        str(FUZZ_SECONDS),
        "--continue-on-failure",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=tmp_path,  # its own cache directory lands there, not in the checkout
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=FUZZ_SECONDS + 120)
    output = out.decode(errors="replace")
    assert report.exists(), output[-6000:]
    result = json.loads(report.read_text())
    summary = (
        f"{result['test_cases']['generated']} cases over {result['operations']['tested']} operations "
        f"in {result['running_time']:.0f} s"
    )
    assert result["errors"] == [], output[-6000:]
    assert result["failures"] == [], summary + output[-12000:]
    assert result["operations"]["tested"] == result["operations"]["total"], summary
