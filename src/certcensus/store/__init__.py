"""The store: observations in, probes and certificates out, behind one interface (base.Store).

`open_store(url)` is the one way in: a path or `sqlite:///path` opens the SQLite store,
`postgresql://...` (any libpq URI; `postgres://` too) the PostgreSQL store; any other URL
scheme is a usage error naming the schemes this build supports.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from certcensus.model.errors import StoreError, UsageError
from certcensus.store.base import RunInfo, Store, StoredProbe

# RFC 3986 section 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then "://".
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.S)
SUPPORTED_SCHEMES = ("sqlite", "postgresql")
POSTGRES_SCHEMES = ("postgresql", "postgres")
# Where the database URL comes from when --db is not given.
DATABASE_ENVIRONMENT = "CERTCENSUS_DB"


def default_database_path() -> Path:
    """`certcensus.sqlite` under the user's data directory (XDG_DATA_HOME on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("certcensus")) / "certcensus.sqlite"


def open_store(url: str | os.PathLike | None = None, *, read_only: bool = False) -> Store:
    """Open the store at `url`: a file path, `sqlite:///abs/path`, `postgresql://...`, or None
    ($CERTCENSUS_DB, else the default path). `read_only` for commands that only read: nothing is created or changed.

    Raises UsageError for a URL this build cannot open, StoreError when opening fails.
    """
    text = os.fspath(url) if url is not None else os.environ.get(DATABASE_ENVIRONMENT) or None
    if text is None:
        return _open_sqlite(default_database_path(), read_only)
    match = _URL.match(text)
    if match is None:
        return _open_sqlite(Path(text).expanduser(), read_only)
    scheme, rest = match[1].lower(), match[2]
    if scheme == "sqlite":
        # sqlite:///abs/path (SQLAlchemy's form) or sqlite://relative/path.
        return _open_sqlite(Path(rest).expanduser(), read_only)
    if scheme in POSTGRES_SCHEMES:
        from certcensus.store.postgres import PostgresStore

        return PostgresStore(text, read_only=read_only)
    raise UsageError(
        f"--db {text!r}: this build cannot open {scheme}:// databases "
        f"(supported: a file path, {', '.join(s + '://' for s in SUPPORTED_SCHEMES)})"
    )


def _open_sqlite(path: Path, read_only: bool) -> Store:
    from certcensus.store.sqlite import SQLiteStore

    return SQLiteStore(path, read_only=read_only)


__all__ = ["RunInfo", "Store", "StoreError", "StoredProbe", "default_database_path", "open_store"]
