"""The errors a user can act on, classified once: each carries the exit status the CLI uses.

Modelled on httpx's `_exceptions.py`: one hierarchy, each class saying when it is raised. The
command line maps `CertcensusError` to one line on stderr (`certcensus: error: ...`) and
`exit_status`, in one place (`cli/__init__.py`). What a *server* does wrong is never an
exception here: it is an outcome of the probe (`model/outcomes.py`).
"""

from __future__ import annotations

# Exit statuses, as shells and the README's table expect.
EXIT_OK = 0
EXIT_PROBLEM_FOUND = 1  # the command ran; what it found needs attention (no probe ok, untrusted)
EXIT_USAGE = 2  # bad option, target, file or database: nothing was done
EXIT_INTERRUPTED = 130  # SIGINT (128 + 2)
EXIT_TERMINATED = 143  # SIGTERM (128 + 15)


class CertcensusError(Exception):
    """Base class: a problem the user can fix; the message is one line."""

    exit_status = EXIT_USAGE


class UsageError(CertcensusError):
    """An option or argument is wrong (a bad duration, an unknown profile, two exclusive options)."""


class TargetError(UsageError, ValueError):
    """A target cannot be probed as written (bad host name, port, scheme or protocol)."""


class ConfigError(UsageError, ValueError):
    """A targets or exporter configuration file is wrong; the message names the file and line."""


class InputError(CertcensusError):
    """Input data is unusable: a capture, an unknown target or chain id, an empty selection."""


class TrustStoreError(InputError, ValueError):
    """A trust store could not be loaded; the message is one line a user can act on."""


class StoreError(CertcensusError):
    """The database cannot be opened, is not a certcensus database, or its server went away."""


class ResolutionError(CertcensusError):
    """A name did not resolve. Recorded as the `dns` outcome of the target's probes."""
