"""The application factory: one engine, the snapshots, the carriers and the routes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from campaigns import jobs as campaign_jobs
from campaigns import service as campaign_service
from campaigns.media import MediaStore
from campaigns.pages import router as card_news_router
from campaigns.router import router as campaign_router
from carriers.registry import build_carriers
from carriers.simulator.app import create_simulator_app_from_settings
from kakao_fallback.client import build_client as build_alimtalk_client
from kakao_fallback.relay import Relay
from kakao_fallback.simulator.app import create_alimtalk_simulator_from_settings
from lettering import retention
from lettering.audit.router import router as audit_router
from lettering.core.bodylimit import BodySizeLimit
from lettering.core.db import GroupCommitter, make_engine, make_sessionmaker
from lettering.core.errors import install_error_handlers
from lettering.core.phone import make_vault
from lettering.core.scheduler import Job, Scheduler
from lettering.core.settings import Settings, get_settings
from lettering.dashboard.router import router as alimtalk_router
from lettering.directory import service as directory_service
from lettering.dispatch.router import router as dispatch_router
from lettering.dispatch.service import Dispatcher
from lettering.observability.health import router as health_router
from lettering.optout import service as optout_service
from lettering.optout.pages import router as optout_pages_router
from lettering.optout.router import router as optout_router
from lettering.optout.service import SNAPSHOT_NAME as OPTOUT
from lettering.optout.service import build_optout_index
from lettering.snapshots.service import SnapshotStore
from lettering.users.router import router as users_router
from lettering.verify.router import router as verify_router
from lettering.webhook.auth import SNAPSHOT_NAME as PBX
from lettering.webhook.auth import make_registry_builder
from lettering.webhook.router import PbxEventsRoute
from lettering.webhook.router import router as webhook_router
from lettering.webhook.service import WebhookService

SIMULATOR_MOUNT = "/sim/carriers"
ALIMTALK_SIMULATOR_MOUNT = "/sim/alimtalk"


class NotMigrated(RuntimeError):
    pass


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
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        vault = make_vault(settings)
        store = SnapshotStore(
            sessions,
            {
                directory_service.SNAPSHOT_NAME: directory_service.build_directory_snapshot,
                OPTOUT: build_optout_index,
                PBX: make_registry_builder(vault),
                campaign_service.SNAPSHOT_NAME: campaign_service.make_snapshot_builder(
                    settings.public_base_url
                ),
            },
        )
        try:
            await store.refresh(force=True)
        except DBAPIError as exc:
            await engine.dispose()
            raise NotMigrated(
                f"the database at LETTERING_DATABASE_URL is not ready ({type(exc.orig).__name__}); "
                "run `lettering db upgrade` first"
            ) from exc
        carriers = build_carriers(settings, transport=carrier_transport)

        def directory() -> directory_service.DirectorySnapshot:
            snapshot: directory_service.DirectorySnapshot = store.current.get(directory_service.SNAPSHOT_NAME)
            return snapshot

        media_store = MediaStore(Path(settings.media_dir))
        # The call path's one writer in this process (webhook, dispatch and LG U+ reports).
        committer = GroupCommitter(sessions)
        dispatcher = Dispatcher(
            sessions,
            carriers,
            callback_url=f"{settings.public_base_url.rstrip('/')}/v1/carriers/lgu/reports",
            learned_route_days=settings.carriers.learned_route_days,
            directory=directory,
            kakao=settings.kakao,
            optout=lambda: store.current.get(OPTOUT),
            media=functools.lru_cache(maxsize=64)(
                lambda sha: media_store.get(sha) if media_store.exists(sha) else None
            ),
            link_keys=optout_service.link_keys(settings),
            committer=committer,
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.vault = vault
        app.state.snapshots = store
        app.state.carriers = carriers
        app.state.dispatcher = dispatcher
        webhooks = app.state.webhooks = WebhookService(
            sessions,
            store,
            dispatcher,
            vault,
            tolerance_s=settings.webhook_tolerance_s,
            ring_window_ms=settings.carriers.ring_window_ms,
            max_unanswered=settings.setup_max_unanswered,
            committer=committer,
        )
        stop = asyncio.Event()  # background loops finish their pass and return when it is set
        poller = asyncio.create_task(store.run(settings.snapshot_poll_s, stop=stop), name="snapshot-poller")
        alimtalk = build_alimtalk_client(settings)
        app.state.relay = relay = Relay(
            sessions, alimtalk, settings, vault, hooks=optout_service.relay_hooks()
        )
        background = [poller]
        app.state.media = media = media_store
        app.state.upload_limits = campaign_service.UploadLimits(
            max_bytes=settings.upload_max_bytes,
            max_pixels=settings.upload_max_pixels,
            max_side=settings.upload_max_side,
        )
        scheduler = Scheduler(
            engine,
            [
                Job(
                    "campaigns.sync_content",
                    lambda: campaign_jobs.sync_carrier_content(sessions, carriers.adapters, media),
                    settings.content_sync_interval_s,
                ),
                Job("campaigns.end_past", lambda: campaign_jobs.end_past_campaigns(sessions), 600),
                Job("dispatch.settle_interrupted", dispatcher.settle_interrupted, 60),
                Job("retention.purge", retention.purge_job(sessions, settings), retention.JOB_INTERVAL_S),
                Job(
                    "campaigns.expire_files",
                    lambda: campaign_jobs.expire_ended_files(
                        sessions, media, settings.campaign_file_retention_days
                    ),
                    86_400,
                ),
            ],
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                for sub in (simulator, alimtalk_sim):
                    if sub is not None:
                        await stack.enter_async_context(sub.router.lifespan_context(sub))
                if settings.scheduler_enabled:
                    await scheduler.start()
                if settings.kakao.relay_in_process:
                    background.append(asyncio.create_task(relay.run(stop=stop), name="alimtalk-relay"))
                yield
                # Setups still pushing finish and record before the process goes.
                await webhooks.drain(settings.carriers.ring_window_ms / 1000)
        finally:
            await scheduler.stop()
            stop.set()
            _, late = await asyncio.wait(background, timeout=10)
            for task in late:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await alimtalk.aclose()
            await carriers.aclose()
            await committer.close()
            await engine.dispose()

    app = FastAPI(title="Smart lettering", lifespan=lifespan)
    # Bodies are capped while they stream in: uploads at the upload limit, everything else small.
    app.add_middleware(
        BodySizeLimit,
        default_max=256 * 1024,
        by_prefix={"/v1/campaigns/": settings.upload_max_bytes + 64 * 1024, "/sim/": 16 * 1024 * 1024},
    )
    # Outermost: the PBX's events go straight to the webhook service (lettering/webhook/router.py).
    app.add_middleware(PbxEventsRoute)
    install_error_handlers(app)
    app.include_router(webhook_router)
    app.include_router(dispatch_router)
    app.include_router(campaign_router)
    app.include_router(card_news_router)
    app.include_router(alimtalk_router)
    app.include_router(users_router)
    app.include_router(optout_router)
    app.include_router(optout_pages_router)
    app.include_router(verify_router)
    app.include_router(audit_router)
    app.include_router(health_router)

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> JSONResponse:
        store: SnapshotStore = request.app.state.snapshots
        webhooks: WebhookService = request.app.state.webhooks
        return JSONResponse(
            {
                "status": "ok",
                "snapshots": dict(store.current.versions),
                "deliveries_in_flight": webhooks.in_flight,
                "setups_in_progress": webhooks.unanswered,
                "admission_limit": round(webhooks.admission_limit, 1),
                "setups_shed": webhooks.shed,
            }
        )

    if simulator is not None:
        app.mount(SIMULATOR_MOUNT, simulator)
    if alimtalk_sim is not None:
        app.mount(ALIMTALK_SIMULATOR_MOUNT, alimtalk_sim)
    return app
