"""Named strategies kept in the database: create, edit, validate, export, archive.

Life cycle: draft -> active -> archived. Only active strategies can be
backtested; archived ones are read-only. A successful ``validate`` activates a draft.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.exc import IntegrityError

from ntrader.core import strategy_registry
from ntrader.core.errors import ConflictError, NotFoundError, UserInputError
from ntrader.db.database import Database, Repositories
from ntrader.models.backtest import BacktestConfig
from ntrader.models.enums import StrategyStatus, Timeframe
from ntrader.models.strategy import StrategyRecord
from ntrader.services.backtest_service import BacktestService

VALIDATION_DAYS = 365


@dataclass(frozen=True, slots=True)
class ValidationReport:
    strategy: StrategyRecord
    instrument: str
    start: date
    end: date
    orders: int
    run_id: str

    @property
    def produced_signal(self) -> bool:
        return self.orders > 0


@dataclass(frozen=True, slots=True)
class StrategyFile:
    """A ``--params-file``: parameters, and the name, type and description an exported
    strategy file (or a backtest config's ``strategy`` block) also carries."""

    path: Path
    parameters: dict[str, Any]
    name: str | None = None
    strategy_type: str | None = None
    description: str | None = None

    def type_for(self, flag: str | None) -> str | None:
        """The strategy type: ``--type`` when given (it must be the file's type, if the file
        has one: its parameters belong to that type), else the file's."""
        if flag is None or self.strategy_type is None:
            return flag or self.strategy_type
        if (
            strategy_registry.resolve(flag).name
            != strategy_registry.resolve(self.strategy_type).name
        ):
            raise UserInputError(
                f"--type {flag} contradicts {self.path}: strategy.type {self.strategy_type}; "
                "the file's parameters belong to its own type.",
                hint="Leave out --type to use the file's type, or use a file of that type.",
            )
        return flag


_STRATEGY_KEYS = {"name": "name", "type": "strategy_type", "description": "description"}


def read_strategy_file(path: Path) -> StrategyFile:
    """A plain mapping of parameters, or a document with a ``strategy`` block (name, type,
    parameters, description); every error names the file and the key."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserInputError(f"{path}: file not found.") from exc
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot be read ({exc}).") from exc
    except yaml.YAMLError as exc:
        raise UserInputError(f"{path}: not valid YAML ({exc}).") from exc
    if not isinstance(loaded, dict):
        raise UserInputError(
            f"{path}: expected a mapping of parameter names to values, or a strategy block.",
            hint="Write one with `ntrader strategy export NAME --output FILE`.",
        )
    block = loaded.get("strategy")
    if not isinstance(block, dict):
        return StrategyFile(path, loaded)
    fields: dict[str, Any] = {}
    for key, value in block.items():
        if key == "parameters":
            if value is not None and not isinstance(value, dict):
                raise UserInputError(f"{path}: strategy.parameters: expected a mapping.")
            fields["parameters"] = value or {}
        elif key in _STRATEGY_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise UserInputError(f"{path}: strategy.{key}: expected a non-empty text.")
            fields[_STRATEGY_KEYS[key]] = value.strip()
        else:
            raise UserInputError(
                f"{path}: strategy.{key}: unknown key.",
                hint="A strategy block has name, type, parameters and description.",
            )
    return StrategyFile(path, **{"parameters": {}, **fields})


class StrategyService:
    def __init__(self, database: Database) -> None:
        self._database = database

    def create(
        self,
        name: str,
        strategy_type: str,
        parameters: dict[str, Any],
        description: str | None = None,
    ) -> StrategyRecord:
        kind = strategy_registry.resolve(strategy_type)
        validated = kind.validate(parameters).model_dump()
        name = name.strip()
        if not 1 <= len(name) <= 100:
            raise UserInputError("A strategy name must be 1 to 100 characters.")
        try:
            with self._database.transaction() as repos:
                if repos.strategies.get(name):
                    raise _name_taken(name)
                return repos.strategies.add(name, kind.name, validated, description)
        except IntegrityError as exc:  # a concurrent create of the same name
            raise _name_taken(name) from exc

    def get(self, name: str) -> StrategyRecord:
        with self._database.transaction() as repos:
            return self._require(repos, name)

    def list(
        self,
        *,
        strategy_type: str | None = None,
        active_only: bool = False,
        status: StrategyStatus | None = None,
    ) -> list[StrategyRecord]:
        kind = strategy_registry.resolve(strategy_type).name if strategy_type else None
        status = StrategyStatus.ACTIVE if active_only else status
        with self._database.transaction() as repos:
            return repos.strategies.list(strategy_type=kind, status=status)

    def count(self) -> int:
        """How many strategies are stored, whatever their type and status."""
        with self._database.transaction() as repos:
            return len(repos.strategies.list())

    def edit(self, name: str, changes: dict[str, Any]) -> StrategyRecord:
        with self._database.transaction() as repos:
            record = self._require_writable(repos, name)
            kind = strategy_registry.resolve(record.strategy_type)
            merged = kind.validate({**record.parameters, **changes}).model_dump()
            return repos.strategies.update(record, parameters=merged)

    def activate(self, name: str) -> StrategyRecord:
        with self._database.transaction() as repos:
            record = self._require_writable(repos, name)
            return repos.strategies.update(record, status=StrategyStatus.ACTIVE)

    def archive(self, name: str) -> StrategyRecord:
        with self._database.transaction() as repos:
            record = self._require(repos, name)
            if record.status is StrategyStatus.ARCHIVED:
                return record
            return repos.strategies.update(record, status=StrategyStatus.ARCHIVED)

    def export(self, name: str, output: Path) -> StrategyRecord:
        record = self.get(name)
        document = {
            "strategy": {
                "name": record.name,
                "type": record.strategy_type,
                "parameters": record.parameters,
            }
        }
        if record.description:
            document["strategy"]["description"] = record.description
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return record

    def validate(self, name: str, instrument: str, timeframe: Timeframe) -> ValidationReport:
        """A short run on the last year of stored data; a draft that trades becomes active."""
        from ntrader.services.data_service import DataService
        from ntrader.utils.timeutil import ns_to_datetime

        record = self.get(name)
        if record.status is StrategyStatus.ARCHIVED:
            raise _read_only(record)
        coverage = DataService(self._database).coverage(instrument, timeframe)
        if not coverage:
            raise NotFoundError(
                f"No {timeframe.value} bars of {instrument} are stored to validate on.",
                hint="Import some with `ntrader data import`.",
            )
        end = ns_to_datetime(coverage[0].last_ts).date()
        start = max(
            ns_to_datetime(coverage[0].first_ts).date(), end - timedelta(days=VALIDATION_DAYS)
        )
        config = BacktestConfig(
            strategy_type=record.strategy_type,
            strategy_name=record.name,
            parameters=record.parameters,
            instruments=(coverage[0].instrument_id,),
            start=start,
            end=end,
            timeframe=timeframe,
            benchmark=coverage[0].instrument_id,
        )
        outcome = BacktestService(self._database).run(config, strategy_id=record.id)
        orders = sum(1 + (0 if t.is_open else 1) for t in outcome.result.trades)
        if orders and record.status is StrategyStatus.DRAFT:
            record = self.activate(record.name)
        return ValidationReport(
            record, coverage[0].instrument_id, start, end, orders, outcome.run.id
        )

    @staticmethod
    def _require(repos: Repositories, name: str) -> StrategyRecord:
        record = repos.strategies.get(name)
        if record is None:
            known = [s.name for s in repos.strategies.list()]
            listing = f" Stored strategies: {', '.join(known)}." if known else ""
            raise NotFoundError(
                f"No strategy named {name!r}.{listing}",
                hint="Create one with `ntrader strategy create --name NAME --type sma_crossover`.",
            )
        return record

    def _require_writable(self, repos: Repositories, name: str) -> StrategyRecord:
        record = self._require(repos, name)
        if record.status is StrategyStatus.ARCHIVED:
            raise _read_only(record)
        return record


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"A strategy named {name!r} already exists.",
        hint="Pick another name with --name, or change that one with `ntrader strategy edit`.",
    )


def _read_only(record: StrategyRecord) -> ConflictError:
    return ConflictError(
        f"Strategy {record.name!r} is archived and read-only.",
        hint="Export it and create a new strategy from the file.",
    )
