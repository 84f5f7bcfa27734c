"""Reading backtest configuration files: safe YAML, pydantic validation, clear errors."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from ntrader.core.errors import UserInputError
from ntrader.models.config_file import BacktestFile
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
