"""Errors of the directory package."""

from __future__ import annotations

from lettering.core.errors import AppError


class DirectoryConflict(AppError):
    """The file is valid on its own but contradicts the database (nothing was changed)."""

    status_code = 409


class DirectoryInvalid(AppError):
    """A value the directory refuses (a guidance phrase, an uploaded file); `korean` says why."""

    status_code = 422
