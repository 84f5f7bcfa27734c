"""``ntrader config``: the settings, where each comes from, and the config file."""

from __future__ import annotations

from pathlib import Path

import click

from ntrader.cli.context import app_context, common_options


@click.group()
def config() -> None:
    """Settings: defaults < config file < .env < NTRADER_* environment < command-line flags.

    The config file is $XDG_CONFIG_HOME/ntrader/config.toml (~/.config/ntrader/config.toml).

    \b
    Examples:
      ntrader config init
      ntrader config set log_format json
      ntrader config show
      ntrader config validate
    """


@config.command("init")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
@common_options
def init(force: bool) -> None:
    """Write a config file describing every setting, each commented out.

    \b
    Examples:
      ntrader config init
      ntrader config init --force
    """
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.config_service import init_config

    path = init_config(force=force)
    if app_context().json_output:
        print_json({"config_file": str(path)})
    else:
        print_success(f"Wrote {path}; uncomment or `ntrader config set` what you need.")


@config.command("show")
@common_options
def show() -> None:
    """Every setting's value and where it comes from (secrets masked).

    \b
    Examples:
      ntrader config show
      ntrader config show --json
      ntrader config show --log-format json
    """
    from rich.table import Table

    from ntrader.cli.output import print_json, stdout, styled
    from ntrader.services.config_service import describe
    from ntrader.utils.settings import config_file_path

    views = describe(app_context().flag_overrides())
    if app_context().json_output:
        print_json(
            {
                "config_file": str(config_file_path()),
                "settings": {
                    view.name: {"value": view.value, "source": view.source.value} for view in views
                },
            }
        )
        return
    table = Table(title=f"Settings (config file: {config_file_path()})", title_justify="left")
    table.add_column("Setting", style="bold", overflow="fold")
    table.add_column("Value", overflow="fold")
    table.add_column("Source", no_wrap=True)
    table.add_column("Environment variable", style="dim", overflow="fold")
    for view in views:
        shown = "(not set)" if view.value is None else str(view.value)
        table.add_row(styled(view.name), styled(shown), view.source.value, view.env_var)
    stdout().print(table)


@config.command("set")
@click.argument("key")
@click.argument("value")
@common_options
def set_(key: str, value: str) -> None:
    """Validate VALUE for setting KEY and write it to the config file.

    \b
    Examples:
      ntrader config set log_format json
      ntrader config set database_url postgresql+psycopg://ntrader@db/ntrader
      ntrader config set redis_url redis://127.0.0.1:6379/0
    """
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.config_service import set_value

    path, view = set_value(key, value)
    if app_context().json_output:
        print_json({"config_file": str(path), "setting": view.name, "value": view.value})
    else:
        print_success(f"{view.name} = {view.value} in {path}")


@config.command("validate")
@common_options
def validate() -> None:
    """Check the settings from every source; exit 1 naming each bad setting and why.

    \b
    Examples:
      ntrader config validate
      ntrader config validate --json
    """
    from ntrader.cli.output import print_error, print_json, print_success
    from ntrader.services.config_service import validate as find_problems

    problems = find_problems(app_context().flag_overrides())
    if app_context().json_output:
        print_json(
            {
                "valid": not problems,
                "problems": [{"setting": p.setting, "reason": p.reason} for p in problems],
            }
        )
    elif not problems:
        print_success("The settings are valid.")
    for problem in problems:
        print_error(f"{problem.setting}: {problem.reason}.")
    if problems:
        click.get_current_context().exit(1)


@config.command("export")
@click.option(
    "--output",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML file to write.",
)
@click.option("--include-secrets", is_flag=True, help="Write passwords and tokens unmasked.")
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@common_options
def export(output: Path, include_secrets: bool, force: bool) -> None:
    """Write the effective settings (every source merged) as a config file.

    \b
    Examples:
      ntrader config export --output ntrader.toml
      ntrader config export --output prod.toml --include-secrets --force
    """
    from ntrader.cli.output import print_json, print_success
    from ntrader.services.config_service import export_config

    written = export_config(
        app_context().flag_overrides(), output, include_secrets=include_secrets, force=force
    )
    if app_context().json_output:
        print_json({"output": str(written), "secrets_masked": not include_secrets})
    else:
        masked = "" if include_secrets else " (secrets masked)"
        print_success(f"Wrote the settings to {written}{masked}.")
