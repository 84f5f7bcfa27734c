#!/usr/bin/env bash
# Deploy ntrader on a server: check the settings, migrate the database, run the health check,
# then print what to start next. Settings come from the usual places (config file, .env,
# NTRADER_* environment); see docs/operations.md.
#
#   scripts/deploy.sh    # `ntrader` on PATH, else this checkout's .venv, else `uv run ntrader`
#   NTRADER="uv run ntrader" scripts/deploy.sh
#   NTRADER_DATABASE_URL=postgresql+psycopg://ntrader@db/ntrader scripts/deploy.sh
#
# Exit status: 0 deployed and healthy; 1 bad settings; 3 a service is down (database, Redis).
set -euo pipefail

checkout="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "${NTRADER:-}" ]]; then
  if command -v ntrader >/dev/null 2>&1; then
    NTRADER=ntrader
  elif [[ -x "$checkout/.venv/bin/ntrader" ]]; then
    NTRADER="$checkout/.venv/bin/ntrader"
  elif uv --version >/dev/null 2>&1 && [[ -f "$checkout/pyproject.toml" ]]; then
    NTRADER="uv run --project $checkout ntrader"
  else
    echo "deploy: ntrader is not installed (set NTRADER to the command that runs it)" >&2
    exit 1
  fi
fi
read -r -a ntrader <<<"$NTRADER"

step() { printf '\n==> %s\n' "$*"; }

step "1/3 Checking the settings"
"${ntrader[@]}" config validate

step "2/3 Migrating the database"
"${ntrader[@]}" db upgrade

step "3/3 Health check"
status=0
"${ntrader[@]}" health-check || status=$?
if [[ $status -ne 0 ]]; then
  echo "deploy: the health check failed (exit $status); fix the failing check above and run" \
    "scripts/deploy.sh again." >&2
  exit "$status"
fi

cat <<'NEXT'

Deployed. Next:
  - Import data:        ntrader data import --file BARS.csv --instrument SYMBOL
  - Metrics:            set NTRADER_PUSHGATEWAY_URL (a Pushgateway Prometheus scrapes) or
                        NTRADER_METRICS_TEXTFILE (node_exporter's textfile collector directory)
  - Logs:               set NTRADER_LOG_FORMAT=json and NTRADER_LOG_FILE for your log shipper
  - Bar cache:          set NTRADER_REDIS_URL to a Redis server (health-check will check it)
  - Monitoring:         call `ntrader health-check --json` from your checker (exit 3 = down)
  - Services to start:  see docs/deployment.md (docker compose) and docs/operations.md
NEXT
