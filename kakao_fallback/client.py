"""The AlimTalk dealer client: NHN Cloud KakaoTalk Bizmessage v2.3 request shapes (spec/alimtalk.md).

`send` hands up to 1,000 recipients of one template to the dealer and returns its *acceptance*
(per recipient); `result` asks for one recipient's delivery state later. Every failure is a typed
exception the relay can act on:

- `DealerUnavailable`: the dealer could not answer usefully — HTTP 429 (with `Retry-After` when
  given), 5xx, a timeout, a refused connection, a body that is not the dealer's JSON. Retry with
  backoff and the *same* idempotency key.
- `DealerRefused`: the dealer answered and refused the whole request (`header.resultCode` not 0):
  a bad secret key (-1001), an unknown app key (-1000), a bad sender key (3024), a template that
  is not registered (3033). Retrying does not help.
- `DuplicateRequest`: the idempotency key was used within the last 10 minutes (NHN: HTTP 200,
  `header.resultCode` -1005). It is *not* a `DealerRefused`: it usually means an earlier attempt
  whose answer was lost was accepted, so the message must not be dead-lettered (nor sent again).

A recipient's number never appears in an exception message or a log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx

from carriers.http import json_object, parse_retry_after, short
from kakao_fallback.templates import Rendered, ResendType
from lettering.core.settings import KakaoAgencySettings, Settings
from lettering.core.tls import client_tls

logger = logging.getLogger(__name__)

API_PREFIX = "/alimtalk/v2.3/appkeys"
MAX_RECIPIENTS = 1000
# NHN's header result code for an idempotency key seen within the last 10 minutes.
DUPLICATE_REQUEST_CODE = -1005
IDEMPOTENCY_HEADER = "X-NC-API-IDEMPOTENCY-KEY"
SECRET_HEADER = "X-Secret-Key"

DeliveryStatus = Literal["READY", "COMPLETED", "FAILED", "CANCEL"]
DELIVERY_STATUSES: frozenset[str] = frozenset({"READY", "COMPLETED", "FAILED", "CANCEL"})


class AlimtalkError(Exception):
    """A dealer call that did not succeed."""


class DealerUnavailable(AlimtalkError):
    """No usable answer (429, 5xx, timeout, connection, malformed body): retry with the same key."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason if retry_after_s is None else f"{reason} (retry after {retry_after_s:g} s)")
        self.reason = reason
        self.retry_after_s = retry_after_s


class DealerRefused(AlimtalkError):
    """The dealer refused the whole request (`header.resultCode` != 0); retrying will not help."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"dealer refused: {code} {message}".rstrip())
        self.code = code
        self.message = message


class DuplicateRequest(AlimtalkError):
    """The idempotency key was already used within 10 minutes: an earlier attempt was accepted."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"duplicate request: {code} {message}".rstrip())
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Resend:
    """The SMS/LMS the dealer sends in place of an AlimTalk the citizen cannot receive."""

    type: ResendType
    content: str
    send_no: str  # the agency's pre-registered sender number, digits
    title: str | None = None  # LMS only

    @classmethod
    def from_rendered(cls, rendered: Rendered, send_no: str) -> Resend:
        """The failover of a rendered template, from the agency's sender number."""
        return cls(rendered.resend_type, rendered.resend_text, send_no, rendered.resend_title)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"isResend": True, "resendType": self.type}
        if self.type == "LMS" and self.title is not None:
            out["resendTitle"] = self.title
        out["resendContent"] = self.content
        out["resendSendNo"] = self.send_no
        return out


@dataclass(frozen=True, slots=True)
class Recipient:
    """One citizen of a send: number (national digits, e.g. 01001234567), parameters, call id."""

    recipient_no: str = field(repr=False)
    template_parameter: dict[str, str]
    grouping_key: str
    resend: Resend | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "recipientNo": self.recipient_no,
            "templateParameter": dict(self.template_parameter),
            # Sent explicitly: without it NHN applies the console's default failover setting.
            "resendParameter": self.resend.to_json() if self.resend else {"isResend": False},
            "recipientGroupingKey": self.grouping_key,
        }


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """The dealer's acceptance of one recipient: result_code 0 accepted, anything else refused."""

    seq: int
    grouping_key: str | None
    result_code: int
    result_message: str

    @property
    def accepted(self) -> bool:
        return self.result_code == 0


@dataclass(frozen=True, slots=True)
class SendResult:
    request_id: str
    results: tuple[RecipientResult, ...]


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One recipient's delivery state; `result_code` is Kakao's ("1000" delivered, "3019", ...)."""

    status: DeliveryStatus
    result_code: str | None
    resend_status: (
        str | None
    )  # NHN: RSC01 not resent, RSC02 pending, RSC03 resending, RSC04 sent, RSC05 failed

    @property
    def final(self) -> bool:
        """True once the state can no longer change (READY is the only non-final state)."""
        return self.status != "READY"


def national_mobile(number: str) -> str:
    """A Korean mobile number as the dealer wants it: national digits ("+82 10-..." -> "010...")."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+82") or (digits.startswith("82") and len(digits) in (11, 12)):
        digits = "0" + digits[2:]
    return digits


