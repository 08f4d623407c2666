"""The `certcensus` command line: the only door into the stages. One module per command parses
its options, calls the stages, and prints.

Errors are mapped here, once: a CertcensusError (model/errors.py) or a click usage error is one
line on stderr, prefixed `certcensus: error:`, and the exit status the error carries.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click
from cryptography.utils import CryptographyDeprecationWarning
from rich.console import Console

from certcensus import __version__
from certcensus.model.errors import EXIT_INTERRUPTED, CertcensusError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

# Each command's module is imported only when that command runs (click's "lazy group" pattern):
# `scan` need not load the trust, export, ingest and watch code, which costs a fifth of a second
# per process.
COMMANDS = {
    "scan": "scan:scan",
    "report": "report:report",
    "demo": "demo:demo",
    "trust": "trust:trust",
    "export": "export:export",
    "ingest": "ingest:ingest",
    "diff": "diff:diff",
    "watch": "watch:watch",
    "check": "check:check",
    "exporter": "exporter:exporter",
    "worker": "worker:worker",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), attribute)


@click.group(cls=LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="certcensus")
def main_group() -> None:
    """Find every certificate chain a TLS service presents, and what a client must trust.

    \b
    Examples:
      certcensus demo
      certcensus scan smtp://mail.example.com --count 300
      certcensus scan imaps://mail.example.com:993 example.com:443 --json
      certcensus report --target mail.example.com:25
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group; every error the user can act on is one line and its status."""
    # Servers send certificates that break RFC 5280 in ways cryptography still parses with a
    # warning (negative serials...); the census reports what it sees, the warning is noise.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    try:
        code = main_group.main(args=argv, prog_name="certcensus", standalone_mode=False)
    except click.exceptions.Abort:
        Console(stderr=True).print("certcensus: interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as error:
        _fail(error.format_message(), error.exit_code)
    except CertcensusError as error:
        _fail(str(error), error.exit_status)
    sys.exit(code or 0)


def _fail(message: str, status: int) -> None:
    print(f"certcensus: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(status)
