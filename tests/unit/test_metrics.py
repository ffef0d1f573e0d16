"""The metrics' rules without a server: bounded label values, who may read /metrics, its settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr, ValidationError

from lettering.core.settings import MetricsSettings, Settings
from lettering.observability import metrics

TOKEN = "prometheus-scrape-token-0123456789"


def test_label_values_are_their_own_when_known_none_when_absent_other_otherwise() -> None:
    assert metrics.bounded("opted_out", metrics.REASONS) == "opted_out"
    assert metrics.bounded(None, metrics.REASONS) == "none"
    assert metrics.bounded("01012345678", metrics.REASONS) == "other"
    assert metrics.bounded(42, metrics.CARRIERS) == "other"


def setups(**labels: str) -> float:
    value = REGISTRY.get_sample_value("lettering_setups_total", labels)
    return value or 0.0


def test_an_unknown_reason_is_counted_as_other_and_never_kept() -> None:
    labels = {"lettering": "failed", "reason": "other", "carrier": "none", "fallback": "none"}
    was = setups(**labels)
    cached = len(metrics._setup_children)
    for i in range(50):
        metrics.setup_started()
        metrics.setup_answered(
            {"lettering": "failed", "reason": f"free text {i} 010-1234-5678"}, time.monotonic()
        )
    assert setups(**labels) == was + 50
    assert len(metrics._setup_children) == cached  # free text never becomes a cache key
    exposition = metrics.render(None).decode()
    assert "010-1234-5678" not in exposition
    assert "free text" not in exposition


def test_a_known_answer_is_counted_under_its_labels() -> None:
    labels = {
        "lettering": "fallback",
        "reason": "unsupported_device",
        "carrier": "skt",
        "fallback": "alimtalk",
    }
    was = setups(**labels)
    metrics.setup_started()
    metrics.setup_answered(
        {"lettering": "fallback", "reason": "unsupported_device", "carrier": "skt", "fallback": "alimtalk"},
        time.monotonic(),
    )
    assert setups(**labels) == was + 1


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_loopback_may_read_by_default(host: str) -> None:
    assert metrics.allowed(MetricsSettings(), host, None)


@pytest.mark.parametrize("host", ["10.1.2.3", "192.168.0.9", "2001:db8::1", "not-an-address", None])
def test_any_other_address_may_not_by_default_even_with_a_bearer_token(host: str | None) -> None:
    assert not metrics.allowed(MetricsSettings(), host, None)
    assert not metrics.allowed(MetricsSettings(), host, f"Bearer {TOKEN}")  # no token configured


def test_the_allowed_networks_are_cidrs() -> None:
    rules = MetricsSettings(allow=["10.20.0.0/16"])
    assert metrics.allowed(rules, "10.20.30.40", None)
    assert not metrics.allowed(rules, "10.21.0.1", None)
    assert not metrics.allowed(rules, "127.0.0.1", None)


def test_a_configured_token_lets_in_any_address_that_sends_it() -> None:
    rules = MetricsSettings(allow=[], token=SecretStr(TOKEN))
    assert metrics.allowed(rules, "203.0.113.5", f"Bearer {TOKEN}")
    assert metrics.allowed(rules, "203.0.113.5", f"bearer {TOKEN}")
    assert not metrics.allowed(rules, "203.0.113.5", f"Bearer {TOKEN}x")
    assert not metrics.allowed(rules, "203.0.113.5", f"Basic {TOKEN}")
    assert not metrics.allowed(rules, "203.0.113.5", "Bearer ")
    assert not metrics.allowed(rules, "203.0.113.5", None)


def test_an_allowed_network_that_is_not_one_is_refused() -> None:
    with pytest.raises(ValidationError, match="not an address or network"):
        MetricsSettings(allow=["10.0.0.0/33"])


def refusal(env: str, token: str) -> str:
    try:
        Settings(_env_file=None, env=env, metrics=MetricsSettings(token=SecretStr(token)))  # type: ignore[call-arg]
    except ValidationError as exc:
        return str(exc)
    return ""


def test_outside_dev_a_placeholder_or_short_token_is_refused() -> None:
    # (Outside dev the other secrets are refused too here: only the token's line is looked at.)
    for env in ("test", "prod"):
        assert "LETTERING_METRICS__TOKEN is a placeholder" in refusal(env, "change-me")
        assert "LETTERING_METRICS__TOKEN is a placeholder" in refusal(env, "short")
        assert "LETTERING_METRICS__TOKEN" not in refusal(env, TOKEN)
        assert TOKEN not in refusal(env, TOKEN)
    assert refusal("dev", "change-me") == ""
    assert Settings(_env_file=None, env="dev").metrics.token is None  # type: ignore[call-arg]


async def test_a_stalled_outbox_read_is_not_waited_for_and_the_scrape_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0

    async def stalled(session: object) -> dict[str, int]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(30)
        return {}

    @contextlib.asynccontextmanager
    async def session() -> AsyncIterator[None]:
        yield None

    monkeypatch.setattr(metrics.kakao_service, "outbox_depth", stalled)
    reader = metrics.OutboxReader(session, timeout_s=0.05)  # type: ignore[arg-type]
    started = time.monotonic()
    assert await reader.read() is None
    assert time.monotonic() - started < 1.0
    exposition = metrics.render(None).decode()
    assert "lettering_outbox_read_ok 0.0" in exposition
    assert "lettering_outbox_messages{" not in exposition
    assert calls == 1
