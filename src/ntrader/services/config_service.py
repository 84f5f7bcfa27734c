"""The settings as the user manages them: where each value comes from, the config file
(init, set, export) and validation. One model, ``ntrader.utils.settings.Settings``, decides
what is valid; this module never keeps a second list of fields or rules."""

from __future__ import annotations

import tempfile
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)

from ntrader.core.errors import UserInputError
from ntrader.utils.logging import MASK, redact_text
from ntrader.utils.settings import Settings, config_file_path

ENV_PREFIX = "NTRADER_"
# Whole values hidden, whatever they look like; URLs elsewhere lose their password only.
_SECRET_FIELD_WORDS = ("password", "token", "secret", "api_key")


class Source(StrEnum):
    """Where a value came from, lowest precedence first."""

    DEFAULT = "default"
    CONFIG_FILE = "config file"
    DOTENV = ".env"
    ENVIRONMENT = "environment"
    FLAG = "flag"


class _ValuesOnly(Settings):
    """The settings model fed only the values given: a config file's values are checked
    alone, so that the environment cannot hide a mistake in them."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclass(frozen=True, slots=True)
class SettingView:
    name: str
    env_var: str
    value: Any
    """Secrets masked; paths as text."""
    source: Source
    description: str


@dataclass(frozen=True, slots=True)
class Problem:
    setting: str
    reason: str


def _field_names() -> list[str]:
    return list(Settings.model_fields)


def _is_secret(name: str) -> bool:
    return any(word in name for word in _SECRET_FIELD_WORDS)


def shown_value(name: str, value: Any) -> Any:
    """``value`` fit to print: secrets masked, URLs without their password, paths as text."""
    if value is None:
        return None
    if _is_secret(name):
        return MASK
    if isinstance(value, Path):
        return str(value)
    return redact_text(value) if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    """``value`` as TOML can hold it: paths as text, secret strings unwrapped."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value) if isinstance(value, Path) else value


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UserInputError(
            f"The config file {path} is not valid TOML: {exc}.",
            hint="Fix the file, or move it away and run `ntrader config init`.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(
            f"Cannot read the config file {path}: {exc}.", hint="Check its permissions."
        ) from None


def _sources(flags: dict[str, Any]) -> list[tuple[Source, set[str]]]:
    """Which fields each source sets, highest precedence first."""
    path = config_file_path()
    _read_config_file(path)  # a broken file is reported before pydantic's own reader sees it
    return [
        (Source.FLAG, set(flags)),
        (Source.ENVIRONMENT, set(EnvSettingsSource(Settings)())),
        (Source.DOTENV, set(DotEnvSettingsSource(Settings)())),
        (Source.CONFIG_FILE, set(TomlConfigSettingsSource(Settings, toml_file=path)())),
    ]


def describe(flags: dict[str, Any]) -> list[SettingView]:
    """Every setting's effective value (secrets masked) and where it came from."""
    settings = _load(flags)
    sources = _sources(flags)
    views = []
    for name, info in Settings.model_fields.items():
        origin = next((source for source, names in sources if name in names), Source.DEFAULT)
        views.append(
            SettingView(
                name=name,
                env_var=ENV_PREFIX + name.upper(),
                value=shown_value(name, getattr(settings, name)),
                source=origin,
                description=info.description or "",
            )
        )
    return views


def _first_problem(exc: ValidationError) -> Problem:
    error = exc.errors()[0]
    name = ".".join(str(part) for part in error["loc"]) or "settings"
    # The reason, never the value: it may hold a password.
    return Problem(name, str(error["msg"]))


def _load(flags: dict[str, Any]) -> Settings:
    try:
        return Settings(**flags)
    except ValidationError as exc:
        problem = _first_problem(exc)
        raise UserInputError(
            f"The setting {problem.setting} is not valid: {problem.reason}.",
            hint="Run `ntrader config validate` to see where it is set.",
        ) from None


