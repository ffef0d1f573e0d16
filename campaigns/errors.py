"""Errors of the campaign routes."""

from __future__ import annotations

from lettering.core.errors import AppError


class UploadTooLarge(AppError):
    status_code = 413


class BadUpload(AppError):
    status_code = 422
