"""Service settings: one pydantic-settings object, read from LETTERING_* variables and `.env`."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Env = Literal["dev", "test", "prod"]
CarrierName = Literal["skt", "kt", "lgu"]

# Fixed development keys: usable only with LETTERING_ENV=dev, refused everywhere else.
DEV_PHONE_HASH_KEY = "ZGV2LW9ubHktcGhvbmUtaGFzaC1rZXktMDAwMDAwMDA="
DEV_PHONE_ENC_KEY = "ZGV2LW9ubHktcGhvbmUtZW5jcnlwdC1rZXktMDAwMDA="
DEV_CARRIER_SECRET = "dev-carrier-secret"
DEV_LINK_SECRET = "dev-link-secret"
# The access log of revealed numbers: kept two years by default, never less than one (PIPA).
ACCESS_LOG_RETENTION_DAYS = 730
ACCESS_LOG_MIN_DAYS = 365
# Every secret the service refuses to start without outside dev, and what it is for. The setting
# names are dotted paths; `kakao.agencies.<code>.secret_key` stands for each AlimTalk account.
SECRET_PURPOSES: dict[str, str] = {
    "phone_hash_key": "indexes citizens' numbers (HMAC-SHA256 key, base64 of 32 bytes)",
    "phone_enc_key": "encrypts citizens' numbers (AES-256-GCM key, base64 of 32 bytes)",
    "link_secret": "signs the links in citizens' messages (opt-out, card news)",
    "carriers.skt.client_secret": "SKT gateway client secret (from the SKT contract)",
    "carriers.kt.secret": "KT gateway secret (from the KT contract)",
    "carriers.lgu.api_key": "LG U+ gateway API key (from the LG U+ contract)",
    "carriers.lgu.callback_secret": "checks LG U+'s callbacks to this service (agreed with LG U+)",
    "kakao.agencies.*.secret_key": "the AlimTalk dealer account's secret key (from the dealer)",
}
# The secrets this service makes itself; the others are agreed with a carrier or the dealer.
OWN_SECRETS = ("phone_hash_key", "phone_enc_key", "link_secret")
PLACEHOLDERS = {
    "",
    "change-me",
    "changeme",
    DEV_PHONE_HASH_KEY,
    DEV_PHONE_ENC_KEY,
    DEV_CARRIER_SECRET,
    DEV_LINK_SECRET,
}


def _default_order() -> list[CarrierName]:
    return ["skt", "kt", "lgu"]


class SktSettings(BaseModel):
    base_url: str = ""
    client_id: str = "lettering-dev"
    client_secret: SecretStr = SecretStr(DEV_CARRIER_SECRET)


class KtSettings(BaseModel):
    base_url: str = ""
    api_key: str = "lettering-dev"
    secret: SecretStr = SecretStr(DEV_CARRIER_SECRET)


class LguSettings(BaseModel):
    base_url: str = ""
    api_key: SecretStr = SecretStr(DEV_CARRIER_SECRET)
    callback_secret: SecretStr = SecretStr(DEV_CARRIER_SECRET)


class CarrierSettings(BaseModel):
    """The carriers' gateways. An empty base_url means: the in-process simulator (dev and test only)."""

    order: list[CarrierName] = Field(default_factory=_default_order)
    skt: SktSettings = Field(default_factory=SktSettings)
    kt: KtSettings = Field(default_factory=KtSettings)
    lgu: LguSettings = Field(default_factory=LguSettings)
    connect_timeout_s: float = 0.5
    # How long after call setup a push may still reach the phone (it rings ~30 s; the
    # lettering is useless once the citizen has answered). No push or retry goes past it.
    ring_window_ms: int = 6000
    learned_route_days: int = 30
    breaker_failures: int = 5
    breaker_open_s: float = 30.0
    # Connections per carrier at once. A push can hold one for the whole ring window when the
    # carrier is slow, so this must cover setups/s x ring window of a slow spell: at 300/s with a
    # fifth of them stalled 3 s, 100 were too few and the healthy pushes queued behind the stalled
    # ones (bench/load.py figure 4: 83 % answered in time with 100, 99 % with 400).
    max_connections: int = Field(default=400, ge=1)


class KakaoAgencySettings(BaseModel):
    """One agency's AlimTalk account at the dealer (NHN Cloud Bizmessage v2.3 shapes)."""

    app_key: str = "lettering-dev-appkey"
    secret_key: SecretStr = SecretStr(DEV_CARRIER_SECRET)
    # The 40-character sender key of the agency's Kakao channel.
    sender_key: str = "dev0000000000000000000000000000000000000"
    # Pre-registered sender number for SMS/LMS failover (digits).
    sender_no: str = "03151802000"
    sms_failover: bool = True
    missed_call_notice: bool = False


