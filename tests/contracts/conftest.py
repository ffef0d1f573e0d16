"""Live servers for the carrier contract tests: the simulator and an LG U+ report receiver.

Each runs in a real uvicorn server on a free 127.0.0.1 port in its own thread (its own event
loop), so adapters talk to them over real sockets exactly as they would to a gateway.
"""

from __future__ import annotations

import io
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from PIL import Image
from pydantic import SecretStr

from carriers.base import CarrierAdapter, Lettering, PostCall
from carriers.breaker import Breaker
from carriers.kt import KtAdapter
from carriers.lgu import LguAdapter
from carriers.simulator.app import create_simulator_app
from carriers.skt import SktAdapter
from kakao_fallback.client import AlimtalkClient
from kakao_fallback.simulator.app import create_alimtalk_simulator
from lettering.core.settings import KakaoAgencySettings, KtSettings, LguSettings, SktSettings
from tests.live import LiveServer, serve, stop

CARRIERS = ("skt", "kt", "lgu")
SKT_SETTINGS = SktSettings(client_id="sim-client", client_secret=SecretStr("skt-test-secret"))
KT_SETTINGS = KtSettings(api_key="kt-test-key", secret=SecretStr("kt-test-secret"))
LGU_SETTINGS = LguSettings(api_key=SecretStr("lgu-test-key"), callback_secret=SecretStr("lgu-cb-secret"))
# Fast, deterministic-enough behaviour for tests; restored before every test.
TEST_CONFIG: dict[str, Any] = {
    "latency_min_ms": 0,
    "latency_max_ms": 5,
    "error_rate": {"skt": 0.0, "kt": 0.0, "lgu": 0.0},
    "outage": {"skt": False, "kt": False, "lgu": False},
    "lgu_report_delay_ms": [10, 30],
    "content_approval_delay_s": 0.0,
    "stall_ms": 3000,
    "throttle_retry_after_s": 1,
    "skt_token_ttl_s": 3600,
    "unregistered_callers": [],
}
SUBSCRIBER_DIGIT = {"skt": 0, "kt": 4, "lgu": 7, None: 9}


def citizen_number(carrier: str | None, *, iphone: bool = False, abc: str = "123") -> str:
    """E.164 of a test citizen 010-0ABC-12FG (spec/carriers.md simulator profile)."""
    f = 1 if iphone else 5
    return f"+82100{abc}12{f}{SUBSCRIBER_DIGIT[carrier]}"


def lettering_for(callee: str, request_id: str = "req-1", **overrides: Any) -> Lettering:
    """A typical lettering to `callee`."""
    values: dict[str, Any] = {
        "request_id": request_id,
        "caller": "+823151802114",
        "callee": callee,
        "agency_name": "한빛특례시",
        "department_name": "민원여권과",
        "guidance": "여권 발급 관련 안내 전화입니다",
        "post_call": PostCall(title="이달의 시정소식", url="https://example.org/news"),
    }
    values.update(overrides)
    return Lettering(**values)


def image_bytes(fmt: str, size: tuple[int, int]) -> bytes:
    """A small solid-colour image of the given format and size."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 90, 160)).save(buffer, format=fmt)
    return buffer.getvalue()


def _serve(app: FastAPI) -> LiveServer:
    return serve(app)


def _stop(live: LiveServer) -> None:
    # The simulators and the receiver hold nothing a test checks after the session.
    stop(live, force_after=2)


@dataclass
class Receiver:
    """What the report receiver got: (headers, raw body) per request."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def wait_for(self, count: int, timeout_s: float = 3.0) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[LiveServer]:
    app = create_simulator_app(
        lgu_callback_secret=LGU_SETTINGS.callback_secret.get_secret_value(),
        skt_client_id=SKT_SETTINGS.client_id,
        skt_client_secret=SKT_SETTINGS.client_secret.get_secret_value(),
        kt_api_key=KT_SETTINGS.api_key,
        kt_secret=KT_SETTINGS.secret.get_secret_value(),
        lgu_api_key=LGU_SETTINGS.api_key.get_secret_value(),
        latency_ms=(0, 5),
        seed=7,
    )
    live = _serve(app)
    yield live
    _stop(live)


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[LiveServer, Receiver]]:
    app = FastAPI()
    holder: list[Receiver] = []

    @app.post("/v1/carriers/lgu/reports")
    async def report(request: Request) -> Response:
        holder[0].received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    live = _serve(app)
    holder.append(Receiver(url=f"{live.url}/v1/carriers/lgu/reports"))
    yield live, holder[0]
    _stop(live)


