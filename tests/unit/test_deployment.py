"""The deployment files: docker-compose.yml is valid Compose (checked offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO_ROOT


def test_compose_file_matches_the_compose_spec() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_takes_credentials_from_env_and_defaults_to_paper() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    gateway = compose["services"]["ib-gateway"]["environment"]
    assert gateway["TWS_PASSWORD"].startswith("${TWS_PASSWORD")
    assert gateway["TRADING_MODE"] == "${TRADING_MODE:-paper}"
    example = (REPO_ROOT / ".env.example").read_text()
    for name in ("TWS_USERID", "TWS_PASSWORD", "POSTGRES_PASSWORD"):
        assert f"{name}=" in example
    assert ".env" in (REPO_ROOT / ".dockerignore").read_text().split()


def test_dockerfile_runs_as_a_non_root_user_with_uv() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "uv sync --frozen" in dockerfile
    assert "\nUSER ntrader\n" in dockerfile
