"""The application factory: routers, middleware and handlers around the container (lettering/container.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Scope

from campaigns.pages import router as card_news_router
from campaigns.router import router as campaign_router
from carriers.simulator.app import create_simulator_app_from_settings
from kakao_fallback.simulator.app import create_alimtalk_simulator_from_settings
from lettering.audit.router import router as audit_router
from lettering.console.router import router as console_router
from lettering.container import Container
from lettering.core.bodylimit import BodySizeLimit
from lettering.core.errors import install_error_handlers
from lettering.core.serving import freeze_startup_heap
from lettering.core.settings import Settings, announce_environment, get_settings
from lettering.core.templates import TEMPLATE_DIR
from lettering.dashboard.router import router as alimtalk_router
from lettering.directory.router import router as directory_router
from lettering.dispatch.router import router as dispatch_router
from lettering.observability import metrics
from lettering.observability.health import router as health_router
from lettering.optout.pages import router as optout_pages_router
from lettering.optout.router import router as optout_router
from lettering.users.router import router as users_router
from lettering.verify.router import router as verify_router
from lettering.webhook.router import PbxEventsRoute
from lettering.webhook.router import router as webhook_router

SIMULATOR_MOUNT = "/sim/carriers"
ALIMTALK_SIMULATOR_MOUNT = "/sim/alimtalk"
# Third-party assets served from the package (static/vendor/README.md): no page loads from a CDN.
VENDOR_MOUNT = "/static/vendor"
SWAGGER_UI = f"{VENDOR_MOUNT}/swagger-ui"
# The staff console's own stylesheet (lettering/console/).
ADMIN_ASSETS = "/static/admin"


def create_app(
    settings: Settings | None = None, *, carrier_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The service. `carrier_transport` replaces the carriers' network (tests only)."""
    settings = settings or get_settings()
    simulator = create_simulator_app_from_settings(settings) if settings.simulators_in_process else None
    alimtalk_sim = (
        create_alimtalk_simulator_from_settings(settings) if settings.simulators_in_process else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        announce_environment(settings)
        container = await Container.build(settings, carrier_transport=carrier_transport)
        container.install(app.state)
        async with contextlib.AsyncExitStack() as stack:
            # Left last: once this worker is done, its live gauges stop counting (several workers).
            stack.callback(metrics.worker_exit)
            for sub in (simulator, alimtalk_sim):
                if sub is not None:
                    await stack.enter_async_context(sub.router.lifespan_context(sub))
            # Entered last, left first: setups still pushing drain while the simulators run.
            await stack.enter_async_context(container.running())
            await warm_routes(app)
            freeze_startup_heap()
            yield

    # /docs is served below from the vendored Swagger UI; ReDoc would need a CDN, so there is none.
    app = FastAPI(title="Smart lettering", lifespan=lifespan, docs_url=None, redoc_url=None)
    # Bodies are capped while they stream in: uploads at the upload limit, everything else small.
    app.add_middleware(
        BodySizeLimit,
        default_max=256 * 1024,
        by_prefix={
            "/v1/campaigns/": settings.upload_max_bytes + 64 * 1024,
            "/admin/campaigns/": settings.upload_max_bytes + 64 * 1024,
            "/sim/": 16 * 1024 * 1024,
        },
    )
    # Outermost: the PBX's events go straight to the webhook service (lettering/webhook/router.py).
    app.add_middleware(PbxEventsRoute)
    install_error_handlers(app)
    app.include_router(webhook_router)
    app.include_router(dispatch_router)
    app.include_router(campaign_router)
    app.include_router(card_news_router)
    app.include_router(alimtalk_router)
    app.include_router(directory_router)
    app.include_router(users_router)
    app.include_router(optout_router)
    app.include_router(optout_pages_router)
    app.include_router(verify_router)
    app.include_router(audit_router)
    app.include_router(console_router)
    app.include_router(health_router)
    app.include_router(metrics.router)

    _install_docs(app)

    if simulator is not None:
        app.mount(SIMULATOR_MOUNT, simulator)
    if alimtalk_sim is not None:
        app.mount(ALIMTALK_SIMULATOR_MOUNT, alimtalk_sim)
    return app


# A path no route matches: a request for it walks every route (see warm_routes).
WARM_UP_PATH = "/.well-known/lettering-warm-up"


async def warm_routes(app: FastAPI) -> None:
    """Build every route's request handling now, before this worker says it is up.

    FastAPI (0.165) builds an included router's routes when a request first walks them: ~200 ms of
    CPU for this app (bench/app_start.py), which the first console or API request after a worker
    start would otherwise wait for. A request that matches nothing walks them all; it goes to the
    router alone (no middleware, no access log) and its 404 is discarded.
    """
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": WARM_UP_PATH,
        "raw_path": WARM_UP_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": None,
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    await app.router(scope, receive, send)


def _install_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its script, style and icon from the package, not a CDN."""
    app.mount(VENDOR_MOUNT, StaticFiles(directory=TEMPLATE_DIR.parent / "vendor"), name="vendor")
    app.mount(ADMIN_ASSETS, StaticFiles(directory=TEMPLATE_DIR.parent / "admin"), name="admin-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - API",
            swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER_UI}/favicon-32x32.png",
        )
