"""Benchmark of the webhook authentication (the call path's first step) around a PBX rotation.

Run: .venv/bin/python bench/pbx_auth.py [--pbx 20] [--n 5000]

Prints CPU microseconds per `authenticate()` (time.process_time over `n` calls) for a registry of
`--pbx` signed PBXs, the posting PBX registered last (the worst case: every other PBX's secret is
tried first), in four cases:
- no rotation: the current secret verifies;
- in grace, the PBX signs with its new secret;
- in grace, the PBX signs with its old secret (its current one fails, then its previous one);
- every PBX in grace, signing with the old secret (each other PBX costs two HMACs);
and, as the floor of the same run, one HMAC-SHA256 of the body with the stdlib, so that the
ratios compare across machines. The target is <= 2 ms of CPU per setup for the whole call path.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from types import MappingProxyType

from standardwebhooks.webhooks import Webhook

from lettering.webhook.auth import PbxRegistry, PbxView, authenticate, signing_key


def secret(n: int, tag: str) -> str:
    return "whsec_" + base64.b64encode(hashlib.sha256(f"{tag}-{n}".encode()).digest()).decode()


def registry(count: int, rotated: set[int], until_s: float) -> PbxRegistry:
    views = [
        PbxView(
            id=f"pbx-{n}",
            agency_id=1,
            auth_mode="signed",
            hold_ms=500,
            enabled=True,
            key=signing_key(secret(n, "new" if n in rotated else "old")),
            previous_key=signing_key(secret(n, "old")) if n in rotated else None,
            previous_until_s=until_s if n in rotated else 0.0,
        )
        for n in range(count)
    ]
    return PbxRegistry(by_id=MappingProxyType({v.id: v for v in views}), signed=tuple(views))


def per_call_us(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    fn()
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pbx", type=int, default=20)
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()
    last = args.pbx - 1
    now = time.time()
    body = json.dumps({"type": "call.setup", "pbx_id": f"pbx-{last}", "call_id": "c-1", "extension": "2114"})
    raw = body.encode()
    when = datetime.fromtimestamp(int(now), UTC)

    def headers(tag: str) -> dict[str, str]:
        sig = Webhook(secret(last, tag)).sign("msg_1", when, body)
        return {"webhook-id": "msg_1", "webhook-timestamp": str(int(now)), "webhook-signature": sig}

    key = hashlib.sha256(b"floor").digest()
    floor = per_call_us(lambda: hmac.new(key, raw, hashlib.sha256).digest(), args.n)
    cases = {
        "no rotation": (registry(args.pbx, set(), 0.0), headers("old")),
        "in grace, new secret": (registry(args.pbx, {last}, now + 3600), headers("new")),
        "in grace, old secret": (registry(args.pbx, {last}, now + 3600), headers("old")),
        "all in grace, old secret": (registry(args.pbx, set(range(args.pbx)), now + 3600), headers("old")),
    }
    print(f"{args.pbx} signed PBXs, the posting one last; {args.n} calls each; CPU per call")
    print(f"  floor (one stdlib HMAC-SHA256 of the body): {floor:8.1f} us")
    for name, (reg, hdrs) in cases.items():
        us = per_call_us(lambda reg=reg, hdrs=hdrs: authenticate(reg, hdrs, raw, None, now, 300), args.n)
        print(f"  {name:<26} {us:8.1f} us  ({us / floor:5.1f} x floor)")


if __name__ == "__main__":
    main()
