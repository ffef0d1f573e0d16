"""The whole suite's ground rules.

Without LETTERING_ENV the service runs as in production (refusing the development keys and the
in-process simulators). The tests run on those keys and simulators, so they say `dev` here, once,
before any Settings is built; a test about the production default removes it with monkeypatch.
"""

from __future__ import annotations

import os

os.environ.setdefault("LETTERING_ENV", "dev")


def _share_built_routes() -> None:
    """Build each of the service's routes once per test process, not once per app.

    FastAPI (0.165) builds an included router's routes for each app that includes them: ~200 ms
    of CPU per service start (bench/app_start.py), and the suite starts about 900 services. The
    service's routes are module-level objects, the same in every app, and no test uses
    `dependency_overrides`, so the built form of a module-level route is shared between apps here.
    Routes made inside a factory (the simulators') are built per app as before. The service itself
    builds its one app's routes at start (`lettering.app.warm_routes`); this changes nothing there.
    Without the private hook (another FastAPI), the suite runs as it is, only slower.
    """
    from fastapi import routing

    included = getattr(routing, "_IncludedRouter", None)
    build = getattr(included, "_build_effective_context", None)
    if included is None or build is None:
        return
    built: dict[tuple[int, str, tuple[int, ...], int | None, int], tuple[object, object]] = {}

    def shared(self: object, route: routing.BaseRoute) -> object:
        endpoint = getattr(route, "endpoint", None)
        if endpoint is None or "<locals>" in getattr(endpoint, "__qualname__", "<locals>"):
            return build(self, route)
        context = self.include_context  # type: ignore[attr-defined]
        key = (
            id(route),
            context.prefix,
            tuple(id(d) for d in context.dependencies),
            context.max_body_size,
            id(context.included_router),
        )
        hit = built.get(key)
        if hit is None or hit[0] is not route:
            hit = built[key] = (route, build(self, route))
        return hit[1]

    included._build_effective_context = shared


_share_built_routes()
