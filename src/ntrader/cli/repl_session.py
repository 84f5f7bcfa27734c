"""What an ``ntrader interactive`` session holds, and how its lines parse: no services, no I/O.

A session collects a backtest's settings (``load strategy``, ``set ...``) and turns them into
the ``backtest run`` command line a user would type, so a run from the prompt goes through
exactly the code a run from the shell does.
"""

from __future__ import annotations

import shlex
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from ntrader.core.errors import UserInputError

# ``set KEY VALUE`` keys that are `backtest run` options (KEY is the flag without its dashes).
RUN_OPTIONS = (
    "timeframe",
    "capital",
    "position-size",
    "sizing",
    "max-position-pct",
    "allocation",
    "fill-at",
    "stop-loss",
    "take-profit",
    "trailing-stop",
    "commission",
    "slippage-bps",
    "benchmark",
    "risk-free-rate",
)
SHOWABLE = ("results", "trades", "settings")
REPORT_FORMATS = ("html", "csv", "json")
# The session's own commands; every other line is an ntrader command line.
SESSION_COMMANDS = ("load", "set", "run", "show", "save", "help", "exit", "quit")

HELP = """\
Session commands:
  load strategy NAME          a strategy type (sma_crossover, ...) or a stored strategy
  set instruments A,B         the instruments to trade
  set period START END        the backtest's dates, YYYY-MM-DD
  set KEY VALUE               a strategy parameter (fast_period 10) or a run option
                              (capital 50000, timeframe 1MIN, commission ibkr, ...)
  run backtest                run it with the session's settings
  show results|trades|settings
  save report html|csv|json [PATH]
  help, exit (or Ctrl-D)
Any ntrader command works too, without the leading `ntrader`: data list, backtest list, ...
Tab completes commands, strategies, parameters and stored instruments. Ctrl-C stops a
running backtest (it is stored as INTERRUPTED) and keeps the session."""


@dataclass(frozen=True, slots=True)
class LoadStrategy:
    name: str


@dataclass(frozen=True, slots=True)
class SetInstruments:
    instruments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetPeriod:
    start: date
    end: date


@dataclass(frozen=True, slots=True)
class SetValue:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RunBacktest:
    pass


@dataclass(frozen=True, slots=True)
class Show:
    what: str


@dataclass(frozen=True, slots=True)
class SaveReport:
    format: str
    output: str | None


@dataclass(frozen=True, slots=True)
class Help:
    pass


@dataclass(frozen=True, slots=True)
class Exit:
    pass


@dataclass(frozen=True, slots=True)
class NtraderCommand:
    """Any other line: an ntrader command line, run as if typed after ``ntrader``."""

    argv: tuple[str, ...]


Command = (
    LoadStrategy
    | SetInstruments
    | SetPeriod
    | SetValue
    | RunBacktest
    | Show
    | SaveReport
    | Help
    | Exit
    | NtraderCommand
)


def _usage(text: str) -> UserInputError:
    return UserInputError(f"Usage: {text}.", hint="Type `help` for the session's commands.")


def _date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise UserInputError(
            f"{text!r} is not a date like 2020-01-31.", hint="Dates are YYYY-MM-DD."
        ) from None


def split_instruments(words: list[str]) -> tuple[str, ...]:
    """``A,B`` or ``A B`` (or both), upper-cased, each once, in the order given."""
    names = [part.strip().upper() for word in words for part in word.split(",")]
    return tuple(dict.fromkeys(name for name in names if name))


