"""Opt-out links: signed tokens naming the keyed hash (never the number), and their form tokens.

A link token is itsdangerous' URL-safe timed signature over [keyed hash, agency id] (salt
"optout"): the number is never in it, only the HMAC the service already looks citizens up by.
It is signed with `link_secret`; `link_secrets_old` still verify, so keys rotate without
breaking links already sent. The confirmation form carries a second signature (salt
"optout-form") over a digest of the link token with a short expiry: a POST needs a form that
this service rendered for this very link shortly before.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer

from lettering.core.settings import Settings

LINK_SALT = "optout"
FORM_SALT = "optout-form"
MAX_TOKEN_LENGTH = 1000
_HASH = re.compile(r"^[0-9a-f]{64}$")
# What the page is built for when the link is no good: the same queries run for it, so a bad
# link takes as long as a good one.
_NOBODY = ("0" * 64, -1)


@dataclass(frozen=True, slots=True)
class OptoutSubject:
    """Whom a link speaks for: the keyed hash of the number and the agency (0: every agency)."""

    callee_hash: str
    agency_id: int


def link_keys(settings: Settings) -> list[str]:
    """The link secrets, newest first: the first signs, all of them verify."""
    return [
        settings.link_secret.get_secret_value(),
        *(k.get_secret_value() for k in settings.link_secrets_old),
    ]


def _serializer(keys: Sequence[str], salt: str) -> URLSafeTimedSerializer:
    if not keys:
        raise ValueError("no link secret configured")
    # itsdangerous signs with the last key of the list and verifies with any of them.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=salt)


def optout_token(keys: Sequence[str], callee_hash: str, agency_id: int) -> str:
    """The signed token of an opt-out link."""
    return str(_serializer(keys, LINK_SALT).dumps([callee_hash, agency_id]))


def optout_url_for(public_base_url: str, keys: Sequence[str], callee_hash: str, agency_id: int) -> str:
    """The citizen's opt-out link, signed with the newest of `keys`."""
    return f"{public_base_url.rstrip('/')}/o/{optout_token(keys, callee_hash, agency_id)}"


def optout_url(public_base_url: str, link_secret: str, callee_hash: str, agency_id: int) -> str:
    """The citizen's opt-out link: a signed token naming the keyed hash, never the number."""
    return optout_url_for(public_base_url, [link_secret], callee_hash, agency_id)


def read_optout_token(keys: Sequence[str], token: str, max_age_s: int) -> OptoutSubject | None:
    """Whom a link speaks for; None for a tampered, expired, foreign-key or malformed token."""
    try:
        data = _serializer(keys, LINK_SALT).loads(token[:MAX_TOKEN_LENGTH], max_age=max_age_s)
    except BadData:
        return None
    if len(token) > MAX_TOKEN_LENGTH or not isinstance(data, list) or len(data) != 2:
        return None
    callee_hash, agency_id = data
    if not isinstance(callee_hash, str) or not _HASH.match(callee_hash):
        return None
    if not isinstance(agency_id, int) or isinstance(agency_id, bool) or agency_id < 0:
        return None
    return OptoutSubject(callee_hash, agency_id)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def form_token(keys: Sequence[str], token: str) -> str:
    """The hidden field of the confirmation form: bound to this link, valid for a short time."""
    return str(_serializer(keys, FORM_SALT).dumps(_token_digest(token)))


def check_form_token(keys: Sequence[str], token: str, sent: str | None, max_age_s: int) -> bool:
    """Whether `sent` is a form token this service made for this link within `max_age_s`."""
    if not sent or len(sent) > 200:
        return False
    try:
        bound = _serializer(keys, FORM_SALT).loads(sent, max_age=max_age_s)
    except BadData:
        return False
    return isinstance(bound, str) and hmac.compare_digest(bound, _token_digest(token))
