"""Errors of the audit routes."""

from __future__ import annotations

from lettering.core.errors import AppError


class NumberNoLongerKept(AppError):
    """The retention rules already dropped this call's number."""

    status_code = 410


class ReasonRequired(AppError):
    """A view of a citizen's number asked for without a reason for the access log."""

    status_code = 422
