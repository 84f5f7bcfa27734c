"""`ntrader demo` from a built wheel, as `uv tool install .` or `pipx install .` would run it.

Offline by design, and in a venv of its own: the wheel is built with the build backend from
uv's cache; the venv gets the locked dependencies with ``uv sync --frozen --offline
--no-install-project`` (uv.lock names each wheel, so uv's cache, filled by the project's own
``uv sync``, serves them in about a second, hard-linked) and then the wheel with ``--no-deps``.
``uv pip install --offline`` of the wheel with its dependencies would need registry metadata the
cache need not hold. ntrader itself, its console script and its data come only from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ntrader.services.demo_service import SAMPLE_FILES
from tests.conftest import REPO_ROOT, SAMPLE_DIR
from tests.e2e.conftest import RunCli

pytestmark = pytest.mark.slow

SAMPLE_NAMES = tuple(name for name, _, _ in SAMPLE_FILES)


def _uv() -> str:
    # `uv run` exports UV; a plain pytest run finds uv on PATH.
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv is needed to build and install the wheel; install it (see README.md)")
    return found


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} exited {result.returncode}\n"
        f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


def _build(out_dir: Path, *flags: str) -> Path:
    _run(
        _uv(), "build", "--offline", "--quiet", *flags, "--out-dir", out_dir, REPO_ROOT, cwd=out_dir
    )
    (wheel,) = out_dir.glob("ntrader-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `uv tool install .` and `pipx install .` build: a wheel straight from the tree."""
    return _build(tmp_path_factory.mktemp("wheel"), "--wheel")


def _install(wheel: Path, venv: Path) -> Path:
    """A fresh venv at ``venv``: the locked dependencies, then the wheel; returns its bin/."""
    uv = _uv()
    sync = ("sync", "--frozen", "--offline", "--no-dev", "--no-install-project", "--quiet")
    # The project's VIRTUAL_ENV (set by `uv run`) would only draw a warning from uv.
    env = {name: value for name, value in os.environ.items() if name != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    _run(uv, *sync, "--python", sys.executable, cwd=REPO_ROOT, env=env)
    python = venv / "bin" / "python"
    install = ("pip", "install", "--offline", "--quiet", "--no-deps", "--python", python, wheel)
    _run(uv, *install, cwd=venv.parent)
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(wheel, tmp_path_factory.mktemp("venv") / "venv")


def _venv_env(cli_env: dict[str, str], **extra: str) -> dict[str, str]:
    # The fresh venv has no bytecode yet; let the first command write it for the next ones.
    env = {name: value for name, value in cli_env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, **extra}


def _package_dir(bin_dir: Path, cwd: Path, env: dict[str, str]) -> Path:
    probe = "import ntrader, pathlib; print(pathlib.Path(ntrader.__file__).parent)"
    return Path(_run(bin_dir / "python", "-c", probe, cwd=cwd, env=env).strip())


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(("--wheel",), id="wheel-from-tree"),
        # Plain `uv build`: an sdist, then the wheel built from it (what a package index gets).
        pytest.param((), id="wheel-from-sdist"),
    ],
)
def test_wheel_bundles_the_sample_data_byte_for_byte(
    tmp_path: Path, flags: tuple[str, ...]
) -> None:
    with zipfile.ZipFile(_build(tmp_path, *flags)) as archive:
        bundled = {
            Path(name).name: archive.read(name)
            for name in archive.namelist()
            if name.startswith("ntrader/_sample_data/")
        }
    assert sorted(bundled) == sorted(SAMPLE_NAMES)
    for name, content in bundled.items():
        assert content == (SAMPLE_DIR / name).read_bytes(), name


def test_demo_runs_from_the_installed_wheel(
    installed: Path, run_cli: RunCli, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = _venv_env(cli_env)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # ntrader must come from the wheel, not from src/ through the project's editable install.
    assert _package_dir(installed, elsewhere, env).is_relative_to(installed.parent)
    from_wheel = json.loads(_run(installed / "ntrader", "--json", "demo", cwd=elsewhere, env=env))
    assert Path(cli_env["XDG_DATA_HOME"], "ntrader", "ntrader.db").is_file()
    rows_in_files = [len((SAMPLE_DIR / name).read_text().splitlines()) - 1 for name in SAMPLE_NAMES]
    assert [item["rows_imported"] for item in from_wheel["imports"]] == rows_in_files
    assert from_wheel["backtest"]["status"] == "COMPLETED"
    # The same bars and the same numbers as the demo from this source checkout.
    from_source = json.loads(
        run_cli("--json", "demo", database_url=f"sqlite:///{tmp_path / 'source.db'}").stdout
    )
    for key in ("data_fingerprint", "metrics", "trades_count"):
        assert from_wheel["backtest"][key] == from_source["backtest"][key], key


def test_demo_refuses_an_installation_missing_a_sample_file(
    installed: Path, cli_env: dict[str, str], tmp_path: Path
) -> None:
    # A copy of the installed package one sample file short, ahead of site-packages on sys.path.
    shadow = tmp_path / "shadow"
    package_dir = _package_dir(installed, tmp_path, _venv_env(cli_env))
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(package_dir, shadow / "ntrader", ignore=ignore)
    (shadow / "ntrader" / "_sample_data" / "SPY_daily.csv").unlink()
    env = _venv_env(cli_env, PYTHONPATH=str(shadow))
    assert _package_dir(installed, tmp_path, env) == shadow / "ntrader"

    def ntrader(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(installed / "ntrader"), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    result = ntrader("demo")
    assert result.returncode == 3, result.stderr
    assert "lacks SPY_daily.csv" in result.stderr
    assert "Reinstall ntrader" in result.stderr
    # Refused before the first import: nothing reached the store.
    listing = ntrader("--json", "data", "list")
    assert listing.returncode == 0, listing.stderr
    assert json.loads(listing.stdout) == []
