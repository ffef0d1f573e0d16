"""Holdout arms: which share of an agency's calls get no lettering, or identity without any campaign.

The proof that lettering works (DESIGN.md) compares answer rates between arms, so the assignment
must be random with respect to the call and repeatable: a keyed BLAKE2b of the call id (the key is
the agency's random salt) gives a bucket in 0..9999; buckets below the holdout share (in basis
points) are held out, the next `identity_only` share get identity only, the rest are lettered.
A replayed call lands in the same bucket; another agency's salt shuffles its calls differently.

Hot path: with both shares at 0 (the default) no hash is computed.
"""

from __future__ import annotations

import hashlib
from typing import Literal

Arm = Literal["lettered", "identity_only", "holdout"]
ARMS: tuple[Arm, ...] = ("lettered", "identity_only", "holdout")
BUCKETS = 10_000  # one bucket is a basis point (0.01 %)
# Neither share may exceed this, nor may their sum: at least 80 % of calls are always lettered.
MAX_SHARE_BP = 2_000

NO_HOLDOUT = "arm: lettered (no holdout configured)"


def bucket_of(call_id: str, salt: bytes) -> int:
    """The call's bucket in 0..BUCKETS-1, fixed by the call id and the agency's salt."""
    digest = hashlib.blake2b(call_id.encode(), key=salt, digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def _percent(bp: int) -> str:
    return f"{bp / 100:g} %"


def assign_arm(call_id: str, salt: bytes, holdout_bp: int, identity_only_bp: int) -> tuple[Arm, str]:
    """The call's arm and why (the bucket and the shares), for the decision's explanation."""
    if holdout_bp <= 0 and identity_only_bp <= 0:
        return "lettered", NO_HOLDOUT
    bucket = bucket_of(call_id, salt)
    if bucket < holdout_bp:
        return "holdout", f"holdout: bucket {bucket:04d} < {holdout_bp} ({_percent(holdout_bp)} held out)"
    upper = holdout_bp + identity_only_bp
    if bucket < upper:
        return "identity_only", (
            f"identity_only: bucket {bucket:04d} in {holdout_bp}..{upper - 1} "
            f"({_percent(identity_only_bp)} identity only)"
        )
    return "lettered", (
        f"arm: lettered: bucket {bucket:04d} >= {upper} "
        f"({_percent(holdout_bp)} held out, {_percent(identity_only_bp)} identity only)"
    )
