"""The ASGI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request

from . import api_admin, api_datasets, api_jobs, api_pipelines, api_rbac, log_blobs, pages, websocket
from .auth import authenticate, scope_team, scope_teams
from .config import EmulatorConfig
from .errors import install_error_handlers
from .faults import FaultInjector
from .guard import RequestGuard
from .runtime import Emulator


async def _require_token(request: Request) -> None:
    authenticate(request.app.state.emulator.config.tokens, request.headers.get("authorization"), None)


def create_app(
    config: EmulatorConfig, injector: FaultInjector | None = None, *, emulator: Emulator | None = None
) -> Any:
    """The emulator as an ASGI app, wrapped by the fault injector's middleware.

    Pass ``emulator`` to keep a handle on its state (the in-process server does); otherwise one is made
    from ``config``. Admin routes are mounted under ``/_emulator``, the API under ``/api``, and the pages a
    person reads (see ``pages``) at ``/`` and under ``/team/``.
    """
    emulator = emulator or Emulator(config)
    injector = injector or FaultInjector()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    # No slash redirects: a 307 turns a client's POST into a retry it may not make; both variants are routed.
    app = FastAPI(
        title="DataChain Studio emulator",
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.emulator = emulator
    app.state.injector = injector
    tokens = config.tokens
    # Fault rules set over HTTP are their team's: they fire on that team's requests only.
    injector.scope_to_teams(lambda scope: scope_team(tokens, scope), lambda scope: scope_teams(tokens, scope))
    install_error_handlers(app)
    for module in (api_jobs, api_datasets, api_pipelines, api_rbac, websocket):
        app.include_router(module.build_router(), prefix="/api")
    app.include_router(api_admin.build_router(), prefix="/_emulator")
    app.include_router(log_blobs.build_router())
    app.include_router(pages.build_router())
    # The fault router is generic (it knows nothing of tokens); here it gets the emulator's auth, so no
    # admin endpoint answers without a valid token, and its rules their caller's team.
    app.include_router(injector.admin_router(), prefix="/_emulator", dependencies=[Depends(_require_token)])

    # The guard sits inside the fault middleware, so faults and the request log still see every request.
    return injector.middleware(RequestGuard(app, config.tokens, config.max_body_bytes))
