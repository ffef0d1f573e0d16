"""The error base and its one handler: `{"error": "<ClassName>", "detail": "..."}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


class AppError(Exception):
    status_code: int = 400

    def __init__(
        self, detail: str, status_code: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> object:
        return self.detail


class NotFound(AppError):
    status_code = 404


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            {"error": type(exc).__name__, "detail": exc.body()},
            status_code=exc.status_code,
            headers=exc.headers,
        )