def validate(flags: dict[str, Any]) -> list[Problem]:
    """Every problem with the effective settings (all sources merged); empty when valid."""
    try:
        _read_config_file(config_file_path())
    except UserInputError as exc:
        return [Problem(str(config_file_path()), exc.message)]
    try:
        Settings(**flags)
    except ValidationError as exc:
        return [
            Problem(".".join(str(p) for p in error["loc"]) or "settings", str(error["msg"]))
            for error in exc.errors()
        ]
    return []


def _write_atomically(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False, encoding="utf-8"
    ) as handle:
        temporary = Path(handle.name)
        try:
            handle.write(content)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    try:
        temporary.chmod(0o600)  # it may hold a database password
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _template() -> str:
    lines = [
        "# ntrader settings. Precedence: these < .env < NTRADER_* environment < flags.",
        "# Uncomment a line to set it; `ntrader config show` says where each value comes from.",
        "",
    ]
    defaults = Settings.model_construct()
    for name, info in Settings.model_fields.items():
        default = getattr(defaults, name)
        lines.append(f"# {info.description}" if info.description else f"# {name}")
        if default is None:
            lines.append(f'# {name} = ""')
        else:
            shown = str(default) if isinstance(default, Path) else default
            lines.append(f"# {tomlkit.dumps({name: shown}).strip()}")
        lines.append("")
    return "\n".join(lines)


def init_config(*, force: bool = False) -> Path:
    """Write a config file with every setting described and commented out."""
    path = config_file_path()
    if path.exists() and not force:
        raise UserInputError(
            f"The config file {path} exists already.",
            hint="Use `ntrader config set KEY VALUE` to change it, or --force to start afresh.",
        )
    _write_atomically(path, _template())
    return path


def _check_key(key: str) -> str:
    name = key.strip().lower().removeprefix(ENV_PREFIX.lower())
    if name not in Settings.model_fields:
        raise UserInputError(
            f"There is no setting {key!r}.",
            hint="Known settings: " + ", ".join(_field_names()) + ".",
        )
    return name


def _check_text(name: str, value: str) -> None:
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise UserInputError(
            f"The value for {name} contains a control character (a newline, a tab, NUL…).",
            hint="Settings are one line of printable text.",
        )


def set_value(key: str, value: str) -> tuple[Path, SettingView]:
    """Validate ``value`` for ``key`` with the settings model, then write it into the config
    file (other lines kept; the file is rewritten atomically). Nothing is written when it is
    not valid."""
    name = _check_key(key)
    _check_text(name, value)
    path = config_file_path()
    data = _read_config_file(path)  # refuses a broken file before anything else
    candidate = {**data, name: value}
    try:
        checked = _ValuesOnly(**candidate)
    except ValidationError as exc:
        problem = _first_problem(exc)
        raise UserInputError(
            f"The setting {problem.setting} is not valid: {problem.reason}.",
            hint="Nothing was written.",
        ) from None
    typed = getattr(checked, name)
    # tomlkit keeps the file's comments and layout; only this one value changes.
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    document[name] = _plain(typed)
    _write_atomically(path, tomlkit.dumps(document))
    view = SettingView(
        name=name,
        env_var=ENV_PREFIX + name.upper(),
        value=shown_value(name, typed),
        source=Source.CONFIG_FILE,
        description=Settings.model_fields[name].description or "",
    )
    return path, view


def export_config(
    flags: dict[str, Any], output: Path, *, include_secrets: bool = False, force: bool = False
) -> Path:
    """The effective settings (every source merged) as a TOML config file; secrets masked
    unless ``include_secrets``."""
    if output.exists() and not force:
        raise UserInputError(f"{output} exists already.", hint="Use --force to overwrite it.")
    if output.is_dir():
        raise UserInputError(f"{output} is a directory.", hint="Give a file name.")
    settings = _load(flags)
    data = {}
    for name in _field_names():
        value = getattr(settings, name)
        if value is None:
            continue  # TOML has no null: an absent key means the default
        data[name] = _plain(value) if include_secrets else shown_value(name, value)
    try:
        _write_atomically(output, tomlkit.dumps(data))
    except OSError as exc:
        raise UserInputError(
            f"Cannot write {output}: {exc.strerror}.", hint="Check the directory."
        ) from None
    return output
