"""The README's command examples and endpoints are the ones that exist."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.routing import APIRoute

from carriers.simulator.app import create_simulator_app
from kakao_fallback.simulator.app import create_alimtalk_simulator

CARRIER_SECRETS = (
    "lgu_callback_secret",
    "skt_client_id",
    "skt_client_secret",
    "kt_api_key",
    "kt_secret",
    "lgu_api_key",
)
README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_user_add_example_gives_every_required_option() -> None:
    examples = [line for line in README.splitlines() if "lettering user add" in line]
    assert examples
    for line in examples:
        assert "--name" in line, line


def test_no_line_promises_what_an_old_issue_would_bring() -> None:
    assert not re.search(r"comes? with issue \d", README)


def test_the_simulators_inspection_endpoints_are_documented_and_exist() -> None:
    for mount, app, path in (
        ("/sim/carriers", create_simulator_app(**dict.fromkeys(CARRIER_SECRETS, "x")), "/_control/pushes"),
        ("/sim/alimtalk", create_alimtalk_simulator(), "/_control/messages"),
    ):
        assert f"GET {mount}{path}" in README
        assert any(isinstance(r, APIRoute) and r.path == path and "GET" in r.methods for r in app.routes)
