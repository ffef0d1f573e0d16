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
from dataclasses import dataclass

import phonenumbers
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_ALLOWED = re.compile(r"^\+?[0-9][0-9\-\s().]*$")
_KR_MOBILE_PREFIXES = ("10", "11", "16", "17", "18", "19")


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


def to_e164_kr(raw: str) -> str:
    """A Korean landline or mobile number in E.164 (caller numbers from the directory)."""
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

    @property
    def hash_prefix(self) -> str:
        return self.hash_hex[:12]


class PhoneVault:
    """Keyed hash and AES-GCM sealing of phone numbers under versioned keys."""

    def __init__(self, hash_key_b64: str, enc_key_b64: str, key_version: int = 1) -> None:
        self._hash_key = base64.b64decode(hash_key_b64)
        self._aead = AESGCM(base64.b64decode(enc_key_b64))
        self.key_version = key_version

    def hash(self, e164: str) -> str:
        return hmac.new(self._hash_key, e164.encode(), hashlib.sha256).hexdigest()

    def seal(self, e164: str) -> SealedNumber:
        nonce = os.urandom(12)
        aad = f"v{self.key_version}".encode()
        ct = self._aead.encrypt(nonce, e164.encode(), aad)
        return SealedNumber(hash_hex=self.hash(e164), ciphertext=nonce + ct, key_version=self.key_version)

    def seal_secret(self, secret: str) -> bytes:
        """Encrypt a service secret (a PBX's whsec_ key) for storage; the AAD keeps it apart from numbers."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret.encode(), f"secret-v{self.key_version}".encode())

    def open_secret(self, sealed: bytes) -> str:
        aad = f"secret-v{self.key_version}".encode()
        return self._aead.decrypt(sealed[:12], sealed[12:], aad).decode()

    def open(self, ciphertext: bytes, key_version: int) -> str:
        aad = f"v{key_version}".encode()
        return self._aead.decrypt(ciphertext[:12], ciphertext[12:], aad).decode()


def hash_prefix(hash_hex: str) -> str:
    return hash_hex[:12]
