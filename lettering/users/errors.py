"""Errors of the users package. Their messages are read by people in the console: Korean."""

from __future__ import annotations

from lettering.core.errors import AppError, NotFound


class UserInvalid(AppError):
    """A user cannot be created as asked (role, agency, department, password rules)."""

    status_code = 400


class PasswordRejected(UserInvalid):
    """A new password that does not pass the rules (lettering/users/passwords.py): `detail` in
    English for the API, `korean` for the console."""


class EmailTaken(AppError):
    status_code = 409


class UserNotFound(NotFound):
    pass


class TokenNameTaken(AppError):
    status_code = 409


class LoginFailed(AppError):
    """The same answer for an unknown email, a wrong password and a disabled account."""

    status_code = 401


class TooManyLoginAttempts(AppError):
    status_code = 429


class NotAuthenticated(AppError):
    status_code = 401


class CsrfRejected(AppError):
    status_code = 403


class RoleForbidden(AppError):
    status_code = 403


class AgencyRequired(AppError):
    """A platform admin must name the agency a request acts on."""

    status_code = 400
