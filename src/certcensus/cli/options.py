"""Options several commands share, defined once so their names, defaults and help agree.

Kept free of heavy imports: `scan` loads this without loading the trust analysis.
"""

from __future__ import annotations

import click

# The JDK's cacerts password, as trust.stores also assumes; spelled here too so that `scan`
# need not import the trust analysis just to print its --help.
DEFAULT_STORE_PASSWORD = "changeit"


def trust_options(default_store: str | None = None):
    """--trust-store, --store-password, --offline and --cache-dir."""
    default_note = f" Default: {default_store}." if default_store else ""
    options = [
        click.option("--trust-store", "trust_stores", multiple=True, metavar="[NAME=]SPEC",
                     help="A trust store to judge chains against: PEM bundle, directory, .p7b, "
                          "Java keystore (PKCS#12 or JKS), 'system' or 'mozilla'. Repeatable."
                          + default_note),
        click.option("--store-password", default=DEFAULT_STORE_PASSWORD, show_default=True,
                     help="Password of Java keystores ('' reads a JKS without its integrity "
                          "check)."),
        click.option("--offline", is_flag=True, help="Do not fetch AIA caIssuers; use the cache only."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="CA pool and AIA cache (default: the user cache directory)."),
    ]  # fmt: skip

    def decorate(function):
        for option in reversed(options):
            function = option(function)
        return function

    return decorate
