"""What the service is made of, built once per process in the app's lifespan.

`Container.build` makes the engine, the vault, the snapshots (loaded before the first call), the
carriers and AlimTalk clients, the call path's group-commit writer and the services; `run` starts
the background loops and the scheduled jobs of every package and stops them in order, letting
work under way finish. `create_app` (lettering/app.py) only wires routers, middleware and
handlers around it. Routes reach what it built through lettering/core/deps.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import State

from campaigns import jobs as campaign_jobs
from campaigns import service as campaign_service
from campaigns.media import MediaStore
from carriers.registry import Carriers, build_carriers
from kakao_fallback.client import AlimtalkClient
from kakao_fallback.client import build_client as build_alimtalk_client
from kakao_fallback.relay import Relay
from lettering.calls import jobs as call_jobs
from lettering.core.db import GroupCommitter, make_engine, make_sessionmaker
from lettering.core.phone import PhoneVault, make_vault
from lettering.core.scheduler import Job, Scheduler
from lettering.core.settings import Settings
from lettering.dispatch import jobs as dispatch_jobs
from lettering.dispatch.service import Dispatcher
from lettering.observability import metrics
from lettering.optout import service as optout_service
from lettering.ratelimit import jobs as ratelimit_jobs
from lettering.ratelimit import service as ratelimit_service
from lettering.retention import jobs as retention_jobs
from lettering.snapshots.callpath import CallPathStore, call_path_store
from lettering.users.throttle import LoginThrottle
from lettering.verify import service as verify_service
from lettering.webhook.service import WebhookService

# How long stopping waits for a background pass under way before cancelling it.
STOP_GRACE_S = 10.0


class NotMigrated(RuntimeError):
    pass


@dataclass(slots=True)
class Container:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    vault: PhoneVault
    snapshots: CallPathStore
    carriers: Carriers
    media: MediaStore
    committer: GroupCommitter
    dispatcher: Dispatcher
    webhooks: WebhookService
    alimtalk: AlimtalkClient
    relay: Relay
    upload_limits: campaign_service.UploadLimits
    limiter: ratelimit_service.RateLimiter = field(init=False)
    login_throttle: LoginThrottle = field(init=False)
    verify_limits: verify_service.VerifyLimits = field(init=False)
    scheduler: Scheduler = field(init=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _background: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(self.engine, self.jobs())
        self.limiter = ratelimit_service.RateLimiter(self.sessions, self.vault.hash)
        settings = self.settings
        login = ratelimit_service.Limit("login", settings.login_rate_limit, settings.login_rate_window_s)
        self.login_throttle = LoginThrottle(self.limiter.bound(login))
        self.verify_limits = verify_service.VerifyLimits.of(self.limiter, self.settings)

    @classmethod
    async def build(
        cls, settings: Settings, *, carrier_transport: httpx.AsyncBaseTransport | None = None
    ) -> Container:
        """Everything, with the snapshots loaded; NotMigrated when the schema is not there."""
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        vault = make_vault(settings)
        store = call_path_store(sessions, vault, settings.public_base_url)
        try:
            await store.refresh(force=True)
        except DBAPIError as exc:
            await engine.dispose()
            raise NotMigrated(
                f"the database at LETTERING_DATABASE_URL is not ready ({type(exc.orig).__name__}); "
                "run `lettering db upgrade` first"
            ) from exc
        carriers = build_carriers(settings, transport=carrier_transport)
        media = MediaStore(Path(settings.media_dir))
        # The call path's one writer in this process (webhook, dispatch and LG U+ reports).
        committer = GroupCommitter(sessions)

        dispatcher = Dispatcher(
            sessions,
            carriers,
            callback_url=f"{settings.public_base_url.rstrip('/')}/v1/carriers/lgu/reports",
            learned_route_days=settings.carriers.learned_route_days,
            directory=lambda: store.current.directory,
            kakao=settings.kakao,
            optout=lambda: store.current.optout,
            media=functools.lru_cache(maxsize=64)(lambda sha: media.get(sha) if media.exists(sha) else None),
            link_keys=optout_service.link_keys(settings),
            committer=committer,
            content_refused=campaign_service.mark_content_refused,
        )
        webhooks = WebhookService(
            sessions,
            store,
            dispatcher,
            vault,
            tolerance_s=settings.webhook_tolerance_s,
            ring_window_ms=settings.carriers.ring_window_ms,
            max_unanswered=settings.setup_max_unanswered,
            committer=committer,
        )
        alimtalk = build_alimtalk_client(settings)
        relay = Relay(sessions, alimtalk, settings, vault, hooks=optout_service.relay_hooks())
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            vault=vault,
            snapshots=store,
            carriers=carriers,
            media=media,
            committer=committer,
            dispatcher=dispatcher,
            webhooks=webhooks,
            alimtalk=alimtalk,
            relay=relay,
            upload_limits=campaign_service.UploadLimits(
                max_bytes=settings.upload_max_bytes,
                max_pixels=settings.upload_max_pixels,
                max_side=settings.upload_max_side,
            ),
        )

    def jobs(self) -> list[Job]:
        """Every package's scheduled sweeps (each declared in its jobs module)."""
        return [
            *campaign_jobs.scheduled(self.sessions, self.carriers.adapters, self.media, self.settings),
            *dispatch_jobs.scheduled(self.dispatcher),
            *retention_jobs.scheduled(self.sessions, self.settings),
            *call_jobs.scheduled(self.sessions),
            *ratelimit_jobs.scheduled(self.sessions),
        ]

    def install(self, state: State) -> None:
        """Put on `app.state` what routes read through lettering/core/deps.py: the settings, the
        session factory and the vault, and the services by type (`deps.provided`, `deps.lookup`)."""
        state.settings = self.settings
        state.sessions = self.sessions
        state.vault = self.vault
        state.services = {
            type(service): service
            for service in (
                self.snapshots,
                self.carriers,
                self.dispatcher,
                self.webhooks,
                self.relay,
                self.media,
                self.upload_limits,
                self.login_throttle,
                self.verify_limits,
            )
        }

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Background loops and jobs while the service runs; on the way out, setups still pushing
        finish and record, background passes finish, then clients and the engine close."""
        self._background.append(
            asyncio.create_task(
                self.snapshots.run(self.settings.snapshot_poll_s, stop=self._stop), name="snapshot-poller"
            )
        )
        self._background.append(
            asyncio.create_task(metrics.refresh_loop(self.carriers, stop=self._stop), name="metrics-breakers")
        )
        try:
            if self.settings.scheduler_enabled:
                await self.scheduler.start()
            if self.settings.kakao.relay_in_process:
                self._background.append(
                    asyncio.create_task(self.relay.run(stop=self._stop), name="alimtalk-relay")
                )
            yield
            await self.webhooks.drain(self.settings.carriers.ring_window_ms / 1000)
        finally:
            await self.close()

    async def close(self) -> None:
        await self.scheduler.stop(grace_s=STOP_GRACE_S)
        self._stop.set()
        if self._background:
            _, late = await asyncio.wait(self._background, timeout=STOP_GRACE_S)
            for task in late:
                task.cancel()
            for task in self._background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.alimtalk.aclose()
        await self.carriers.aclose()
        await self.committer.close()
        await self.engine.dispose()
