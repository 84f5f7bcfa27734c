"""Error types that map to the CLI's exit codes.

Services raise these; the CLI turns them into one clear sentence and an exit code.
"""

from __future__ import annotations

from typing import Any


class NtraderError(Exception):
    """Base class: a problem the user can act on, shown without a traceback."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def details(self) -> dict[str, Any]:
        """What a script needs beyond the sentence, as JSON-ready fields (the CLI's --json
        error object and the API's problem carry them); none by default."""
        return {}


class UserInputError(NtraderError):
    """Bad input or something not found: exit code 1."""

    exit_code = 1


class NotFoundError(UserInputError):
    """A named thing (instrument, run, strategy) does not exist."""


class ConflictError(UserInputError):
    """The request is valid but clashes with what is stored (an archived strategy, a taken
    name, a RUNNING run, bars that differ from the stored ones): exit code 1."""


class DataValidationError(UserInputError):
    """A data file breaks a rule; nothing was written."""

    def __init__(
        self,
        message: str,
        hint: str | None = None,
        violations: list[tuple[str, list[int], int]] | None = None,
    ) -> None:
        super().__init__(message, hint)
        # Each broken rule with the first lines that break it and how many rows do.
        self.violations = violations or []

    def details(self) -> dict[str, Any]:
        if not self.violations:
            return {}
        return {
            "errors": [
                {"rule": rule, "lines": lines, "rows": rows}
                for rule, lines, rows in self.violations
            ]
        }


class ServiceUnavailableError(NtraderError):
    """A service the command needs (database, Redis, IB Gateway) is unreachable: exit code 3."""

    exit_code = 3
