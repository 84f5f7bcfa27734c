"""Tab completion for ``ntrader interactive``: session commands, ntrader commands and their
options, strategies, parameters, option values and stored instruments."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import click
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from ntrader.cli.context import AppContext
from ntrader.cli.repl_session import (
    REPORT_FORMATS,
    RUN_OPTIONS,
    SESSION_COMMANDS,
    SHOWABLE,
    Session,
)
from ntrader.core.errors import NotFoundError, NtraderError, UserInputError
from ntrader.models.enums import Allocation, FillAt, SizingMode, Timeframe

_OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "timeframe": tuple(t.value for t in Timeframe),
    "sizing": tuple(m.value for m in SizingMode),
    "allocation": tuple(a.value for a in Allocation),
    "fill-at": tuple(f.value for f in FillAt),
    "commission": ("ibkr", "per_share:0.005", "percentage:0.1"),
}


class Catalog:
    """What completion offers from the store: strategies, instruments, parameters. Read on
    first use and after every command (which may have changed them)."""

    def __init__(self, app: AppContext) -> None:
        self._app = app
        self._strategies: list[str] | None = None
        self._instruments: list[str] | None = None

    def forget(self) -> None:
        self._strategies = self._instruments = None

    def strategy_names(self) -> list[str]:
        if self._strategies is None:
            from ntrader.core import strategy_registry
            from ntrader.services.strategy_service import StrategyService

            stored = [r.name for r in _quietly(lambda: StrategyService(self._db()).list(), [])]
            self._strategies = [*strategy_registry.known_names(), *stored]
        return self._strategies

    def instruments(self) -> list[str]:
        if self._instruments is None:
            from ntrader.services.data_service import DataService

            rows = _quietly(lambda: DataService(self._db()).coverage(), [])
            self._instruments = sorted({row.instrument_id for row in rows})
        return self._instruments

    def parameter_names(self, strategy: str | None) -> list[str]:
        """The parameters of ``strategy`` (a type, or a stored strategy's type)."""
        from ntrader.core import strategy_registry

        if strategy is None:
            return []
        try:
            kind = strategy_registry.resolve(strategy)
        except UserInputError:
            from ntrader.services.strategy_service import StrategyService

            try:
                record = StrategyService(self._db()).get(strategy)
            except NotFoundError:
                raise UserInputError(
                    f"Unknown strategy {strategy!r}: neither a strategy type nor a stored "
                    "strategy.",
                    hint="`strategy types` lists the types, `strategy list` the stored ones.",
                ) from None
            kind = strategy_registry.resolve(record.strategy_type)
        return [spec.name for spec in kind.parameter_specs()]

    def _db(self) -> Any:
        return self._app.database


def _quietly[T](read: Callable[[], T], fallback: T) -> T:
    """Completion never fails a keystroke: an unreachable store just offers nothing."""
    try:
        return read()
    except NtraderError:
        return fallback


def _command_words() -> list[str]:
    from ntrader.cli.main import cli

    ctx = click.Context(cli, info_name="ntrader")
    return [*SESSION_COMMANDS, *cli.list_commands(ctx)]


def _click_candidates(before: Sequence[str], current: str) -> list[str]:
    """Subcommands of the group typed so far, or the options of the command typed."""
    from ntrader.cli.main import cli

    command: click.Command = cli
    ctx = click.Context(cli, info_name="ntrader")
    for word in before:
        if word.startswith("-") or not isinstance(command, click.Group):
            continue
        sub = command.get_command(ctx, word)
        if sub is None:
            return []
        command, ctx = sub, click.Context(sub, parent=ctx, info_name=word)
    if isinstance(command, click.Group) and not current.startswith("-"):
        return command.list_commands(ctx)
    return [opt for p in command.params if isinstance(p, click.Option) for opt in p.opts]


class SessionCompleter(Completer):
    """Tab completion of session commands, ntrader commands and their options, strategies,
    parameters, option values and stored instruments."""

    def __init__(self, catalog: Catalog, session: Callable[[], Session]) -> None:
        self._catalog = catalog
        self._session = session

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterator[Completion]:
        text = document.text_before_cursor
        words = text.split()
        if not words or text[-1].isspace():
            words.append("")
        before, current = [w.lower() for w in words[:-1]], words[-1]
        if before == ["set", "instruments"]:
            current = current.rsplit(",", 1)[-1]  # the name after the last comma
        for candidate in dict.fromkeys(self._candidates(before, current)):
            if candidate.lower().startswith(current.lower()):
                yield Completion(candidate, start_position=-len(current))

    def _candidates(self, before: list[str], current: str) -> Iterable[str]:
        if not before:
            return _command_words()
        head = before[0]
        if head not in SESSION_COMMANDS:
            return _click_candidates(before[1:] if head == "ntrader" else before, current)
        match before:
            case ["load"]:
                return ["strategy"]
            case ["load", "strategy"]:
                return self._catalog.strategy_names()
            case ["set"]:
                names = _quietly(
                    lambda: self._catalog.parameter_names(self._session().strategy), []
                )
                return ["instruments", "period", *RUN_OPTIONS, *names]
            case ["set", "instruments"]:
                return self._catalog.instruments()
            case ["set", option] if option in _OPTION_VALUES:
                return _OPTION_VALUES[option]
            case ["run"]:
                return ["backtest"]
            case ["show"]:
                return SHOWABLE
            case ["save"]:
                return ["report"]
            case ["save", "report"]:
                return REPORT_FORMATS
        return []