def parse_line(line: str) -> Command | None:
    """The command a line asks for; None for a blank line. Refusals are UserInputError."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UserInputError(
            f"Cannot read that line: {exc}.", hint="Close the quote, or escape it with \\."
        ) from None
    if not words:
        return None
    head, rest = words[0].lower(), words[1:]
    if head == "ntrader":
        return NtraderCommand(tuple(rest))
    if head not in SESSION_COMMANDS:
        return NtraderCommand(tuple(words))
    if head in ("exit", "quit", "help"):
        if rest:
            raise _usage(head)
        return Help() if head == "help" else Exit()
    if head == "load":
        if len(rest) != 2 or rest[0].lower() != "strategy":
            raise _usage("load strategy NAME")
        return LoadStrategy(rest[1])
    if head == "run":
        if [word.lower() for word in rest] != ["backtest"]:
            raise _usage("run backtest")
        return RunBacktest()
    if head == "show":
        if len(rest) != 1 or rest[0].lower() not in SHOWABLE:
            raise _usage(f"show {'|'.join(SHOWABLE)}")
        return Show(rest[0].lower())
    if head == "save":
        if len(rest) not in (2, 3) or rest[0].lower() != "report":
            raise _usage(f"save report {'|'.join(REPORT_FORMATS)} [PATH]")
        if rest[1].lower() not in REPORT_FORMATS:
            raise _usage(f"save report {'|'.join(REPORT_FORMATS)} [PATH]")
        return SaveReport(rest[1].lower(), rest[2] if len(rest) == 3 else None)
    return _parse_set(rest)


def _parse_set(rest: list[str]) -> Command:
    if not rest:
        raise _usage("set instruments A,B | set period START END | set KEY VALUE")
    key = rest[0].lower()
    if key == "instruments":
        instruments = split_instruments(rest[1:])
        if not instruments:
            raise _usage("set instruments A,B")
        return SetInstruments(instruments)
    if key == "period":
        if len(rest) != 3:
            raise _usage("set period START END")
        start, end = _date(rest[1]), _date(rest[2])
        if end <= start:
            raise UserInputError(
                f"The end date {end} must be after the start date {start}.",
                hint="Give the earlier date first.",
            )
        return SetPeriod(start, end)
    if len(rest) != 2:
        raise _usage("set KEY VALUE (quote a value with spaces)")
    return SetValue(rest[0], rest[1])


@dataclass(frozen=True, slots=True)
class Session:
    """The settings collected so far, and the last backtest run in the session."""

    strategy: str | None = None
    instruments: tuple[str, ...] = ()
    period: tuple[date, date] | None = None
    options: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    last_run_id: str | None = None

    def load_strategy(self, name: str) -> Session:
        """Another strategy: the parameters set for the previous one no longer apply."""
        return replace(self, strategy=name, parameters={})

    def set_value(self, key: str, value: str, parameter_names: Collection[str]) -> Session:
        """``key`` is a run option or one of ``parameter_names`` (the loaded strategy's)."""
        option = key.lower().replace("_", "-")
        if option in RUN_OPTIONS:
            return replace(self, options={**self.options, option: value})
        parameter = key.lower().replace("-", "_")
        if parameter in parameter_names:
            if "," in value:
                raise UserInputError(
                    f"A parameter value cannot contain a comma ({parameter} {value!r}).",
                    hint="Give one value.",
                )
            return replace(self, parameters={**self.parameters, parameter: value})
        known = ", ".join(parameter_names) if parameter_names else "none (load a strategy first)"
        raise UserInputError(
            f"Unknown setting {key!r}.",
            hint=f"Run options: {', '.join(RUN_OPTIONS)}. Strategy parameters: {known}.",
        )

    def run_argv(self) -> tuple[str, ...]:
        """The ``backtest run`` command line of these settings."""
        if self.strategy is None:
            raise UserInputError(
                "No strategy loaded.", hint="Load one with `load strategy sma_crossover`."
            )
        if not self.instruments:
            raise UserInputError(
                "No instruments set.", hint="Set them with `set instruments AAPL,SPY`."
            )
        argv = ["backtest", "run", "--strategy", self.strategy]
        argv += ["--instruments", ",".join(self.instruments)]
        if self.period is not None:
            argv += ["--start", self.period[0].isoformat(), "--end", self.period[1].isoformat()]
        for option, value in self.options.items():
            argv += [f"--{option}", value]
        for name, value in self.parameters.items():
            argv += ["--param", f"{name}={value}"]
        return tuple(argv)

    def require_run(self) -> str:
        if self.last_run_id is None:
            raise UserInputError(
                "No backtest has run in this session yet.", hint="Run one with `run backtest`."
            )
        return self.last_run_id

    def describe(self) -> list[tuple[str, str]]:
        """(setting, value) rows for ``show settings``."""
        period = f"{self.period[0]} to {self.period[1]}" if self.period else "the default period"
        return [
            ("strategy", self.strategy or "(none)"),
            ("instruments", ",".join(self.instruments) or "(none)"),
            ("period", period),
            *((f"--{key}", value) for key, value in self.options.items()),
            *((f"parameter {key}", value) for key, value in self.parameters.items()),
            ("last backtest", self.last_run_id or "(none)"),
        ]
