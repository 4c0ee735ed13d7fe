"""Library errors name a setting as the library knows it; the CLI adds its own flag."""

from __future__ import annotations

from typing import Annotated

import typer
from typer.testing import CliRunner

from gcdedup.cli.common import handle_errors
from gcdedup.errors import StoreError

MESSAGE = "DynamoDB throttled claim on table T: lower the store's concurrency (concurrency=N)"


def app_raising(setting: str | None, with_flag: bool) -> typer.Typer:
    app = typer.Typer()
    error = StoreError(MESSAGE, setting=setting)

    if with_flag:

        @app.command()
        @handle_errors
        def run(concurrency: Annotated[int, typer.Option("--concurrency", "-j")] = 1) -> None:
            raise error

    else:

        @app.command()
        @handle_errors
        def run() -> None:  # type: ignore[misc]
            raise error

    return app


def error_line(app: typer.Typer) -> str:
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1
    return " ".join(result.output.split())


def test_the_cli_adds_the_flag_of_the_setting_a_library_error_names() -> None:
    assert error_line(app_raising("concurrency", with_flag=True)) == (
        f"Error: {MESSAGE}; --concurrency sets concurrency for this command"
    )


def test_no_flag_is_added_when_the_command_has_none_or_no_setting_is_named() -> None:
    assert error_line(app_raising("concurrency", with_flag=False)) == f"Error: {MESSAGE}"
    assert error_line(app_raising(None, with_flag=True)) == f"Error: {MESSAGE}"
