"""`lettering pbx disable|enable|remove` against a running service: the change reaches it through
the PBX snapshot (the version bump), a disabled PBX is told so with 403, call records stay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from typer.testing import CliRunner, Result

from lettering.cli import app
from lettering.core.settings import get_settings
from tests.integration.callpath.conftest import SECRET, TOKEN, Service

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("LETTERING_ENV", "dev")
    monkeypatch.setenv("LETTERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


async def invoke(cli: CliRunner, *args: str) -> Result:
    """The command in a thread of its own (it runs its own event loop)."""
    return await asyncio.to_thread(cli.invoke, app, list(args))


async def until(
    service: Service, post: Callable[[], Awaitable[httpx.Response]], status: int
) -> httpx.Response:
    """Post fresh events until one gets `status` (the snapshot refreshes every second)."""

    async def check() -> httpx.Response | None:
        response = await post()
        return response if response.status_code == status else None

    response = await service.wait_for(check, timeout_s=8)
    assert response is not None, f"never answered {status}"
    assert isinstance(response, httpx.Response)
    return response


async def test_disable_refuses_with_403_then_enable_accepts_again(service: Service, cli: CliRunner) -> None:
    async def signed() -> httpx.Response:
        return await service.post(service.event())

    assert (await signed()).status_code == 200
    disabled = await invoke(cli, "pbx", "disable", "hanbit-main")
    assert disabled.exit_code == 0, disabled.output
    refused = await until(service, signed, 403)
    assert "hanbit-main is disabled" in refused.json()["detail"]
    assert "lettering pbx enable hanbit-main" in refused.json()["detail"]
    listed = await invoke(cli, "pbx", "list")
    assert any(
        line.split()[:1] == ["hanbit-main"] and "disabled" in line for line in listed.output.splitlines()
    )

    # The other PBXs are not affected.
    other = await service.post(service.event(pbx_id="pureun-main"), secret=SECRET.replace("a", "b"))
    assert other.status_code != 403, other.text

    enabled = await invoke(cli, "pbx", "enable", "hanbit-main")
    assert enabled.exit_code == 0, enabled.output
    accepted = await until(service, signed, 200)
    assert accepted.json()["call_id"]


async def test_a_disabled_token_pbx_is_refused_with_403(service: Service, cli: CliRunner) -> None:
    async def by_token() -> httpx.Response:
        return await service.client.post(
            "/v1/pbx/events",
            json=service.event(pbx_id="hanbit-legacy"),
            headers={"authorization": f"Bearer {TOKEN}"},
        )

    assert (await by_token()).status_code == 200
    assert (await invoke(cli, "pbx", "disable", "hanbit-legacy")).exit_code == 0
    refused = await until(service, by_token, 403)
    assert "hanbit-legacy is disabled" in refused.json()["detail"]


async def test_remove_keeps_the_call_records_and_the_credentials_stop_working(
    service: Service, cli: CliRunner
) -> None:
    event = service.event(pbx_id="hanbit-legacy")

    async def by_token(body: dict[str, object] | None = None) -> httpx.Response:
        return await service.client.post(
            "/v1/pbx/events",
            json=body or service.event(pbx_id="hanbit-legacy"),
            headers={"authorization": f"Bearer {TOKEN}"},
        )

    assert (await by_token(event)).status_code == 200
    kept = await invoke(cli, "pbx", "remove", "hanbit-legacy")  # no --yes, no answer: aborted
    assert kept.exit_code == 1
    assert "Aborted" in kept.output
    removed = await invoke(cli, "pbx", "remove", "hanbit-legacy", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "call records kept" in removed.output
    refused = await until(service, by_token, 401)
    assert "not recognised" in refused.json()["detail"]
    record = await service.call(str(event["call_id"]), pbx_id="hanbit-legacy")
    assert record.id is not None
    again = await invoke(cli, "pbx", "remove", "hanbit-legacy", "--yes")
    assert again.exit_code == 1
    assert "no PBX with id 'hanbit-legacy'" in again.output
    unknown = await invoke(cli, "pbx", "disable", "nope")
    assert unknown.exit_code == 1
    assert "no PBX with id 'nope'" in unknown.output
