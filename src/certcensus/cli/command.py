"""The click command class every certcensus command uses: errors the stages raise become the
one-line message and exit status they carry, whether the command runs under `certcensus` or is
invoked on its own (click's test runner, `python -c "...; scan()"`)."""

from __future__ import annotations

import click

from certcensus.cli.sclient import apply_habits, format_options_with_habits
from certcensus.model.errors import CertcensusError


class UserError(click.ClickException):
    """A CertcensusError on its way out through click: same message, same exit status."""

    def __init__(self, error: CertcensusError):
        super().__init__(" ".join(str(error).split()))
        self.exit_code = error.exit_status  # type: ignore[misc]  # click reads it per instance

    def show(self, file=None) -> None:
        click.echo(f"certcensus: error: {self.format_message()}", file=file, err=True)


class Command(click.Command):
    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        format_options_with_habits(self, ctx, formatter)

    def invoke(self, ctx: click.Context):
        apply_habits(ctx)  # -connect, -servername, -CAfile ... into their options
        try:
            return super().invoke(ctx)
        except CertcensusError as error:
            raise UserError(error) from None
