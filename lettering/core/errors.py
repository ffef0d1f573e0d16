"""The error base, its one handler (`{"error": "<ClassName>", "detail": "..."}`), and how routes
document the errors they answer with (`responses=errors(404, 409)`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from python_multipart.exceptions import FormParserError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


class AppError(Exception):
    """A refusal: `detail` in English for the API's body, and (where a person reads it, on a
    console page) `korean`, the same refusal in Korean words, one sentence per problem."""

    status_code: int = 400

    def __init__(
        self,
        detail: str,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        *,
        korean: str | Sequence[str] = (),
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        self.korean: tuple[str, ...] = (korean,) if isinstance(korean, str) else tuple(korean)
        if status_code is not None:
            self.status_code = status_code

    def in_korean(self) -> list[str]:
        """What a console page shows: the Korean words given with the refusal, else its detail."""
        return list(self.korean) or [self.detail]

    def body(self) -> object:
        return self.detail


class NotFound(AppError):
    status_code = 404


class ErrorOut(BaseModel):
    """Every refusal but a validation error: which error, and what was wrong, in words."""

    error: str
    detail: str | dict[str, Any] | list[Any]


class HttpErrorOut(BaseModel):
    """A refusal by the HTTP layer itself (an unknown path or method)."""

    detail: str


_WHAT = {
    400: "The request was refused; `detail` says why.",
    401: "No valid credentials: log in, or send a valid API token.",
    403: "The credentials are valid but may not do this (role or agency).",
    404: "No such resource (or not visible to this user).",
    408: "The body stopped coming (or came too slowly): send the request again.",
    409: "The resource is not in a state that allows this.",
    413: "The body is larger than this operation accepts.",
    415: "The body's content type is not one this operation reads.",
    422: "The input is not valid: `detail` names each field and what is wrong with it.",
    429: "Too many requests: wait for `Retry-After` seconds.",
    503: "Not ready: try again after `Retry-After` seconds.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the refusals a route answers with, each with its body's schema."""
    return {code: {"model": ErrorOut, "description": _WHAT[code]} for code in codes}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            {"error": type(exc).__name__, "detail": exc.body()},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; name every one.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # A body that is not text in its declared encoding: a validation error naming the body.
            return JSONResponse(
                {
                    "detail": [
                        {
                            "type": "body_undecodable",
                            "loc": ["body"],
                            "msg": "the body could not be read: it must be UTF-8 text of its content type",
                        }
                    ]
                },
                status_code=422,
            )
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers or None)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route fully matches at this path (routes may be nested in routers)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def multipart_problem(exc: BaseException) -> str:
    """What was wrong with a multipart body Starlette refused, in the parser's own words.

    Starlette says "Invalid multipart data." for every refusal of python-multipart (a header count
    or size over its limit, a broken boundary) and, inside an app, turns its own refusals into a
    bare HTTP 400; the precise reason is further down the exception's chain.
    """
    said = str(getattr(exc, "message", None) or getattr(exc, "detail", None) or exc)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, FormParserError) and str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return said
