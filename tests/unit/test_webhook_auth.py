"""Webhook authentication over raw bytes: the Standard Webhooks published vectors and the refusals."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from types import MappingProxyType

import pytest
import standardwebhooks.webhooks as sw
from standardwebhooks.webhooks import Webhook

from lettering.webhook.auth import (
    Forbidden,
    PbxRegistry,
    PbxView,
    Unauthorized,
    authenticate,
    pbx_for_body,
    signing_key,
    token_digest,
)

# Published test vector of the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_PAYLOAD = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


class _FrozenAtVector(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def,override]
        return datetime.fromtimestamp(VECTOR_TS, tz or UTC)


@pytest.fixture
def vector_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library checks the timestamp against its own clock: put it at the vector's time."""
    monkeypatch.setattr(sw, "datetime", _FrozenAtVector)


def registry(*views: PbxView) -> PbxRegistry:
    return PbxRegistry(
        by_id=MappingProxyType({v.id: v for v in views}),
        signed=tuple(v for v in views if v.key is not None or v.previous_key is not None),
        by_token=MappingProxyType({v.token_sha256: v for v in views if v.token_sha256}),
    )


def signed_pbx(pbx_id: str = "vec", secret: str = VECTOR_SECRET) -> PbxView:
    return PbxView(
        id=pbx_id, agency_id=1, auth_mode="signed", hold_ms=500, enabled=True, key=signing_key(secret)
    )


def vector_headers(signature: str = VECTOR_SIGNATURE, ts: int = VECTOR_TS) -> dict[str, str]:
    return {"webhook-id": VECTOR_ID, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_library_signs_the_published_vector() -> None:
    assert Webhook(VECTOR_SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TS, UTC), VECTOR_PAYLOAD.decode()
    ) == (VECTOR_SIGNATURE)


@pytest.mark.usefixtures("vector_clock")
def test_published_vector_verifies() -> None:
    auth = authenticate(registry(signed_pbx()), vector_headers(), VECTOR_PAYLOAD, None, VECTOR_TS, 300)
    assert [p.id for p in auth.candidates] == ["vec"]
    assert auth.webhook_id == VECTOR_ID


@pytest.mark.usefixtures("vector_clock")
def test_published_multi_signature_vector_verifies() -> None:
    header = (
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "
        f"{VECTOR_SIGNATURE} "
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    )
    auth = authenticate(registry(signed_pbx()), vector_headers(header), VECTOR_PAYLOAD, None, VECTOR_TS, 300)
    assert auth.mode == "signed"


@pytest.mark.usefixtures("vector_clock")
def test_malformed_entries_do_not_hide_a_valid_signature() -> None:
    header = f"garbage v1 v1,!!! {VECTOR_SIGNATURE}"
    assert authenticate(registry(signed_pbx()), vector_headers(header), VECTOR_PAYLOAD, None, VECTOR_TS, 300)


@pytest.mark.usefixtures("vector_clock")
@pytest.mark.parametrize(
    "payload", [b'{"test": 2432232315}', b'{"test":2432232314}', b'{"test": 2432232314} ', b""]
)
def test_any_change_of_the_raw_bytes_fails(payload: bytes) -> None:
    with pytest.raises(Unauthorized, match="does not verify"):
        authenticate(registry(signed_pbx()), vector_headers(), payload, None, VECTOR_TS, 300)


@pytest.mark.usefixtures("vector_clock")
def test_only_the_pbx_whose_secret_verifies_is_a_candidate() -> None:
    other = signed_pbx("other", "whsec_" + "QUJD" * 8)
    auth = authenticate(registry(other, signed_pbx()), vector_headers(), VECTOR_PAYLOAD, None, VECTOR_TS, 300)
    assert pbx_for_body(auth, "vec").id == "vec"
    with pytest.raises(Forbidden, match="'other' does not match"):
        pbx_for_body(auth, "other")


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing credentials"),
        ({"webhook-signature": VECTOR_SIGNATURE, "webhook-timestamp": str(VECTOR_TS)}, "webhook-id"),
        ({"webhook-signature": VECTOR_SIGNATURE, "webhook-id": VECTOR_ID}, "webhook-timestamp"),
        (vector_headers(ts=VECTOR_TS - 301), "301 s old"),
        (vector_headers(ts=VECTOR_TS + 400), "400 s in the future"),
        ({**vector_headers(), "webhook-timestamp": "soon"}, "Unix seconds"),
        (vector_headers("v2,abc"), "no v1"),
        ({"authorization": "Basic abc"}, "Bearer"),
        ({"authorization": "Bearer wrong"}, "not recognised"),
    ],
)
def test_refusals_say_what_is_wrong(headers: dict[str, str], message: str) -> None:
    with pytest.raises(Unauthorized, match=message):
        authenticate(registry(signed_pbx()), headers, VECTOR_PAYLOAD, "10.0.0.1", VECTOR_TS, 300)


