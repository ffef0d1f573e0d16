"""The learned route per callee (keyed hash -> carrier, with an expiry): what the call path and
the key rotation ask of it. The SQL is in carriers/repository.py."""

from __future__ import annotations

from carriers.repository import KEY_COLUMNS, forget_route, learn_route, learned_carrier, purge_expired_routes

__all__ = ["KEY_COLUMNS", "forget_route", "learn_route", "learned_carrier", "purge_expired_routes"]
