"""Citizens' phone numbers: parsing, the keyed index hash, encryption at rest, masking.

The clear number exists only in memory for the length of a push. It is stored AES-256-GCM
encrypted and found by HMAC-SHA256 under a separate key; logs carry `hash_prefix` only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lettering.core.settings import Settings

_ALLOWED = re.compile(r"^\+?[0-9][0-9\-\s().]*$")
_KR_MOBILE_PREFIXES = ("10", "11", "16", "17", "18", "19")
_PLAIN_KR_MOBILE = re.compile(r"010[0-46-9][0-9]{7}")


class NotAPhoneNumber(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ParsedNumber:
    e164: str
    is_kr_mobile: bool

    @property
    def national(self) -> str:
        """'+821001234567' -> '01001234567' for Korean numbers, else the E.164 form."""
        if self.e164.startswith("+82"):
            return "0" + self.e164[3:]
        return self.e164


def parse_number(raw: str) -> ParsedNumber:
    """Parse a dialled number (national or E.164); raises NotAPhoneNumber for non-numbers."""
    text = raw.strip()
    if not text or not _ALLOWED.match(text) or len(text) > 32:
        raise NotAPhoneNumber("not a phone number")
    digits = re.sub(r"[^0-9+]", "", text)
    if _PLAIN_KR_MOBILE.fullmatch(digits):
        # 010 with eight digits not starting with 5: always a Korean mobile number by
        # phonenumbers' metadata (tests/unit/test_phone_parse.py checks the two agree). Most
        # callees are; phonenumbers costs ~15-20 µs a parse, and the hot path parses each callee.
        return ParsedNumber(e164="+82" + digits[1:], is_kr_mobile=True)
    try:
        num = phonenumbers.parse(digits, "KR")
    except phonenumbers.NumberParseException:
        return ParsedNumber(e164=digits, is_kr_mobile=False)
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    national = str(num.national_number)
    mobile = (
        num.country_code == 82
        and national.startswith(_KR_MOBILE_PREFIXES)
        and phonenumbers.number_type(num) == phonenumbers.PhoneNumberType.MOBILE
    )
    return ParsedNumber(e164=e164, is_kr_mobile=mobile)


# Korean numbers in their plain published forms ("031-5180-2114", "02 2133 1234", "010-1234-5678")
# whose E.164 form is "+82" and the digits without the leading 0; every other form goes through
# phonenumbers. tests/unit/test_directory_snapshot.py checks this agrees with phonenumbers.
PLAIN_KR = re.compile(r"0(?:2|3[1-3]|4[1-4]|5[1-5]|6[1-4])[2-9][0-9]{6,7}|01[016789][1-9][0-9]{6,7}")
_SEPARATORS = str.maketrans("", "", "-. ()")


def to_e164_kr(raw: str) -> str:
    """A Korean landline or mobile number in E.164 (caller numbers from the directory)."""
    digits = raw.translate(_SEPARATORS)
    if PLAIN_KR.fullmatch(digits):
        return "+82" + digits[1:]
    num = phonenumbers.parse(raw, "KR")
    if not phonenumbers.is_possible_number(num):
        raise NotAPhoneNumber("not a possible Korean number")
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def format_national(e164: str) -> str:
    """'+823151802114' -> '031-5180-2114' (how a city's number is printed for citizens)."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, "KR"), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        return e164


def mask_national(e164: str) -> str:
    """'+821001234567' -> '010-****-4567' (what citizens and admins see)."""
    national = ParsedNumber(e164=e164, is_kr_mobile=True).national
    return f"{national[:3]}-****-{national[-4:]}"


@dataclass(frozen=True, slots=True)
class SealedNumber:
    hash_hex: str
    ciphertext: bytes
    key_version: int
    # The number's hashes under the older key versions still configured (newest first): while a
    # rotation runs, rows not yet re-indexed are still found by them.
    previous_hashes: tuple[str, ...] = ()

    @property
    def hash_prefix(self) -> str:
        return self.hash_hex[:12]

    @property
    def all_hashes(self) -> tuple[str, ...]:
        return (self.hash_hex, *self.previous_hashes)


class UnknownKeyVersion(ValueError):
    """Something was sealed under a key version this service is not configured with."""

    def __init__(self, version: int) -> None:
        super().__init__(f"key version {version} is not configured (phone_keys_old)")
        self.version = version


@dataclass(frozen=True, slots=True)
class PhoneKeys:
    """One version of the pair of keys: HMAC-SHA256 index key and AES-256-GCM key."""

    version: int
    hash_key: bytes
    enc_key: bytes


class PhoneVault:
    """Keyed hash and AES-GCM sealing of phone numbers under versioned keys.

    The current version hashes and seals; older versions (kept configured during and after a
    rotation, see lettering/keys.py) still open what they sealed and still compute the hashes
    rows not yet re-indexed carry.
    """

    def __init__(
        self,
        hash_key_b64: str,
        enc_key_b64: str,
        key_version: int = 1,
        old_keys: Mapping[int, tuple[str, str]] | None = None,
    ) -> None:
        self.key_version = key_version
        self._current = PhoneKeys(key_version, base64.b64decode(hash_key_b64), base64.b64decode(enc_key_b64))
        self._keys: dict[int, PhoneKeys] = {key_version: self._current}
        for version, (hash_b64, enc_b64) in sorted((old_keys or {}).items(), reverse=True):
            if version == key_version:
                raise ValueError(f"key version {version} is both current and old")
            self._keys[version] = PhoneKeys(version, base64.b64decode(hash_b64), base64.b64decode(enc_b64))
        self._aeads = {v: AESGCM(k.enc_key) for v, k in self._keys.items()}
        self._old = [k for v, k in self._keys.items() if v != key_version]

    @property
    def versions(self) -> tuple[int, ...]:
        """Every configured key version, the current one first."""
        return tuple(self._keys)

    def hash(self, e164: str) -> str:
        return hmac.new(self._current.hash_key, e164.encode(), hashlib.sha256).hexdigest()

    def hashes(self, e164: str) -> tuple[str, ...]:
        """The number's hash under every configured version, the current one first."""
        return (self.hash(e164), *self._previous_hashes(e164))

    def _previous_hashes(self, e164: str) -> tuple[str, ...]:
        return tuple(hmac.new(k.hash_key, e164.encode(), hashlib.sha256).hexdigest() for k in self._old)

    def seal(self, e164: str) -> SealedNumber:
        nonce = os.urandom(12)
        aad = f"v{self.key_version}".encode()
        ct = self._aeads[self.key_version].encrypt(nonce, e164.encode(), aad)
        return SealedNumber(
            hash_hex=self.hash(e164),
            ciphertext=nonce + ct,
            key_version=self.key_version,
            previous_hashes=self._previous_hashes(e164),
        )

    def _aead(self, key_version: int) -> AESGCM:
        aead = self._aeads.get(key_version)
        if aead is None:
            raise UnknownKeyVersion(key_version)
        return aead

    def seal_secret(self, secret: str) -> bytes:
        """Encrypt a service secret (a PBX's whsec_ key) under the current version; see open_secret."""
        nonce = os.urandom(12)
        aad = f"secret-v{self.key_version}".encode()
        return nonce + self._aeads[self.key_version].encrypt(nonce, secret.encode(), aad)

    def open_secret(self, sealed: bytes, key_version: int | None = None) -> str:
        """A sealed service secret; the AAD keeps secrets and numbers apart."""
        version = self.key_version if key_version is None else key_version
        aad = f"secret-v{version}".encode()
        return self._aead(version).decrypt(sealed[:12], sealed[12:], aad).decode()

    def open(self, ciphertext: bytes, key_version: int) -> str:
        aad = f"v{key_version}".encode()
        return self._aead(key_version).decrypt(ciphertext[:12], ciphertext[12:], aad).decode()


def hash_prefix(hash_hex: str) -> str:
    return hash_hex[:12]


def make_vault(settings: Settings) -> PhoneVault:
    """The vault of the configured keys: the current version and every old one still configured."""
    return PhoneVault(
        settings.phone_hash_key.get_secret_value(),
        settings.phone_enc_key.get_secret_value(),
        settings.key_version,
        {
            version: (pair.hash_key.get_secret_value(), pair.enc_key.get_secret_value())
            for version, pair in settings.phone_keys_old.items()
        },
    )