def test_token_needs_an_allowed_source_network() -> None:
    pbx = PbxView(
        id="legacy",
        agency_id=1,
        auth_mode="token",
        hold_ms=500,
        enabled=True,
        token_sha256=token_digest("s3cret-token"),
        allowed_nets=(ipaddress.ip_network("10.20.0.0/16"),),
    )
    reg = registry(pbx)
    auth = authenticate(reg, {"authorization": "Bearer s3cret-token"}, b"{}", "10.20.3.4", 0, 300)
    assert auth.candidates == (pbx,)
    with pytest.raises(Forbidden, match="10.21.0.1 is not in the allowed networks"):
        authenticate(reg, {"authorization": "Bearer s3cret-token"}, b"{}", "10.21.0.1", 0, 300)
    with pytest.raises(Forbidden, match="unknown"):
        authenticate(reg, {"authorization": "Bearer s3cret-token"}, b"{}", None, 0, 300)


# -- rotation: the replaced secret or token during and after its grace ----------------------------

OTHER_SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3"  # 30 bytes


def rotated_pbx(until_s: float) -> PbxView:
    """A PBX whose current secret is another one; the vector's secret was replaced."""
    return PbxView(
        id="vec",
        agency_id=1,
        auth_mode="signed",
        hold_ms=500,
        enabled=True,
        key=signing_key(OTHER_SECRET),
        previous_key=signing_key(VECTOR_SECRET),
        previous_until_s=until_s,
    )


@pytest.mark.usefixtures("vector_clock")
def test_the_replaced_secret_verifies_during_its_grace_only() -> None:
    pbx = rotated_pbx(VECTOR_TS + 60)
    auth = authenticate(registry(pbx), vector_headers(), VECTOR_PAYLOAD, None, VECTOR_TS, 300)
    assert [p.id for p in auth.candidates] == ["vec"]
    ended = rotated_pbx(VECTOR_TS)  # the grace ends at this very second
    with pytest.raises(Unauthorized, match="does not verify"):
        authenticate(registry(ended), vector_headers(), VECTOR_PAYLOAD, None, VECTOR_TS, 300)


@pytest.mark.usefixtures("vector_clock")
def test_the_new_secret_verifies_alone_or_beside_the_old_signature() -> None:
    new = Webhook(OTHER_SECRET).sign(
        VECTOR_ID, datetime.fromtimestamp(VECTOR_TS, UTC), VECTOR_PAYLOAD.decode()
    )
    for header in (new, f"{VECTOR_SIGNATURE} {new}", f"{new} {VECTOR_SIGNATURE}"):
        for until_s in (0.0, VECTOR_TS + 60):
            pbx = rotated_pbx(until_s)
            auth = authenticate(registry(pbx), vector_headers(header), VECTOR_PAYLOAD, None, VECTOR_TS, 300)
            assert auth.candidates == (pbx,)


def token_pbx(until_s: float) -> tuple[PbxRegistry, PbxView]:
    pbx = PbxView(
        id="legacy",
        agency_id=1,
        auth_mode="token",
        hold_ms=500,
        enabled=True,
        token_sha256=token_digest("new-token-0123456789abcdef"),
        allowed_nets=(ipaddress.ip_network("10.0.0.0/8"),),
        previous_token_sha256=token_digest("old-token-0123456789abcdef"),
        previous_until_s=until_s,
    )
    reg = PbxRegistry(
        by_id=MappingProxyType({pbx.id: pbx}),
        by_token=MappingProxyType({pbx.token_sha256: pbx}),
        by_previous_token=MappingProxyType({pbx.previous_token_sha256: pbx}),
    )
    return reg, pbx


def test_the_replaced_token_is_accepted_during_its_grace_and_then_refused() -> None:
    reg, pbx = token_pbx(1000.0)
    for token in ("new-token-0123456789abcdef", "old-token-0123456789abcdef"):
        auth = authenticate(reg, {"authorization": f"Bearer {token}"}, b"{}", "10.1.2.3", 999.0, 300)
        assert auth.candidates == (pbx,)
    with pytest.raises(Unauthorized, match="grace has ended"):
        authenticate(
            reg, {"authorization": "Bearer old-token-0123456789abcdef"}, b"{}", "10.1.2.3", 1000.0, 300
        )
    new = authenticate(
        reg, {"authorization": "Bearer new-token-0123456789abcdef"}, b"{}", "10.1.2.3", 5000.0, 300
    )
    assert new.candidates == (pbx,)
