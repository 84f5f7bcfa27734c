"""What operators probe and scrape: ``/health`` (open) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from ntrader.api.guard import bearer_matches
from ntrader.api.problems import ERROR_RESPONSES, hide_server_places
from ntrader.api.schemas import Health, HealthCheckResult
from ntrader.api.state import ApiState, api_state
from ntrader.services import telemetry
from ntrader.services.health import run_health_checks

router = APIRouter(tags=["operations"])
State = Annotated[ApiState, Depends(api_state)]


@router.get(
    "/health",
    responses={503: {"model": Health, "description": "A check failed"}},
)
async def health(api: State, request: Request, response: Response) -> Health:
    """The checks of `ntrader health-check` on the server's store and services: 200 when
    none failed, 503 when one did. Open to all (a load balancer probes it); the checks'
    details only for a caller with the token, when one is configured."""
    # The server's own store, whatever the settings file names (--database-url wins).
    settings = api.settings.model_copy(update={"database_url": api.database.url})
    report = await run_in_threadpool(run_health_checks, settings)
    token = api.settings.api_token
    detailed = token is None or bearer_matches(request.scope, token.get_secret_value().encode())
    response.status_code = 200 if report.healthy else 503
    return Health(
        healthy=report.healthy,
        checks=[
            HealthCheckResult(
                name=check.name,
                status=check.status.value,
                detail=hide_server_places(check.detail, api.database) if detailed else None,
                seconds=round(check.seconds, 4),
            )
            for check in report.checks
        ],
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition of ntrader's registry",
            "content": {"text/plain": {}},
        },
        401: ERROR_RESPONSES[401],
    },
)
def metrics() -> Response:
    """Prometheus metrics: runs by status and duration, bars processed, queue waits, imports,
    cache hits (the registry every ntrader service records into)."""
    return Response(generate_latest(telemetry.REGISTRY), media_type=CONTENT_TYPE_LATEST)
