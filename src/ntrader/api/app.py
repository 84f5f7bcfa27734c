"""The application: routes, error mapping, the token gate, offline docs, the job pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from ntrader import __version__
from ntrader.api import problems
from ntrader.api.guard import Guard
from ntrader.api.jobs import JobRunner
from ntrader.api.routes import (
    backtests,
    dashboard,
    data,
    operations,
    strategies,
    sweeps,
    walk_forwards,
)
from ntrader.api.state import ApiState, StrictJSONResponse
from ntrader.services.store import Database
from ntrader.utils.settings import Settings

API_PREFIX = "/api/v1"
_ASSETS = "/docs/assets"


def create_app(database: Database, settings: Settings, *, jobs: int) -> FastAPI:
    """The API over ``database``, running at most ``jobs`` backtests at once."""
    runner = JobRunner(database, workers=jobs, per_client=settings.api_max_jobs_per_client)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runner.start()
        yield
        await runner.shutdown(settings.api_shutdown_grace_seconds)

    app = FastAPI(
        title="ntrader",
        version=__version__,
        description="Backtest trading strategies on stored bars with NautilusTrader: the "
        "services of the `ntrader` CLI over HTTP.",
        default_response_class=StrictJSONResponse,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.api = ApiState(database=database, jobs=runner, settings=settings)
    problems.install(app)
    routers = (strategies, backtests, sweeps, walk_forwards, data)
    for router in (module.router for module in routers):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(operations.router)
    app.include_router(dashboard.router)
    _offline_docs(app)
    if settings.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
        )
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app.add_middleware(Guard, token=token, max_body_bytes=settings.api_max_upload_bytes)
    return app


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package: /docs works with no internet."""
    app.mount(_ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{_ASSETS}/favicon-32x32.png",
        )
