"""Errors of the audit routes."""

from __future__ import annotations

from lettering.core.errors import AppError


class NumberNoLongerKept(AppError):
    """The retention rules already dropped this call's number."""

    status_code = 410