class KakaoSettings(BaseModel):
    """The AlimTalk dealer. An empty base_url means: the in-process simulator (dev and test only)."""

    base_url: str = ""
    # Run the outbox relay inside the service (embedded default); production may run `lettering worker`.
    relay_in_process: bool = True
    # The identity notice with a 카드뉴스 보기 button (IDENTITY_NOTICE_02) for calls whose campaign has
    # card news. Off until that template is registered and approved with the dealer: an unapproved
    # template would be refused there, and the notice with it. Off, such calls get IDENTITY_NOTICE_01.
    card_news_button: bool = False
    connect_timeout_s: float = 1.0
    request_timeout_s: float = 10.0
    # Accounts by agency code; "*" is used for an agency without its own entry.
    agencies: dict[str, KakaoAgencySettings] = Field(default_factory=lambda: {"*": KakaoAgencySettings()})
    # Sending hours, Asia/Seoul: outside them a notice waits for the window.
    send_from: str = "08:00"
    send_until: str = "21:00"
    # A notice still unsent this long after its call is dropped (dead letter, "expired").
    max_age_s: int = 6 * 3600
    batch_size: int = Field(1000, ge=1, le=1000)
    lease_s: int = 60
    relay_interval_s: float = 0.5
    retry_base_s: float = 1.0
    retry_cap_s: float = 300.0
    result_poll_base_s: float = 2.0
    result_poll_cap_s: float = 1800.0
    # Results are polled this long at most; then the message is recorded as unknown.
    result_poll_max_age_s: int = 72 * 3600

    def account(self, agency_code: str) -> KakaoAgencySettings | None:
        return self.agencies.get(agency_code) or self.agencies.get("*")


class PhoneKeyPair(BaseModel):
    """An earlier version of the citizen-number keys (base64 of 32 bytes each)."""

    hash_key: SecretStr
    enc_key: SecretStr


class SimulatorSettings(BaseModel):
    latency_min_ms: int = 20
    latency_max_ms: int = 80


