"""A carrier simulator speaking all three lettering protocols, for development and tests.

Routes live under `/skt`, `/kt` and `/lgu` (so each carrier's base URL is `<sim>/skt` etc.) and
check auth as the real gateways do. Who answers what is decided by the test-number profile of
spec/carriers.md. Run-time control (latency, error rates, outages) and what was received are
under `/_control`. All state is on the app instance: two simulators in one process share nothing.

The simulator checks signatures, lengths and images with its own code, not the adapters', so the
contract tests catch an adapter that disagrees with the spec.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.datastructures import UploadFile

if TYPE_CHECKING:
    from lettering.core.settings import Settings

logger = logging.getLogger(__name__)

SimCarrier = Literal["skt", "kt", "lgu"]
CARRIERS: tuple[SimCarrier, ...] = ("skt", "kt", "lgu")
Behaviour = Literal["normal", "error", "stall", "throttle"]
KT_TIMESTAMP_WINDOW_MS = 5 * 60 * 1000
REPORT_TIMEOUT_S = 5.0

Rate = Annotated[float, Field(ge=0.0, le=1.0)]
# 010-0ABC-…: ABC picks the subscriber's carrier's misbehaviour.
_SPECIAL_PREFIXES: dict[str, Behaviour] = {"999": "error", "998": "stall", "997": "throttle"}


def _per_carrier_rates() -> dict[SimCarrier, float]:
    return dict.fromkeys(CARRIERS, 0.0)


def _per_carrier_flags() -> dict[SimCarrier, bool]:
    return dict.fromkeys(CARRIERS, False)


class SimulatorConfig(BaseModel):
    """What `/_control/config` reads and changes at run time."""

    model_config = ConfigDict(extra="forbid")

    latency_min_ms: int = Field(20, ge=0)
    latency_max_ms: int = Field(80, ge=0)
    error_rate: dict[SimCarrier, Rate] = Field(default_factory=_per_carrier_rates)
    outage: dict[SimCarrier, bool] = Field(default_factory=_per_carrier_flags)
    # The LG U+ report follows acceptance after a delay drawn from [min, max] ms (an int: fixed).
    lgu_report_delay_ms: tuple[int, int] = (300, 1000)
    content_approval_delay_s: float = Field(0.0, ge=0.0)
    stall_ms: int = Field(3000, ge=0)
    throttle_retry_after_s: int = Field(1, ge=0)
    skt_token_ttl_s: int = Field(3600, ge=1)
    unregistered_callers: list[str] = Field(default_factory=list)

    @field_validator("lgu_report_delay_ms", mode="before")
    @classmethod
    def _fixed_delay(cls, value: object) -> object:
        return (value, value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _ordered(self) -> SimulatorConfig:
        if self.latency_max_ms < self.latency_min_ms:
            raise ValueError("latency_max_ms must be >= latency_min_ms")
        low, high = self.lgu_report_delay_ms
        if low < 0 or high < low:
            raise ValueError("lgu_report_delay_ms must be [min, max] with 0 <= min <= max")
        return self


@dataclass(frozen=True, slots=True)
class Credentials:
    skt_client_id: str
    skt_client_secret: str
    kt_api_key: str
    kt_secret: str
    lgu_api_key: str
    lgu_callback_secret: str


@dataclass(frozen=True, slots=True)
class Profile:
    """How the simulated network treats one callee number."""

    subscriber: SimCarrier | None
    iphone: bool
    behaviour: Behaviour


@dataclass(slots=True)
class StoredContent:
    created_at: float
    problem: str | None


@dataclass(slots=True)
class SimulatorState:
    config: SimulatorConfig
    credentials: Credentials
    rng: random.Random
    skt_tokens: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry
    skt_tokens_issued: int = 0
    contents: dict[str, StoredContent] = field(default_factory=dict)
    pushes: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


def profile_for(number: str) -> Profile:
    """Decide by the national number 010-0ABC-DEFG (spec/carriers.md, "Simulator profile")."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if not digits:
        return Profile(None, False, "normal")
    g = int(digits[-1])
    f = int(digits[-2]) if len(digits) >= 2 else 9
    subscriber: SimCarrier | None
    if g <= 3:
        subscriber = "skt"
    elif g <= 6:
        subscriber = "kt"
    elif g <= 8:
        subscriber = "lgu"
    else:
        subscriber = None
    abc = digits[-7:-4] if len(digits) >= 7 else ""
    behaviour = _SPECIAL_PREFIXES.get(abc, "normal")
    return Profile(subscriber, f <= 2, behaviour)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _image_problem(data: bytes, formats: set[str], size: tuple[int, int], max_bytes: int) -> str | None:
    if len(data) > max_bytes:
        return f"image larger than {max_bytes} bytes"
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format not in formats:
                return f"image format {img.format} not accepted"
            if img.size != size:
                return f"image must be {size[0]}x{size[1]}"
    except (UnidentifiedImageError, OSError, ValueError):
        return "image not decodable"
    return None