@dataclass
class Sim:
    """Control of the live simulator from a test."""

    url: str
    client: httpx.Client

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"{self.url}/_control{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def configure(self, **changes: Any) -> None:
        self.control("PUT", "/config", json=changes)

    def pushes(self, carrier: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.control("GET", "/pushes")
        return [row for row in rows if carrier is None or row["carrier"] == carrier]

    def reports(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.control("GET", "/reports")
        return rows

    def skt_tokens(self) -> dict[str, int]:
        tokens: dict[str, int] = self.control("GET", "/skt/tokens")
        return tokens


@pytest.fixture(scope="session")
def tls_context() -> ssl.SSLContext:
    """Made once: building a default SSL context per client costs tens of milliseconds."""
    return ssl.create_default_context()


@pytest.fixture(scope="session")
def control_client(tls_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0, verify=tls_context, trust_env=False) as client:
        yield client


@pytest.fixture
def sim(simulator_server: LiveServer, control_client: httpx.Client) -> Sim:
    """The simulator, reset to the test configuration with no recorded pushes or reports."""
    sim = Sim(simulator_server.url, control_client)
    sim.control("PUT", "/config", json=TEST_CONFIG)
    sim.control("DELETE", "/pushes")
    sim.control("DELETE", "/reports")
    return sim


@pytest.fixture
def receiver(receiver_server: tuple[LiveServer, Receiver]) -> Receiver:
    """The LG U+ report receiver, emptied."""
    _live, recv = receiver_server
    recv.received.clear()
    return recv


def make_adapter(
    carrier: str,
    base_url: str,
    client: httpx.AsyncClient,
    breaker: Breaker,
    **settings_overrides: Any,
) -> CarrierAdapter:
    """The adapter for `carrier` with the test credentials (optionally overridden)."""
    if carrier == "skt":
        return SktAdapter(SKT_SETTINGS.model_copy(update=settings_overrides), base_url, client, breaker)
    if carrier == "kt":
        return KtAdapter(KT_SETTINGS.model_copy(update=settings_overrides), base_url, client, breaker)
    return LguAdapter(LGU_SETTINGS.model_copy(update=settings_overrides), base_url, client, breaker)


@dataclass
class CarrierUnderTest:
    name: str
    adapter: CarrierAdapter
    breaker: Breaker
    client: httpx.AsyncClient
    sim: Sim

    @property
    def base_url(self) -> str:
        return f"{self.sim.url}/{self.name}"


@pytest.fixture
async def http_client(tls_context: ssl.SSLContext) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(5.0, connect=0.5), verify=tls_context, trust_env=False
    ) as client:
        yield client


@pytest.fixture(params=CARRIERS)
def carrier(request: pytest.FixtureRequest, sim: Sim, http_client: httpx.AsyncClient) -> CarrierUnderTest:
    """Each adapter in turn, pointed at the live simulator."""
    name: str = request.param
    breaker = Breaker(3, 30.0)
    adapter = make_adapter(name, f"{sim.url}/{name}", http_client, breaker)
    return CarrierUnderTest(name, adapter, breaker, http_client, sim)


# ---- AlimTalk dealer simulator ------------------------------------------------------------------

ALIMTALK_ACCOUNT = KakaoAgencySettings(
    app_key="test-appkey",
    secret_key=SecretStr("alimtalk-test-secret"),
    sender_key="S" * 40,
    sender_no="03151802000",
)
# Fast results for tests; restored before every test.
ALIMTALK_TEST_CONFIG: dict[str, Any] = {
    "latency_min_ms": 0,
    "latency_max_ms": 0,
    "error_rate": 0.0,
    "outage": False,
    "throttle": False,
    "throttle_retry_after_s": 1,
    "result_delay_s": [0.15, 0.15],
    "idempotency_ttl_s": 600.0,
}
# Every variable any shipped template uses, with realistic values.
ALIMTALK_PARAMS: dict[str, str] = {
    "기관명": "한빛특례시",
    "부서명": "민원여권과",
    "안내문구": "여권 발급 관련 안내 전화입니다",
    "통화시각": "11월 24일 14:02",
    "회신번호": "031-5180-2114",
    "확인코드": "482913",
    "확인URL": "https://lettering.hanbit.go.kr/verify?code=482913",
    "수신거부URL": "https://lettering.hanbit.go.kr/o/eyJrIjoiYTFiMmMzIn0.Zm9vYmFy",
    "카드뉴스URL": "https://lettering.hanbit.go.kr/c/42",
    "정책URL": "https://www.hanbit.go.kr/policy/passport-2026",
    "변경내용": "한빛특례시 - 모든 안내 수신 거부",
    "변경일시": "2026년 11월 24일(화) 14:02",
}


def kakao_citizen(e: int, *, abc: str = "123", fg: str = "34") -> str:
    """National number of a test citizen 010-0ABC-1EFG: E = 9 not on KakaoTalk, 8 blocked, else delivered."""
    return f"0100{abc}1{e}{fg}"


@pytest.fixture(scope="session")
def alimtalk_server() -> Iterator[LiveServer]:
    app = create_alimtalk_simulator(
        accounts={
            ALIMTALK_ACCOUNT.app_key: (
                ALIMTALK_ACCOUNT.secret_key.get_secret_value(),
                ALIMTALK_ACCOUNT.sender_key,
            )
        },
        result_delay_s=(0.15, 0.15),
        latency_ms=(0, 0),
        seed=11,
    )
    live = _serve(app)
    yield live
    _stop(live)


@dataclass
class AlimtalkSim:
    """Control of the live AlimTalk simulator from a test."""

    url: str
    client: httpx.Client

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, f"{self.url}/_control{path}", **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def configure(self, **changes: Any) -> None:
        self.control("PUT", "/config", json=changes)

    def messages(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.control("GET", "/messages")
        return rows

    def sends(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = self.control("GET", "/sends")
        return counts

    def resends(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.control("GET", "/resends")
        return rows


@pytest.fixture
def alimtalk_sim(alimtalk_server: LiveServer, control_client: httpx.Client) -> AlimtalkSim:
    """The AlimTalk simulator, reset to the test configuration with nothing recorded."""
    sim = AlimtalkSim(alimtalk_server.url, control_client)
    sim.control("PUT", "/config", json=ALIMTALK_TEST_CONFIG)
    sim.control("DELETE", "/messages")
    return sim


@pytest.fixture
def alimtalk_client(alimtalk_sim: AlimtalkSim, http_client: httpx.AsyncClient) -> AlimtalkClient:
    """The dealer client pointed at the live simulator."""
    return AlimtalkClient(alimtalk_sim.url, http_client)