class MetricsSettings(BaseModel):
    """Who may read `GET /metrics` (lettering/observability/metrics.py): a client whose address is
    in `allow`, or one sending `Authorization: Bearer <token>` when a token is set. Loopback only
    by default, and no token: Prometheus on the internal network is let in by naming its network."""

    allow: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    token: SecretStr | None = None

    @model_validator(mode="after")
    def _check_networks(self) -> MetricsSettings:
        for net in self.allow:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"metrics.allow: {net!r} is not an address or network (CIDR)") from None
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LETTERING_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        # A refusal never echoes the values it was given (they are secrets).
        hide_input_in_errors=True,
    )

    # Production unless said otherwise: a missing LETTERING_ENV must never mean development keys.
    env: Env = "prod"
    database_url: str = "sqlite+aiosqlite:///./lettering.core.db"
    public_base_url: str = "http://127.0.0.1:8000"
    # Keys for the citizen's number: HMAC-SHA256 index key and AES-256-GCM key, base64 of 32 bytes.
    phone_hash_key: SecretStr = SecretStr(DEV_PHONE_HASH_KEY)
    phone_enc_key: SecretStr = SecretStr(DEV_PHONE_ENC_KEY)
    key_version: int = Field(1, ge=1)
    # Earlier versions of those keys, kept while rows sealed or indexed under them remain (see
    # `lettering keys rotate`), e.g. LETTERING_PHONE_KEYS_OLD='{"1": {"hash_key": "…", "enc_key": "…"}}'.
    phone_keys_old: dict[int, PhoneKeyPair] = Field(default_factory=dict)
    # Signs the links in citizens' messages (opt-out); to rotate, move the old one to link_secrets_old.
    link_secret: SecretStr = SecretStr(DEV_LINK_SECRET)
    carriers: CarrierSettings = Field(default_factory=CarrierSettings)
    kakao: KakaoSettings = Field(default_factory=KakaoSettings)
    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    # Mount the carrier simulator in this process and point empty carrier base URLs at it.
    # Unset: on in dev and test, off in prod (where setting it true is refused).
    simulators_in_process: bool = True
    snapshot_poll_s: float = 1.0
    # /readyz answers 503 when the snapshots have not refreshed successfully for this long.
    ready_snapshot_max_age_s: float = Field(10.0, gt=0)
    webhook_tolerance_s: int = 300
    default_hold_ms: int = 500
    # Admission control per worker: setups admitted and not answered yet. Past it a setup is shed
    # (answered `skipped`/`overloaded` at once, recorded, never pushed), so the answers that are
    # given stay inside the hold budget. Near capacity x hold budget: ~300/s x 0.5 s here.
    setup_max_unanswered: int = Field(128, ge=1)
    retention_days: int = 90
    # Campaign media (originals, cleaned images, carrier renditions), stored by content hash.
    media_dir: str = "./lettering-media"
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_max_side: int = 8000
    upload_max_pixels: int = 40_000_000
    # Files of ended campaigns are deleted this long after they end.
    campaign_file_retention_days: int = 365
    # Run the scheduled jobs in this process (one process takes them; see lettering/scheduler.py).
    scheduler_enabled: bool = True
    content_sync_interval_s: float = 10.0
    log_level: str = "INFO"
    # "text": one timestamped line per record; "json": one JSON object per line (log collectors).
    log_format: Literal["text", "json"] = "text"
    # Earlier link secrets, still accepted when checking a link (newest first); only link_secret signs.
    link_secrets_old: list[SecretStr] = Field(default_factory=list)
    # An opt-out link works this long after the message that carried it; the citizen's encrypted
    # number is kept as long (to notify the result of using the link, 정보통신망법 §50 ⑦).
    optout_link_max_age_days: int = Field(90, ge=1)
    # The confirmation form of an opt-out link must be sent back within this time.
    optout_form_max_age_s: int = 3600
    # The citizen call check (/verify): lookups and reports per client IP per fixed window, counted
    # in the database (lettering/ratelimit), so the budget is the same whatever the worker count.
    verify_rate_limit: int = 20
    verify_report_limit: int = 5
    verify_rate_window_s: float = 600.0
    # Console and API logins: attempts per (email, client IP) per fixed window (a success resets).
    login_rate_limit: int = Field(10, ge=1)
    login_rate_window_s: float = Field(900.0, gt=0)
    # Console sessions end after this long without a request, and this long after login at most.
    session_idle_s: int = Field(1800, ge=60)
    session_absolute_s: int = Field(12 * 3600, ge=60)
    # The access log of revealed numbers is kept this long (then the retention job deletes it).
    # The PIPA safety standard (개인정보의 안전성 확보조치 기준 §8) asks at least one year, two
    # years for a controller of more than 50,000 data subjects: a city is, so 730 by default and
    # less than 365 is refused.
    access_log_retention_days: int = ACCESS_LOG_RETENTION_DAYS

    @field_validator("access_log_retention_days")
    @classmethod
    def _access_log_kept_a_year(cls, days: int) -> int:
        if days < ACCESS_LOG_MIN_DAYS:
            raise ValueError(
                f"{days} days is too short: the PIPA safety standard asks the access log be kept at"
                f" least {ACCESS_LOG_MIN_DAYS} days ({ACCESS_LOG_RETENTION_DAYS} above 50,000 data subjects)"
            )
        return days

    # What one delivered message costs, in 원, for the dashboard's estimate (a dealer's list prices
    # of 2026 are about these; set the agency's contract prices).
    message_cost_alimtalk_won: float = Field(default=8.0, ge=0)
    message_cost_sms_won: float = Field(default=12.0, ge=0)
    message_cost_lms_won: float = Field(default=35.0, ge=0)

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        problems: list[str] = []
        keyring = {
            f"phone_keys_old.{v}": (pair.hash_key, pair.enc_key) for v, pair in self.phone_keys_old.items()
        }
        keyring[""] = (self.phone_hash_key, self.phone_enc_key)
        seen: set[str] = set()
        for prefix, pair in keyring.items():
            for name, secret in zip(("hash_key", "enc_key"), pair, strict=True):
                label = f"{prefix}.{name}" if prefix else f"phone_{name}"
                raw = secret.get_secret_value()
                try:
                    key = base64.b64decode(raw, validate=True)
                except (binascii.Error, ValueError):
                    problems.append(f"{label} is not base64")
                    continue
                if len(key) != 32:
                    problems.append(f"{label} must be 32 bytes (base64), got {len(key)}")
                if raw in seen:
                    problems.append(f"{label} is the same as another phone key (every key must differ)")
                seen.add(raw)
        if self.key_version in self.phone_keys_old:
            problems.append(f"phone_keys_old must not hold the current key_version {self.key_version}")
        if any(v < 1 for v in self.phone_keys_old):
            problems.append("phone_keys_old versions must be 1 or more")
        missing: list[str] = []
        if self.env != "dev":
            secrets = {
                "phone_hash_key": self.phone_hash_key,
                "phone_enc_key": self.phone_enc_key,
                "carriers.skt.client_secret": self.carriers.skt.client_secret,
                "carriers.kt.secret": self.carriers.kt.secret,
                "carriers.lgu.api_key": self.carriers.lgu.api_key,
                "carriers.lgu.callback_secret": self.carriers.lgu.callback_secret,
                "link_secret": self.link_secret,
            }
            for code, account in self.kakao.agencies.items():
                secrets[f"kakao.agencies.{code}.secret_key"] = account.secret_key
            placeholders = {p.lower() for p in PLACEHOLDERS}
            missing = [n for n, v in secrets.items() if v.get_secret_value().strip().lower() in placeholders]
        token = self.metrics.token
        if token is not None and self.env != "dev":
            # Optional (unset: no token is accepted), but when set never a placeholder or short.
            raw = token.get_secret_value().strip()
            if raw.lower() in {p.lower() for p in PLACEHOLDERS} or len(raw) < 16:
                problems.append(
                    "LETTERING_METRICS__TOKEN is a placeholder or shorter than 16 characters (unset: none)"
                )
        if "simulators_in_process" not in self.model_fields_set:
            self.simulators_in_process = self.env != "prod"
        if self.env == "prod" and self.simulators_in_process:
            problems.append("simulators_in_process must be false in prod")
        if problems or missing:
            raise ValueError(refusal_message(self.env, missing, problems))
        return self

    def carrier_base_url(self, carrier: CarrierName) -> str:
        """The configured gateway, else the in-process simulator's address."""
        configured: str = getattr(self.carriers, carrier).base_url
        if configured:
            return configured.rstrip("/")
        return f"{self.public_base_url.rstrip('/')}/sim/carriers/{carrier}"

    def kakao_base_url(self) -> str:
        """The configured dealer, else the in-process AlimTalk simulator's address."""
        if self.kakao.base_url:
            return self.kakao.base_url.rstrip("/")
        return f"{self.public_base_url.rstrip('/')}/sim/alimtalk"