def _too_long(fields: dict[str, tuple[object, int]]) -> str | None:
    """The first field that is not a string or exceeds its limit (Unicode characters)."""
    for name, (value, limit) in fields.items():
        if not isinstance(value, str):
            return f"{name} missing or not a string"
        if len(value) > limit:
            return f"{name} longer than {limit} characters"
    return None


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def create_simulator_app(
    *,
    lgu_callback_secret: str,
    skt_client_id: str,
    skt_client_secret: str,
    kt_api_key: str,
    kt_secret: str,
    lgu_api_key: str,
    latency_ms: tuple[int, int] = (20, 80),
    seed: int | None = None,
) -> FastAPI:
    """One ASGI app speaking the SKT, KT and LG U+ lettering protocols (routes /skt, /kt, /lgu)."""
    state = SimulatorState(
        config=SimulatorConfig(latency_min_ms=latency_ms[0], latency_max_ms=latency_ms[1]),
        credentials=Credentials(
            skt_client_id=skt_client_id,
            skt_client_secret=skt_client_secret,
            kt_api_key=kt_api_key,
            kt_secret=kt_secret,
            lgu_api_key=lgu_api_key,
            lgu_callback_secret=lgu_callback_secret,
        ),
        rng=random.Random(seed),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for task in list(state.tasks):
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)

    app = FastAPI(title="Carrier lettering simulator", lifespan=lifespan, openapi_url=None)
    app.state.sim = state

    # ---- shared ---------------------------------------------------------------------------

    async def latency() -> None:
        cfg = state.config
        delay_ms = state.rng.uniform(cfg.latency_min_ms, cfg.latency_max_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)

    def broken(carrier: SimCarrier) -> bool:
        """An outage, or an injected error on this request."""
        cfg = state.config
        if cfg.outage.get(carrier, False):
            return True
        rate = cfg.error_rate.get(carrier, 0.0)
        return rate > 0 and state.rng.random() < rate

    def record(carrier: SimCarrier, **entry: Any) -> dict[str, Any]:
        row: dict[str, Any] = {"carrier": carrier, "at": _now_iso(), "result": None, **entry}
        state.pushes.append(row)
        return row

    def content_status(content_id: str | None) -> tuple[str, str | None]:
        """pending / approved / rejected (and why) for a stored content; unknown ids are rejected."""
        stored = state.contents.get(content_id or "")
        if stored is None:
            return "rejected", "unknown content"
        if stored.problem is not None:
            return "rejected", stored.problem
        if time.monotonic() - stored.created_at < state.config.content_approval_delay_s:
            return "pending", None
        return "approved", None

    async def stall_if(profile: Profile, request: Request) -> bool:
        """Hold a 010-0998 answer for `stall_ms`; False if the client gave up meanwhile."""
        if profile.behaviour != "stall":
            return True
        until = time.monotonic() + state.config.stall_ms / 1000
        while (left := until - time.monotonic()) > 0:
            await asyncio.sleep(min(0.05, left))
            if await request.is_disconnected():
                return False
        return True

    # ---- SKT ------------------------------------------------------------------------------

    def skt_error(status: int, error: str, detail: str | None = None) -> JSONResponse:
        body: dict[str, Any] = {"error": error}
        if detail is not None:
            body["detail"] = detail
        return JSONResponse(body, status_code=status)

    def skt_authorised(request: Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = state.skt_tokens.get(token.strip())
        return scheme.lower() == "bearer" and expiry is not None and time.monotonic() < expiry

    @app.post("/skt/oauth2/token")
    async def skt_token(request: Request) -> Response:
        await latency()
        if broken("skt"):
            return skt_error(503, "UNAVAILABLE")
        async with request.form() as form:
            grant_type = form.get("grant_type")
            client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if grant_type != "client_credentials":
            return skt_error(400, "unsupported_grant_type")
        creds = state.credentials
        if not (
            isinstance(client_id, str)
            and isinstance(client_secret, str)
            and hmac.compare_digest(client_id.encode(), creds.skt_client_id.encode())
            and hmac.compare_digest(client_secret.encode(), creds.skt_client_secret.encode())
        ):
            return skt_error(401, "invalid_client")
        token = secrets.token_urlsafe(24)
        ttl = state.config.skt_token_ttl_s
        state.skt_tokens[token] = time.monotonic() + ttl
        state.skt_tokens_issued += 1
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    @app.post("/skt/v1/contents")
    async def skt_content_upload(request: Request) -> Response:
        await latency()
        if broken("skt"):
            return skt_error(503, "UNAVAILABLE")
        if not skt_authorised(request):
            return skt_error(401, "UNAUTHORIZED")
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                return skt_error(400, "INVALID_CONTENT", "multipart field 'file' missing")
            data = await upload.read()
        content_id = f"c_{secrets.token_hex(8)}"
        problem = _image_problem(data, {"JPEG"}, (720, 1280), 300 * 1024)
        state.contents[content_id] = StoredContent(time.monotonic(), problem)
        return JSONResponse({"content_id": content_id, "status": "pending"}, status_code=201)

    @app.get("/skt/v1/contents/{content_id}")
    async def skt_content_status(content_id: str, request: Request) -> Response:
        await latency()
        if broken("skt"):
            return skt_error(503, "UNAVAILABLE")
        if not skt_authorised(request):
            return skt_error(401, "UNAUTHORIZED")
        if content_id not in state.contents:
            return skt_error(404, "NOT_FOUND")
        status, reason = content_status(content_id)
        return JSONResponse({"status": status, "reason": reason})

    @app.post("/skt/v1/letterings")
    async def skt_lettering(request: Request) -> Response:
        await latency()
        if broken("skt"):
            return skt_error(503, "UNAVAILABLE")
        if not skt_authorised(request):
            return skt_error(401, "UNAUTHORIZED")
        body = await _json_object(request)
        if body is None:
            return skt_error(400, "INVALID_CONTENT", "body is not a JSON object")
        display = body.get("display")
        if not isinstance(display, dict):
            return skt_error(400, "INVALID_CONTENT", "display missing")
        post_call = body.get("post_call")
        fields: dict[str, tuple[object, int]] = {
            "request_id": (body.get("request_id"), 200),
            "caller": (body.get("caller"), 16),
            "callee": (body.get("callee"), 16),
            "display.name": (display.get("name"), 16),
            "display.subtitle": (display.get("subtitle"), 20),
            "display.message": (display.get("message"), 40),
        }
        if post_call is not None:
            if not isinstance(post_call, dict) or not isinstance(post_call.get("url"), str):
                return skt_error(400, "INVALID_CONTENT", "post_call must have title and url")
            fields["post_call.title"] = (post_call.get("title"), 30)
        problem = _too_long(fields)
        if problem is not None:
            return skt_error(400, "INVALID_CONTENT", problem)
        content_id = body.get("content_id")
        row = record(
            "skt",
            request_id=body["request_id"],
            caller=body["caller"],
            callee=body["callee"],
            display={k: display[k] for k in ("name", "subtitle", "message")},
            post_call=post_call,
            content_ref=content_id,
        )
        if body["caller"] in state.config.unregistered_callers:
            row["result"] = "caller_not_registered"
            return skt_error(403, "CALLER_NOT_REGISTERED")
        if content_id is not None and content_status(str(content_id))[0] != "approved":
            row["result"] = "invalid_content"
            return skt_error(400, "INVALID_CONTENT", "content not approved")
        profile = profile_for(body["callee"])
        if profile.subscriber != "skt":
            row["result"] = "not_subscriber"
            return skt_error(404, "NOT_SUBSCRIBER")
        if profile.behaviour == "error":
            row["result"] = "error"
            return skt_error(503, "UNAVAILABLE")
        if profile.behaviour == "throttle":
            row["result"] = "throttled"
            return JSONResponse(
                {"error": "TOO_MANY_REQUESTS"},
                status_code=429,
                headers={"Retry-After": str(state.config.throttle_retry_after_s)},
            )
        if not await stall_if(profile, request):
            row["result"] = "client_gone"
            return Response(status_code=499)
        if profile.iphone:
            row["result"] = "unsupported_device"
            return skt_error(422, "UNSUPPORTED_DEVICE")
        row["result"] = "accepted"
        return JSONResponse(
            {"lettering_id": f"l_{secrets.token_hex(8)}", "status": "accepted"}, status_code=202
        )

    # ---- KT -------------------------------------------------------------------------------

    def kt_result(code: str, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"resultCode": code, "resultMsg": message, **extra})

    def kt_auth_problem(request: Request, raw: bytes) -> str | None:
        creds = state.credentials
        api_key = request.headers.get("X-Api-Key", "")
        if not hmac.compare_digest(api_key.encode(), creds.kt_api_key.encode()):
            return "unknown api key"
        timestamp = request.headers.get("X-Timestamp", "")
        if not timestamp.isdigit():
            return "X-Timestamp missing"
        if abs(time.time() * 1000 - int(timestamp)) > KT_TIMESTAMP_WINDOW_MS:
            return "X-Timestamp outside the 5-minute window"
        expected = hmac.new(
            creds.kt_secret.encode(), timestamp.encode() + b"\n" + raw, hashlib.sha256
        ).hexdigest()
        given = request.headers.get("X-Signature", "").strip().lower()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return "signature mismatch"
        return None

    async def kt_gate(request: Request) -> Response | dict[str, Any]:
        """Latency, failures and signature; then the JSON body (or the answer refusing it)."""
        await latency()
        if broken("kt"):
            return Response("gateway error", status_code=503, media_type="text/plain")
        raw = await request.body()
        problem = kt_auth_problem(request, raw)
        if problem is not None:
            return kt_result("4003", f"signature invalid: {problem}")
        body = await _json_object(request)
        if body is None:
            return kt_result("9999", "malformed request body")
        return body

    @app.post("/kt/api/v2/content/register")
    async def kt_content_register(request: Request) -> Response:
        body = await kt_gate(request)
        if isinstance(body, Response):
            return body
        data_b64 = body.get("data")
        if not isinstance(data_b64, str) or body.get("mimeType") not in ("image/png", "image/jpeg"):
            return kt_result("4001", "data and mimeType (image/png, image/jpeg) required")
        try:
            data = base64.b64decode(data_b64, validate=True)
        except (binascii.Error, ValueError):
            return kt_result("4001", "data is not base64")
        content_key = f"K{secrets.token_hex(8)}"
        problem = _image_problem(data, {"PNG", "JPEG"}, (1080, 1920), 500 * 1024)
        state.contents[content_key] = StoredContent(time.monotonic(), problem)
        return kt_result("0000", "OK", contentKey=content_key, approval="WAIT")

    @app.post("/kt/api/v2/content/status")
    async def kt_content_status(request: Request) -> Response:
        body = await kt_gate(request)
        if isinstance(body, Response):
            return body
        content_key = body.get("contentKey")
        if not isinstance(content_key, str) or content_key not in state.contents:
            return kt_result("4001", "unknown contentKey")
        status, _reason = content_status(content_key)
        approval = {"pending": "WAIT", "approved": "OK", "rejected": "DENY"}[status]
        return kt_result("0000", "OK", contentKey=content_key, approval=approval)

    @app.post("/kt/api/v2/lettering/send")
    async def kt_lettering(request: Request) -> Response:
        body = await kt_gate(request)
        if isinstance(body, Response):
            return body
        after_call = body.get("afterCall")
        fields: dict[str, tuple[object, int]] = {
            "msgKey": (body.get("msgKey"), 200),
            "callingNumber": (body.get("callingNumber"), 16),
            "calledNumber": (body.get("calledNumber"), 16),
            "callerName": (body.get("callerName"), 20),
            "deptName": (body.get("deptName"), 20),
            "guideText": (body.get("guideText"), 60),
        }
        if after_call is not None:
            if not isinstance(after_call, dict) or not isinstance(after_call.get("linkUrl"), str):
                return kt_result("4002", "afterCall must have linkTitle and linkUrl")
            fields["afterCall.linkTitle"] = (after_call.get("linkTitle"), 20)
        problem = _too_long(fields)
        if problem is not None:
            return kt_result("4002", problem)
        content_key = body.get("contentKey")
        row = record(
            "kt",
            request_id=body["msgKey"],
            caller=body["callingNumber"],
            callee=body["calledNumber"],
            display={k: body[k] for k in ("callerName", "deptName", "guideText")},
            post_call=after_call,
            content_ref=content_key,
        )
        if body["callingNumber"] in state.config.unregistered_callers:
            row["result"] = "caller_not_registered"
            return kt_result("3003", "calling number not registered")
        if content_key is not None and content_status(str(content_key))[0] != "approved":
            row["result"] = "content_not_approved"
            return kt_result("4001", "content not approved")
        profile = profile_for(body["calledNumber"])
        if profile.subscriber != "kt":
            row["result"] = "not_subscriber"
            return kt_result("3001", "not a KT subscriber")
        if profile.behaviour == "error":
            row["result"] = "error"
            return Response("gateway error", status_code=503, media_type="text/plain")
        if profile.behaviour == "throttle":
            row["result"] = "throttled"
            response = kt_result("9001", "busy, retry later")
            response.headers["Retry-After"] = str(state.config.throttle_retry_after_s)
            return response
        if not await stall_if(profile, request):
            row["result"] = "client_gone"
            return Response(status_code=499)
        if profile.iphone:
            row["result"] = "unsupported_device"
            return kt_result("3002", "terminal does not support lettering")
        row["result"] = "accepted"
        return kt_result("0000", "OK")

    # ---- LG U+ ----------------------------------------------------------------------------

    def lgu_error(status: int, code: str, detail: str | None = None) -> JSONResponse:
        body: dict[str, Any] = {"code": code}
        if detail is not None:
            body["detail"] = detail
        return JSONResponse(body, status_code=status)

    async def deliver_report(callback_url: str, tid: str, result: str) -> None:
        """POST the signed report to the callback URL after the configured delay; never raises."""
        low, high = state.config.lgu_report_delay_ms
        await asyncio.sleep(state.rng.uniform(low, high) / 1000)
        raw = json.dumps({"tid": tid, "result": result, "at": _now_iso()}).encode()
        signature = hmac.new(state.credentials.lgu_callback_secret.encode(), raw, hashlib.sha256).hexdigest()
        entry: dict[str, Any] = {"tid": tid, "result": result, "callback_url": callback_url}
        try:
            async with httpx.AsyncClient(timeout=REPORT_TIMEOUT_S, trust_env=False) as client:
                response = await client.post(
                    callback_url,
                    content=raw,
                    headers={"Content-Type": "application/json", "X-LGU-Signature": signature},
                )
            entry["status"] = response.status_code
        except Exception as exc:  # a report that cannot be delivered is recorded, never raised
            entry["status"] = None
            entry["error"] = type(exc).__name__
            logger.warning("lgu report for tid %s not delivered: %s", tid, type(exc).__name__)
        entry["at"] = _now_iso()
        state.reports.append(entry)

    def schedule_report(callback_url: str, tid: str, result: str) -> None:
        task = asyncio.create_task(deliver_report(callback_url, tid, result))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)

    @app.post("/lgu/lettering/v1/requests")
    async def lgu_lettering(request: Request) -> Response:
        await latency()
        if broken("lgu"):
            return lgu_error(503, "UNAVAILABLE")
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme != "ApiKey" or not hmac.compare_digest(
            key.strip().encode(), state.credentials.lgu_api_key.encode()
        ):
            return lgu_error(401, "UNAUTHORIZED")
        body = await _json_object(request)
        if body is None:
            return lgu_error(400, "INVALID", "body is not a JSON object")
        problem = _too_long(
            {
                "tid": (body.get("tid"), 200),
                "from": (body.get("from"), 16),
                "to": (body.get("to"), 16),
                "title": (body.get("title"), 30),
                "body": (body.get("body"), 60),
            }
        )
        image = body.get("image")
        image_data = b""
        if problem is None and image is not None:
            try:
                image_data = base64.b64decode(image, validate=True) if isinstance(image, str) else b""
            except (binascii.Error, ValueError):
                image_data = b""
            problem = _image_problem(image_data, {"JPEG"}, (640, 960), 200 * 1024)
        for name in ("link", "callback_url"):
            if problem is None and body.get(name) is not None and not isinstance(body.get(name), str):
                problem = f"{name} must be a string"
        if problem is not None:
            return lgu_error(400, "INVALID", problem)
        callback_url = body.get("callback_url")
        row = record(
            "lgu",
            request_id=body["tid"],
            caller=body["from"],
            callee=body["to"],
            display={"title": body["title"], "body": body["body"]},
            post_call={"url": body["link"]} if body.get("link") else None,
            content_ref=None,
            image_bytes=len(image_data),
            callback_url=callback_url,
        )
        if body["from"] in state.config.unregistered_callers:
            row["result"] = "caller_not_registered"
            return lgu_error(400, "INVALID", "calling number not registered")
        profile = profile_for(body["to"])
        if profile.subscriber != "lgu":
            row["result"] = "not_subscriber"
            return lgu_error(404, "NOT_SUBSCRIBER")
        if profile.behaviour == "error":
            row["result"] = "error"
            return lgu_error(503, "UNAVAILABLE")
        if profile.behaviour == "throttle":
            row["result"] = "throttled"
            return JSONResponse(
                {"code": "BUSY"},
                status_code=429,
                headers={"Retry-After": str(state.config.throttle_retry_after_s)},
            )
        if not await stall_if(profile, request):
            row["result"] = "client_gone"
            return Response(status_code=499)
        # LG U+ accepts now; an iPhone shows up only in the later report.
        row["result"] = "accepted"
        if isinstance(callback_url, str) and callback_url:
            schedule_report(callback_url, body["tid"], "UNSUPPORTED" if profile.iphone else "DISPLAYED")
        return JSONResponse({"code": "ACCEPTED", "tid": body["tid"]})

    # ---- control --------------------------------------------------------------------------

    @app.get("/_control/config")
    async def get_config() -> Response:
        return JSONResponse(state.config.model_dump(mode="json"))

    @app.put("/_control/config")
    async def put_config(request: Request) -> Response:
        patch = await _json_object(request)
        if patch is None:
            return JSONResponse({"error": "body must be a JSON object"}, status_code=422)
        merged = state.config.model_dump()
        for key, value in patch.items():
            if key in ("error_rate", "outage") and isinstance(value, dict):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        try:
            state.config = SimulatorConfig.model_validate(merged)
        except ValidationError as exc:
            return JSONResponse(
                {"error": "invalid config", "detail": json.loads(exc.json(include_url=False))},
                status_code=422,
            )
        return JSONResponse(state.config.model_dump(mode="json"))

    @app.get("/_control/pushes")
    async def get_pushes() -> Response:
        return JSONResponse(state.pushes)

    @app.delete("/_control/pushes")
    async def clear_pushes() -> Response:
        state.pushes.clear()
        return Response(status_code=204)

    @app.get("/_control/reports")
    async def get_reports() -> Response:
        return JSONResponse(state.reports)

    @app.delete("/_control/reports")
    async def clear_reports() -> Response:
        state.reports.clear()
        return Response(status_code=204)

    @app.delete("/_control/contents")
    async def forget_contents() -> Response:
        """Forget every registered content, as a restart of the simulator does."""
        state.contents.clear()
        return Response(status_code=204)

    @app.get("/_control/skt/tokens")
    async def get_skt_tokens() -> Response:
        now = time.monotonic()
        active = sum(1 for expiry in state.skt_tokens.values() if expiry > now)
        return JSONResponse({"issued": state.skt_tokens_issued, "active": active})

    @app.delete("/_control/skt/tokens")
    async def revoke_skt_tokens() -> Response:
        """Revoke every token issued so far (the next SKT call answers 401)."""
        state.skt_tokens.clear()
        return Response(status_code=204)

    return app


def create_simulator_app_from_settings(settings: Settings) -> FastAPI:
    """The simulator with the credentials and latency the service's settings name."""
    carriers = settings.carriers
    return create_simulator_app(
        lgu_callback_secret=carriers.lgu.callback_secret.get_secret_value(),
        skt_client_id=carriers.skt.client_id,
        skt_client_secret=carriers.skt.client_secret.get_secret_value(),
        kt_api_key=carriers.kt.api_key,
        kt_secret=carriers.kt.secret.get_secret_value(),
        lgu_api_key=carriers.lgu.api_key.get_secret_value(),
        latency_ms=(settings.simulator.latency_min_ms, settings.simulator.latency_max_ms),
    )


def run_simulator(host: str, port: int, settings: Settings) -> None:
    """Serve the carrier simulator with uvicorn until interrupted."""
    uvicorn.run(
        create_simulator_app_from_settings(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )
