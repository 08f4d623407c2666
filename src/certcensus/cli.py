"""The `certcensus` command line: parse options, wire the stages together, print results.

Exit status: 0 census done; 1 no probe succeeded; 2 usage error (bad target, unresolvable name,
bad option). Every error is one line on stderr, prefixed `certcensus: error:`.
"""

from __future__ import annotations

import sys
import warnings

import click
from cryptography.utils import CryptographyDeprecationWarning
from rich.console import Console

from . import __version__
from .cli_ingest import diff, ingest
from .cli_trust import export, trust
from .cli_watch import check, watch
from .commands_scan import demo, report, scan

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
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


main_group.add_command(scan)
main_group.add_command(report)
main_group.add_command(demo)
main_group.add_command(trust)
main_group.add_command(export)
main_group.add_command(ingest)
main_group.add_command(diff)
main_group.add_command(watch)
main_group.add_command(check)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the group, turning click's usage errors into one line and exit 2."""
    # Servers send certificates that break RFC 5280 in ways cryptography still parses with a
    # warning (negative serials...); the census reports what it sees, the warning is noise.
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    try:
        code = main_group.main(args=argv, prog_name="certcensus", standalone_mode=False)
    except click.exceptions.Abort:
        Console(stderr=True).print("certcensus: interrupted")
        sys.exit(130)
    except click.ClickException as error:
        message = error.format_message().replace("\n", " ")
        print(f"certcensus: error: {message}", file=sys.stderr)
        sys.exit(error.exit_code)
    sys.exit(code or 0)
