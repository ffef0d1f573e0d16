"""An AlimTalk dealer simulator speaking spec/alimtalk.md (NHN Cloud Bizmessage v2.3 shapes).

Routes: `POST /alimtalk/v2.3/appkeys/{appkey}/messages` (send) and
`GET /alimtalk/v2.3/appkeys/{appkey}/messages/{requestId}/{recipientSeq}` (delivery result). The
service mounts it at `/sim/alimtalk`; the CLI runs it as its own process.

What it answers:

- The whole request (`header.resultCode`, HTTP 200 unless noted): -1000 unknown app key, -1001
  bad `X-Secret-Key`, -3002 a body that is not the request shape (HTTP 400), 3024 a sender key
  that is not the account's, 3033 a template that is not registered, -2004 a `recipientList`
  that is empty or longer than 1,000 (HTTP 400), and -1005 an `X-NC-API-IDEMPOTENCY-KEY` already
  accepted within the last 10 minutes (HTTP 200, as NHN does; the first request's messages are
  not sent again). Only an accepted request (header 0) remembers its key.
- Each recipient (`sendResults[].resultCode`, 0 = accepted): 3008 not a Korean mobile number,
  3034 parameters that do not fill exactly the template's variables, 3032 a body over 1,000
  characters, 3036 buttons Kakao would refuse (link missing, over 500 characters, not http(s);
  phone number missing or malformed), -2000 a failover (`resendParameter`) that is not a valid
  SMS/LMS, -1003 a failover without a sender number.
- Delivery, by the test-number profile (010-0ABC-DEFG, the letter E = the third digit from the
  end): READY until the result delay has passed; then E = 9 → FAILED 3019 (not a KakaoTalk user;
  with `isResend` the dealer sends the SMS/LMS: resendStatus RSC04, recorded under
  `/_control/resends`), E = 8 → FAILED 3020 (blocked the channel; no failover, RSC01), otherwise
  COMPLETED 1000. An unknown requestId/seq answers HTTP 404 with header -4000.

The simulator checks parameters, lengths and buttons with its own code, not `templates.render`,
so the contract tests catch a client or renderer that disagrees with the spec. Run-time control
is under `/_control` (config, messages, sends per idempotency key, resends). State lives on the
app instance; results are worked out when asked for, so no background task is needed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import random
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kakao_fallback.templates import Template, load_templates
from lettering.core.settings import KakaoAgencySettings

if TYPE_CHECKING:
    from lettering.core.settings import Settings

logger = logging.getLogger(__name__)

KST = timezone(timedelta(hours=9))
MAX_RECIPIENTS = 1000
IDEMPOTENCY_TTL_S = 600.0

# Whole-request codes (header.resultCode).
OK = 0
UNKNOWN_APPKEY = -1000
BAD_SECRET = -1001
DUPLICATE_REQUEST = -1005
BAD_BODY = -3002
BAD_RECIPIENT_COUNT = -2004
NOT_FOUND = -4000
BAD_SENDER_KEY = 3024
NO_TEMPLATE = 3033
# Per-recipient codes (sendResults[].resultCode).
BAD_NUMBER = 3008
BODY_TOO_LONG = 3032
PARAMS_MISMATCH = 3034
BAD_BUTTONS = 3036
BAD_RESEND = -2000
BAD_RESEND_SEND_NO = -1003

# NHN's failover states: not a target, target (waiting for the result), resending, sent, failed.
RESEND_STATUS_NAMES = {
    "RSC01": "대체 발송 미대상",
    "RSC02": "대체 발송 대상",
    "RSC03": "대체 발송 중",
    "RSC04": "대체 발송 성공",
    "RSC05": "대체 발송 실패",
}

_VARIABLE = re.compile(r"#\{([^{}]+)\}")
_MOBILE = re.compile(r"01[016789]\d{7,8}")
_TEL = re.compile(r"[0-9-]{1,14}")

Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class AlimtalkSimulatorConfig(BaseModel):
    """What `/_control/config` reads and changes at run time."""

    model_config = ConfigDict(extra="forbid")

    latency_min_ms: int = Field(20, ge=0)
    latency_max_ms: int = Field(80, ge=0)
    error_rate: Rate = 0.0  # share of dealer calls answered 500
    outage: bool = False  # every dealer call answered 503
    throttle: bool = False  # every dealer call answered 429
    throttle_retry_after_s: int | None = Field(1, ge=0)  # None: 429 without Retry-After
    # Delivery results turn final after a delay drawn from [min, max] seconds (a number: fixed).
    result_delay_s: tuple[float, float] = (1.0, 3.0)
    idempotency_ttl_s: float = Field(IDEMPOTENCY_TTL_S, ge=0.0)

    @field_validator("result_delay_s", mode="before")
    @classmethod
    def _fixed_delay(cls, value: object) -> object:
        return (value, value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _ordered(self) -> AlimtalkSimulatorConfig:
        if self.latency_max_ms < self.latency_min_ms:
            raise ValueError("latency_max_ms must be >= latency_min_ms")
        low, high = self.result_delay_s
        if low < 0 or high < low:
            raise ValueError("result_delay_s must be [min, max] with 0 <= min <= max")
        return self


@dataclass(frozen=True, slots=True)
class Account:
    secret_key: str
    sender_key: str


@dataclass(slots=True)
class SimMessage:
    """One accepted recipient of one request."""

    request_id: str
    seq: int
    app_key: str
    idempotency_key: str | None
    template_code: str
    recipient_no: str
    template_parameter: dict[str, str]
    grouping_key: str | None
    text: str
    resend: dict[str, Any] | None
    accepted_at: str
    ready_at: float  # monotonic
    profile_e: int | None
    status: str = "READY"
    result_code: str | None = None
    resend_status: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "recipient_seq": self.seq,
            "app_key": self.app_key,
            "idempotency_key": self.idempotency_key,
            "template_code": self.template_code,
            "recipient_no": self.recipient_no,
            "template_parameter": self.template_parameter,
            "grouping_key": self.grouping_key,
            "text": self.text,
            "status": self.status,
            "result_code": self.result_code,
            "resend_type": self.resend["resendType"] if self.resend else None,
            "resend_status": self.resend_status,
            "accepted_at": self.accepted_at,
        }


@dataclass(slots=True)
class KeyUse:
    accepted: int = 0
    duplicates: int = 0


@dataclass(slots=True)
class AlimtalkSimulatorState:
    config: AlimtalkSimulatorConfig
    accounts: dict[str, Account] | None  # None: any app key with the default credentials
    default_account: Account
    templates: Mapping[str, Template]
    rng: random.Random
    messages: dict[tuple[str, int], SimMessage] = field(default_factory=dict)
    keys: dict[tuple[str, str], float] = field(default_factory=dict)  # (app key, key) -> monotonic
    sends: dict[str, KeyUse] = field(default_factory=dict)
    resends: list[dict[str, Any]] = field(default_factory=list)


def profile_e(recipient_no: str) -> int | None:
    """The digit E of 010-0ABC-DEFG (third from the end), which picks the Kakao outcome."""
    return int(recipient_no[-3]) if len(recipient_no) >= 3 and recipient_no[-3].isdigit() else None


def korean_mobile(number: object) -> str | None:
    """National digits of a Korean mobile number ("010...", "+8210...", "8210..."), or None."""
    if not isinstance(number, str):
        return None
    text = number.strip().replace("-", "").replace(" ", "")
    if text.startswith("+82"):
        text = "0" + text[3:]
    elif text.startswith("82") and len(text) in (11, 12):
        text = "0" + text[2:]
    return text if _MOBILE.fullmatch(text) else None


def _header(code: int, message: str) -> dict[str, Any]:
    return {"resultCode": code, "resultMessage": message, "isSuccessful": code == OK}


def _refuse(code: int, message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"header": _header(code, message)}, status_code=status)


def _fill(text: str, params: Mapping[str, str]) -> str:
    return _VARIABLE.sub(lambda m: params[m.group(1)], text)


def _euc_kr_size(text: str) -> int | None:
    """Bytes in EUC-KR (KS X 1001 only: no 8-byte jamo sequences), or None if not encodable."""
    size = 0
    for ch in text:
        if ch < "\x80":
            size += 1
            continue
        try:
            encoded = ch.encode("euc_kr")
        except UnicodeEncodeError:
            return None
        if len(encoded) != 2:
            return None
        size += 2
    return size


def _recipient_problem(template: Template, item: object) -> tuple[int, str] | None:
    """Why this recipient is refused at acceptance (code, message), or None."""
    if not isinstance(item, dict):
        return PARAMS_MISMATCH, "recipient is not an object"
    if korean_mobile(item.get("recipientNo")) is None:
        return BAD_NUMBER, "recipientNo is not a Korean mobile number"
    grouping_key = item.get("recipientGroupingKey")
    if grouping_key is not None and (not isinstance(grouping_key, str) or len(grouping_key) > 100):
        return PARAMS_MISMATCH, "recipientGroupingKey must be a string of at most 100 characters"
    params = item.get("templateParameter", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        return PARAMS_MISMATCH, "templateParameter must map names to strings"
    slots = [template.text, *(s for b in template.buttons for s in (b.link_mo, b.link_pc, b.tel_number) if s)]
    wanted = {name for text in slots for name in _VARIABLE.findall(text)}
    if set(params) != wanted:
        missing, extra = sorted(wanted - set(params)), sorted(set(params) - wanted)
        return PARAMS_MISMATCH, f"template parameters do not match: missing {missing}, extra {extra}"
    if len(_fill(template.text, params)) > 1000:
        return BODY_TOO_LONG, "message longer than 1000 characters"
    if len(template.buttons) > 5:
        return BAD_BUTTONS, "more than 5 buttons"
    for button in template.buttons:
        if len(button.name) > 14:
            return BAD_BUTTONS, "button name longer than 14 characters"
        if button.type == "WL":
            # linkMo is required, linkPc optional.
            links = [button.link_mo or ""] + ([button.link_pc] if button.link_pc is not None else [])
            for link in links:
                value = _fill(link, params)
                if not value or len(value) > 500 or not value.startswith(("http://", "https://")):
                    return BAD_BUTTONS, "web link must be http(s) and at most 500 characters"
        elif button.type == "TN":
            if not _TEL.fullmatch(_fill(button.tel_number or "", params)):
                return BAD_BUTTONS, "telNumber must be digits and hyphens, at most 14"
        else:
            return BAD_BUTTONS, "unknown button type"
    return _resend_problem(item.get("resendParameter"))


def _resend_problem(resend: object) -> tuple[int, str] | None:
    if resend is None:
        return None
    if not isinstance(resend, dict) or not isinstance(resend.get("isResend", False), bool):
        return BAD_RESEND, "resendParameter must be an object with a boolean isResend"
    if not resend.get("isResend"):
        return None
    kind, content, title = resend.get("resendType"), resend.get("resendContent"), resend.get("resendTitle")
    if kind not in ("SMS", "LMS"):
        return BAD_RESEND, "resendType must be SMS or LMS"
    if not isinstance(content, str) or not content:
        return BAD_RESEND, "resendContent is required"
    size = _euc_kr_size(content)
    limit = 90 if kind == "SMS" else 2000
    if size is None or size > limit:
        return BAD_RESEND, f"resendContent must be at most {limit} bytes of EUC-KR"
    if kind == "LMS" and title is not None:
        title_size = _euc_kr_size(title) if isinstance(title, str) else None
        if title_size is None or title_size > 40:
            return BAD_RESEND, "resendTitle must be at most 40 bytes of EUC-KR"
    send_no = resend.get("resendSendNo")
    if not isinstance(send_no, str) or not send_no.isdigit():
        return BAD_RESEND_SEND_NO, "resendSendNo must be a registered sender number (digits)"
    return None


def create_alimtalk_simulator(
    *,
    accounts: Mapping[str, tuple[str, str]] | None = None,
    templates: Mapping[str, Template] | None = None,
    result_delay_s: tuple[float, float] = (1.0, 3.0),
    latency_ms: tuple[int, int] = (20, 80),
    seed: int | None = None,
) -> FastAPI:
    """The dealer simulator speaking spec/alimtalk.md over HTTP.

    `accounts` maps app key -> (secret key, sender key); None accepts any app key with the
    development credentials (KakaoAgencySettings defaults). `templates` are the registered
    templates (default: the shipped files).
    """
    dev = KakaoAgencySettings()
    state = AlimtalkSimulatorState(
        config=AlimtalkSimulatorConfig(
            latency_min_ms=latency_ms[0], latency_max_ms=latency_ms[1], result_delay_s=result_delay_s
        ),
        accounts=None
        if accounts is None
        else {key: Account(secret, sender) for key, (secret, sender) in accounts.items()},
        default_account=Account(dev.secret_key.get_secret_value(), dev.sender_key),
        templates=load_templates() if templates is None else templates,
        rng=random.Random(seed),
    )
    app = FastAPI(title="AlimTalk dealer simulator", openapi_url=None)
    app.state.sim = state

    async def gate() -> Response | None:
        """Latency, then the injected failures (outage 503, throttle 429, error rate 500)."""
        cfg = state.config
        delay_ms = state.rng.uniform(cfg.latency_min_ms, cfg.latency_max_ms)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if cfg.outage:
            return Response("dealer unavailable", status_code=503, media_type="text/plain")
        if cfg.throttle:
            retry_after = cfg.throttle_retry_after_s
            headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
            return Response("too many requests", status_code=429, media_type="text/plain", headers=headers)
        if cfg.error_rate > 0 and state.rng.random() < cfg.error_rate:
            return Response("internal error", status_code=500, media_type="text/plain")
        return None

    def authenticate(app_key: str, request: Request) -> Account | Response:
        account = state.default_account if state.accounts is None else state.accounts.get(app_key)
        if account is None:
            return _refuse(UNKNOWN_APPKEY, "Invalid appKey.")
        given = request.headers.get("X-Secret-Key", "")
        if not hmac.compare_digest(given.encode(), account.secret_key.encode()):
            return _refuse(BAD_SECRET, "Invalid secretKey.")
        return account

    def settle(message: SimMessage, now: float) -> None:
        """Move a READY message to its final state once its delay has passed (at most once)."""
        if message.status != "READY" or now < message.ready_at:
            return
        wants_resend = message.resend is not None
        if message.profile_e == 9:
            message.status, message.result_code = "FAILED", "3019"
            if message.resend is not None:
                message.resend_status = "RSC04"
                state.resends.append(
                    {
                        "request_id": message.request_id,
                        "recipient_seq": message.seq,
                        "idempotency_key": message.idempotency_key,
                        "grouping_key": message.grouping_key,
                        "recipient_no": message.recipient_no,
                        "type": message.resend["resendType"],
                        "title": message.resend.get("resendTitle"),
                        "content": message.resend["resendContent"],
                        "send_no": message.resend["resendSendNo"],
                        "at": datetime.now(KST).isoformat(),
                    }
                )
            else:
                message.resend_status = None
        elif message.profile_e == 8:
            message.status, message.result_code = "FAILED", "3020"
            message.resend_status = "RSC01" if wants_resend else None
        else:
            message.status, message.result_code = "COMPLETED", "1000"
            message.resend_status = "RSC01" if wants_resend else None

    def settle_all() -> None:
        now = time.monotonic()
        for message in state.messages.values():
            settle(message, now)

    # ---- dealer API -----------------------------------------------------------------------

    @app.post("/alimtalk/v2.3/appkeys/{app_key}/messages")
    async def send(app_key: str, request: Request) -> Response:
        # The whole request is received before the dealer works on it (and may outlast the client).
        raw = await request.body()
        failure = await gate()
        if failure is not None:
            return failure
        account = authenticate(app_key, request)
        if isinstance(account, Response):
            return account
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("senderKey"), str)
            or not isinstance(body.get("templateCode"), str)
            or not isinstance(body.get("recipientList"), list)
        ):
            return _refuse(BAD_BODY, "Field is not valid.", 400)
        if not hmac.compare_digest(body["senderKey"].encode(), account.sender_key.encode()):
            return _refuse(BAD_SENDER_KEY, "Invalid sender key.")
        template = state.templates.get(body["templateCode"])
        if template is None:
            return _refuse(NO_TEMPLATE, "Template does not exist.")
        recipients: list[Any] = body["recipientList"]
        if not 1 <= len(recipients) <= MAX_RECIPIENTS:
            return _refuse(
                BAD_RECIPIENT_COUNT, f"The 'recipientList' must be between 1 and {MAX_RECIPIENTS}.", 400
            )
        key = request.headers.get("X-NC-API-IDEMPOTENCY-KEY") or None
        now = time.monotonic()
        if key is not None:
            ttl = state.config.idempotency_ttl_s
            for remembered, at in list(state.keys.items()):
                if now - at >= ttl:
                    del state.keys[remembered]
            if (app_key, key) in state.keys:
                state.sends.setdefault(key, KeyUse()).duplicates += 1
                return _refuse(
                    DUPLICATE_REQUEST,
                    "The same 'X-NC-API-IDEMPOTENCY-KEY' was used within the last 10 minute.",
                )
            state.keys[(app_key, key)] = now
            state.sends.setdefault(key, KeyUse()).accepted += 1
        request_id = datetime.now(KST).strftime("%Y%m%d%H%M%S") + secrets.token_hex(5)
        accepted_at = datetime.now(KST).isoformat()
        low, high = state.config.result_delay_s
        results: list[dict[str, Any]] = []
        for seq, item in enumerate(recipients, 1):
            raw_no = item.get("recipientNo") if isinstance(item, dict) else None
            grouping_key = item.get("recipientGroupingKey") if isinstance(item, dict) else None
            problem = _recipient_problem(template, item)
            result: dict[str, Any] = {
                "recipientSeq": seq,
                "recipientNo": raw_no if isinstance(raw_no, str) else None,
                "resultCode": OK if problem is None else problem[0],
                "resultMessage": "SUCCESS" if problem is None else problem[1],
                "recipientGroupingKey": grouping_key if isinstance(grouping_key, str) else None,
            }
            results.append(result)
            if problem is not None:
                continue
            assert isinstance(item, dict)
            number = korean_mobile(item["recipientNo"]) or ""
            params: dict[str, str] = dict(item.get("templateParameter", {}))
            resend = item.get("resendParameter")
            wanted_resend = resend if isinstance(resend, dict) and resend.get("isResend") else None
            state.messages[(request_id, seq)] = SimMessage(
                request_id=request_id,
                seq=seq,
                app_key=app_key,
                idempotency_key=key,
                template_code=template.code,
                recipient_no=number,
                template_parameter=params,
                grouping_key=result["recipientGroupingKey"],
                text=_fill(template.text, params),
                resend=wanted_resend,
                resend_status="RSC02" if wanted_resend else None,
                accepted_at=accepted_at,
                ready_at=now + state.rng.uniform(low, high),
                profile_e=profile_e(number),
            )
        return JSONResponse(
            {
                "header": _header(OK, "SUCCESS"),
                "message": {"requestId": request_id, "sendResults": results},
            }
        )

    @app.get("/alimtalk/v2.3/appkeys/{app_key}/messages/{request_id}/{recipient_seq}")
    async def result(app_key: str, request_id: str, recipient_seq: str, request: Request) -> Response:
        failure = await gate()
        if failure is not None:
            return failure
        account = authenticate(app_key, request)
        if isinstance(account, Response):
            return account
        message = state.messages.get((request_id, int(recipient_seq))) if recipient_seq.isdigit() else None
        if message is None or message.app_key != app_key:
            return _refuse(NOT_FOUND, "Message not found.", 404)
        settle(message, time.monotonic())
        return JSONResponse(
            {
                "header": _header(OK, "SUCCESS"),
                "message": {
                    "requestId": message.request_id,
                    "recipientSeq": message.seq,
                    "templateCode": message.template_code,
                    "recipientNo": message.recipient_no,
                    "content": message.text,
                    "requestDate": message.accepted_at,
                    "messageStatus": message.status,
                    "resultCode": message.result_code,
                    "resendStatus": message.resend_status,
                    "resendStatusName": RESEND_STATUS_NAMES.get(message.resend_status or ""),
                    "recipientGroupingKey": message.grouping_key,
                },
            }
        )

    # ---- control --------------------------------------------------------------------------

    @app.get("/_control/config")
    async def get_config() -> Response:
        return JSONResponse(state.config.model_dump(mode="json"))

    @app.put("/_control/config")
    async def put_config(request: Request) -> Response:
        try:
            patch = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            patch = None
        if not isinstance(patch, dict):
            return JSONResponse({"error": "body must be a JSON object"}, status_code=422)
        try:
            state.config = AlimtalkSimulatorConfig.model_validate({**state.config.model_dump(), **patch})
        except ValidationError as exc:
            return JSONResponse(
                {"error": "invalid config", "detail": json.loads(exc.json(include_url=False))},
                status_code=422,
            )
        return JSONResponse(state.config.model_dump(mode="json"))

    @app.get("/_control/messages")
    async def get_messages() -> Response:
        """Every accepted message (recipient), in acceptance order, with its current state."""
        settle_all()
        return JSONResponse([message.row() for message in state.messages.values()])

    @app.delete("/_control/messages")
    async def clear_messages() -> Response:
        """Forget messages, resends, send counts and remembered idempotency keys."""
        state.messages.clear()
        state.resends.clear()
        state.sends.clear()
        state.keys.clear()
        return Response(status_code=204)

    @app.get("/_control/sends")
    async def get_sends() -> Response:
        """Per idempotency key: requests accepted, and duplicates refused."""
        return JSONResponse(
            {
                key: {"accepted": use.accepted, "duplicates": use.duplicates}
                for key, use in state.sends.items()
            }
        )

    @app.get("/_control/resends")
    async def get_resends() -> Response:
        """The SMS/LMS the dealer sent in place of an AlimTalk (each once)."""
        settle_all()
        return JSONResponse(state.resends)

    return app


def create_alimtalk_simulator_from_settings(settings: Settings) -> FastAPI:
    """The simulator with every agency account the service's settings name."""
    accounts = {
        account.app_key: (account.secret_key.get_secret_value(), account.sender_key)
        for account in settings.kakao.agencies.values()
    }
    return create_alimtalk_simulator(
        accounts=accounts,
        latency_ms=(settings.simulator.latency_min_ms, settings.simulator.latency_max_ms),
    )


def run_alimtalk_simulator(host: str, port: int, settings: Settings) -> None:
    """Serve the AlimTalk simulator with uvicorn until interrupted."""
    uvicorn.run(
        create_alimtalk_simulator_from_settings(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )
