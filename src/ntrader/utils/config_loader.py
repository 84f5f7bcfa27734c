"""Reading backtest configuration files (safe YAML, pydantic validation), and validating
a run configuration merged from a file and flags with errors that say where values came from."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ntrader.core.errors import UserInputError
from ntrader.models.backtest import BacktestConfig
from ntrader.models.config_file import BacktestFile
from ntrader.models.defaults import DEFAULT_END, DEFAULT_START
from ntrader.models.validation import describe_validation_error


def load_backtest_file(path: Path) -> BacktestFile:
    """Parse and validate ``path``; every error names the file, the key path and the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserInputError(
            f"{path}: file not found.", hint="Check the path; see configs/examples/ for samples."
        ) from exc
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot be read ({exc}).") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserInputError(f"{path}: not valid YAML{where}: {problem}.") from exc
    if not isinstance(document, dict):
        raise UserInputError(
            f"{path}: expected a mapping with strategy, instruments, period, ... at the top.",
            hint="See configs/examples/sma_config.yaml.",
        )
    try:
        return BacktestFile.model_validate(document)
    except ValidationError as exc:
        raise UserInputError(
            f"{path}: {describe_validation_error(exc, extra='unknown key')}.",
            hint="See configs/examples/ for a file that works.",
        ) from exc


@dataclass(frozen=True, slots=True)
class ConfigSources:
    """Where each value of a run configuration came from: a flag, a key of a file, or a
    default. Keys are BacktestConfig fields, and ``parameters.NAME`` for strategy parameters."""

    file: Path | None = None
    file_keys: Mapping[str, str] = field(default_factory=dict)
    flags: Mapping[str, str] = field(default_factory=dict)

    def label(self, key: str, inner: str = "") -> str:
        """``--start``, ``F.yaml: period.end``, or the bare name of a defaulted value;
        ``inner`` is a key inside the value (``value`` of a commission)."""
        if key in self.flags:
            return self.flags[key] + (f" ({inner})" if inner else "")
        suffix = f".{inner}" if inner else ""
        if key in self.file_keys:
            return f"{self.file}: {self.file_keys[key]}{suffix}"
        return key.removeprefix("parameters.") + suffix

    def origin(self, key: str) -> str:
        """``from --start``, ``from F.yaml, period.end``, or ``the default``."""
        if key in self.flags:
            return f"from {self.flags[key]}"
        if key in self.file_keys:
            return f"from {self.file}, {self.file_keys[key]}"
        return "the default"


def validate_config(values: dict[str, Any], sources: ConfigSources) -> BacktestConfig:
    """The run configuration from merged values; an error names where the values came from."""
    start, end = values.get("start", DEFAULT_START), values.get("end", DEFAULT_END)
    if isinstance(start, date) and isinstance(end, date) and end <= start:
        fixes = [f"--{name}" for name in ("start", "end") if name not in sources.flags]
        if sources.file is not None:
            fixes.append(f"the period in {sources.file}")
        raise UserInputError(
            f"The end date {end} ({sources.origin('end')}) must be after the start date "
            f"{start} ({sources.origin('start')}).",
            hint=f"Change {' or '.join(fixes) or 'one of them'} so the period runs forwards.",
        )
    try:
        return BacktestConfig.model_validate(values)
    except ValidationError as exc:
        raise UserInputError(
            f"Invalid backtest settings: {_clauses(exc, sources, prefix='')}.",
            hint="Run `ntrader backtest run --help` for the allowed values.",
        ) from exc


def explain_parameter_error(exc: UserInputError, sources: ConfigSources) -> UserInputError:
    """A strategy-parameter refusal restated with where each parameter came from (the
    strategy registry's message names the parameter, not the flag or file key)."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError):
        return exc
    head, colon, _ = exc.message.partition(": ")
    lead = head if colon and head.startswith("Invalid parameters") else "Invalid parameters"
    return UserInputError(f"{lead}: {_clauses(cause, sources, prefix='parameters.')}.", exc.hint)


def _clauses(exc: ValidationError, sources: ConfigSources, *, prefix: str) -> str:
    """One clause per problem, each led by the flag or file key of the value at fault; a
    problem between several values says where each of them came from."""
    clauses = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown parameter" if prefix else "unknown setting"
        if error["loc"]:
            first, *inner = (str(part) for part in error["loc"])
            clauses.append(f"{sources.label(prefix + first, '.'.join(inner))}: {message}")
            continue
        mentioned: dict[str, int] = {}  # key -> where the message first names it
        for key in (*sources.flags, *sources.file_keys):
            found = re.search(rf"\b{re.escape(key.removeprefix(prefix))}\b", message)
            if key.startswith(prefix) and found:
                mentioned[key] = found.start()
        origins = "; ".join(
            f"{key.removeprefix(prefix)} {sources.origin(key)}"
            for key in sorted(mentioned, key=mentioned.__getitem__)
        )
        clauses.append(f"{message} ({origins})" if origins else message)
    return "; ".join(clauses)


def check_output_directory(directory: Path, source: Path) -> None:
    """Refuse an ``output.directory`` the result files could not be written to, before the
    run starts. Nothing is left behind: the probe directory is removed again."""
    where = f"{source}: output.directory {directory}"
    try:
        # The nearest part of the path that exists (a dangling link counts: it blocks mkdir).
        existing = directory
        while not (existing.exists() or existing.is_symlink()) and existing.parent != existing:
            existing = existing.parent
        if not existing.is_dir():
            what = "is" if existing == directory else f"cannot be created: {existing} is"
            raise UserInputError(
                f"{where} {what} not a directory.",
                hint="Point output.directory at a directory (it is created if missing).",
            )
        os.rmdir(tempfile.mkdtemp(prefix=".ntrader-probe-", dir=existing))
    except OSError as exc:
        raise UserInputError(
            f"{where} is not writable ({exc.strerror or exc}).",
            hint="Choose a directory you can write to, or fix its permissions.",
        ) from exc