class AlimtalkClient:
    """One dealer endpoint; one `httpx.AsyncClient` shared by every agency's account."""

    def __init__(self, base_url: str, http: httpx.AsyncClient) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = http

    @property
    def base_url(self) -> str:
        return self._base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    def _url(self, account: KakaoAgencySettings, path: str) -> str:
        return f"{self._base_url}{API_PREFIX}/{quote(account.app_key, safe='')}{path}"

    async def send(
        self,
        account: KakaoAgencySettings,
        template_code: str,
        recipients: Sequence[Recipient],
        idempotency_key: str,
        timeout_s: float,
    ) -> SendResult:
        """Hand one template's recipients (1 to 1,000) to the dealer; its acceptance, per recipient."""
        if not recipients:
            raise ValueError("send needs at least one recipient")
        if len(recipients) > MAX_RECIPIENTS:
            raise ValueError(
                f"{len(recipients)} recipients; the dealer takes at most {MAX_RECIPIENTS} per request"
            )
        if not idempotency_key:
            raise ValueError("an idempotency key is required")
        body = {
            "senderKey": account.sender_key,
            "templateCode": template_code,
            "recipientList": [recipient.to_json() for recipient in recipients],
        }
        headers = {
            "Content-Type": "application/json;charset=UTF-8",
            SECRET_HEADER: account.secret_key.get_secret_value(),
            IDEMPOTENCY_HEADER: idempotency_key,
        }
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = await self._request("POST", self._url(account, "/messages"), timeout_s, raw, headers)
        message = _accepted_message(response)
        request_id = message.get("requestId")
        send_results = message.get("sendResults")
        if not isinstance(request_id, str) or not request_id or not isinstance(send_results, list):
            raise DealerUnavailable("malformed")
        return SendResult(request_id, tuple(_recipient_result(item) for item in send_results))

    async def result(
        self, account: KakaoAgencySettings, request_id: str, recipient_seq: int, timeout_s: float
    ) -> DeliveryResult:
        """The delivery state of one recipient of an accepted request."""
        path = f"/messages/{quote(request_id, safe='')}/{int(recipient_seq)}"
        headers = {SECRET_HEADER: account.secret_key.get_secret_value()}
        response = await self._request("GET", self._url(account, path), timeout_s, None, headers)
        message = _accepted_message(response)
        status = message.get("messageStatus")
        result_code = message.get("resultCode")
        resend_status = message.get("resendStatus")
        if status not in DELIVERY_STATUSES:
            raise DealerUnavailable("malformed")
        if isinstance(result_code, int) and not isinstance(result_code, bool):
            result_code = str(result_code)
        if result_code is not None and not isinstance(result_code, str):
            raise DealerUnavailable("malformed")
        if resend_status is not None and not isinstance(resend_status, str):
            raise DealerUnavailable("malformed")
        return DeliveryResult(status, result_code or None, resend_status or None)

    async def _request(
        self, method: str, url: str, timeout_s: float, content: bytes | None, headers: dict[str, str]
    ) -> httpx.Response:
        """One exchange bounded by `timeout_s` as a whole; transport failures as DealerUnavailable."""
        if timeout_s <= 0:
            raise DealerUnavailable("timeout")
        connect = self._http.timeout.connect
        timeout = httpx.Timeout(timeout_s, connect=timeout_s if connect is None else min(connect, timeout_s))
        try:
            # httpx timeouts are per phase; the outer timeout bounds the whole exchange.
            async with asyncio.timeout(timeout_s):
                response = await self._http.request(
                    method, url, content=content, headers=headers, timeout=timeout
                )
        except (TimeoutError, httpx.TimeoutException):
            raise DealerUnavailable("timeout") from None
        except httpx.ConnectError:
            raise DealerUnavailable("connect_error") from None
        except httpx.HTTPError as exc:
            raise DealerUnavailable(f"transport_error {type(exc).__name__}") from None
        return response


def _accepted_message(response: httpx.Response) -> dict[str, Any]:
    """The `message` object of a successful answer, or the exception the answer means."""
    status = response.status_code
    if status == 429 or status >= 500:
        raise DealerUnavailable(f"http_{status}", parse_retry_after(response.headers.get("Retry-After")))
    body = json_object(response)
    header = body.get("header") if body is not None else None
    code = header.get("resultCode") if isinstance(header, dict) else None
    if isinstance(header, dict) and isinstance(code, int) and not isinstance(code, bool) and code != 0:
        text = header.get("resultMessage")
        message = short(text) if isinstance(text, str) else ""
        if code == DUPLICATE_REQUEST_CODE:
            raise DuplicateRequest(code, message)
        raise DealerRefused(code, message)
    if status != 200:
        # Not the dealer's answer (a proxy's 404, a redirect): the dealer is not reachable as configured.
        raise DealerUnavailable(f"http_{status}")
    if code != 0 or isinstance(code, bool) or body is None:
        raise DealerUnavailable("malformed")
    message_obj = body.get("message")
    if not isinstance(message_obj, dict):
        raise DealerUnavailable("malformed")
    return message_obj


def _recipient_result(item: object) -> RecipientResult:
    if not isinstance(item, dict):
        raise DealerUnavailable("malformed")
    seq, code = item.get("recipientSeq"), item.get("resultCode")
    if not isinstance(seq, int) or not isinstance(code, int) or isinstance(code, bool):
        raise DealerUnavailable("malformed")
    grouping_key = item.get("recipientGroupingKey")
    message = item.get("resultMessage")
    return RecipientResult(
        seq=seq,
        grouping_key=grouping_key if isinstance(grouping_key, str) else None,
        result_code=code,
        result_message=short(message) if isinstance(message, str) else "",
    )


def build_client(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> AlimtalkClient:
    """The dealer client the service uses: the configured dealer, or the in-process simulator."""
    kakao = settings.kakao
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(kakao.request_timeout_s, connect=kakao.connect_timeout_s),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": "lettering/0.1"},
        transport=transport,
        verify=client_tls(),
    )
    return AlimtalkClient(settings.kakao_base_url(), http)
