"""Export CA certificates as files and platform kits (see formats.py and kits.py)."""

from certcensus.export.formats import FORMATS, write_certificate_files, write_java_truststore
from certcensus.export.kits import KITS, KitNotes, write_kit
from certcensus.export.names import safe_file_stem

ALL_FORMATS = FORMATS + KITS


def write_export(certs, directory, fmt: str, notes: KitNotes | None = None):
    """Write `certs` in a plain format or as a platform kit; return the files written."""
    if fmt in KITS:
        return write_kit(certs, directory, fmt, notes)
    return write_certificate_files(certs, directory, fmt)


__all__ = [
    "ALL_FORMATS",
    "FORMATS",
    "KITS",
    "KitNotes",
    "safe_file_stem",
    "write_certificate_files",
    "write_export",
    "write_java_truststore",
    "write_kit",
]