def _env_name(dotted: str) -> str:
    return dotted.upper().replace(".", "__")


def env_line_name(dotted: str) -> str:
    """The variable that sets a dotted setting (an AlimTalk account's secret: the accounts' JSON)."""
    if dotted.startswith("kakao.agencies."):
        return "LETTERING_KAKAO__AGENCIES"
    return f"LETTERING_{_env_name(dotted)}"


def _purpose(dotted: str) -> str:
    if dotted.startswith("kakao.agencies."):
        code = dotted.split(".")[2]
        shape = f'{{"{code}": {{"secret_key": "…", …}}}}'
        return f"{SECRET_PURPOSES['kakao.agencies.*.secret_key']}, account {code!r}: JSON {shape}"
    return SECRET_PURPOSES[dotted]


def refusal_message(env: str, missing: list[str], problems: list[str]) -> str:
    """One readable list: each missing secret with what it is for, then any other problem."""
    lines = [f"the settings are refused (LETTERING_ENV={env}):"]
    if missing:
        width = max(len(env_line_name(n)) for n in missing)
        lines.append(f"{len(missing)} secret(s) not set or still a placeholder:")
        lines += [f"  {env_line_name(name).ljust(width)}  {_purpose(name)}" for name in missing]
    if problems:
        lines.append("other problems:" if missing else f"{len(problems)} problem(s):")
        lines += [f"  {problem}" for problem in problems]
    if missing:
        lines.append(
            "Make the secrets with `lettering keys generate`: it prints each one as a .env line, freshly"
        )
        lines.append("random (replace the carriers' and the dealer's with the values from their contracts).")
        lines.append("To try the service on the development keys and simulators: LETTERING_ENV=dev.")
    return "\n".join(lines)


def describe_refusal(exc: ValidationError) -> str:
    """A settings refusal as text for people: our own list as written, pydantic's errors one a line."""
    lines: list[str] = []
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        if error["type"] == "value_error" and isinstance(cause, ValueError) and not error["loc"]:
            lines.append(str(cause))
        else:
            where = "LETTERING_" + "__".join(str(part) for part in error["loc"]).upper()
            lines.append(f"{where}: {error['msg']}")
    return "\n".join(lines)


_announced = False


def announce_environment(settings: Settings, log: logging.Logger | None = None) -> None:
    """Log once per process, as a WARNING, that this service runs on development keys or simulators."""
    global _announced
    log = log or logging.getLogger("lettering")
    if _announced or (settings.env != "dev" and not settings.simulators_in_process):
        return
    _announced = True
    what = []
    if settings.env == "dev":
        what.append("the built-in development keys are accepted")
    if settings.simulators_in_process:
        what.append("the carriers and the AlimTalk dealer are simulators in this process")
    log.warning(
        "LETTERING_ENV=%s: %s; not for citizens' numbers (production: LETTERING_ENV=prod with the "
        "secrets from `lettering keys generate`)",
        settings.env,
        " and ".join(what),
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
