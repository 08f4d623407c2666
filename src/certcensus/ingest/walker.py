"""Which files to read: files and directories, recursively, safe against symlink loops.

A directory is entered once per (device, inode), so `a/loop -> ..` ends and is listed as a
`directory-cycle`; a directory or a file reached twice another way (a symlink, a hard link, the
same folder given twice) is read once and listed as a `duplicate`, or it would count twice.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from certcensus.ingest.capture import Problem
from certcensus.ingest.filenames import escaped_name


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    size: int
    mtime: float
    folder: str  # name of the folder it was found in (the default target)
    relative: str  # path below the argument it was found under (for --copy-different)


def walk_capture_files(paths: list[str], max_file_size: int) -> Iterator[FoundFile | Problem]:
    seen_directories: dict[tuple[int, int], str] = {}  # (device, inode) -> first path
    seen_files: dict[tuple[int, int], str] = {}
    for root in paths:
        # An explicit stack, not recursion: a deeply nested tree must not hit the recursion limit.
        # Each entry carries the directories above it, to tell a loop from a second way in.
        stack: list[tuple[str, frozenset[tuple[int, int]]]] = [(root, frozenset())]
        while stack:
            path, above = stack.pop()
            try:
                info = os.stat(path)  # follows symlinks
            except OSError as error:
                yield Problem(path, "unreadable", error.strerror or str(error))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in above:
                    yield Problem(
                        path,
                        "directory-cycle",
                        f"leads back to {escaped_name(seen_directories[key])}",
                    )
                    continue
                if key in seen_directories:
                    yield Problem(
                        path, "duplicate", f"same folder as {escaped_name(seen_directories[key])}"
                    )
                    continue
                seen_directories[key] = path
                try:
                    with os.scandir(path) as entries:
                        names = sorted((entry.name for entry in entries), reverse=True)
                except OSError as error:
                    yield Problem(path, "unreadable", error.strerror or str(error))
                    continue
                inside = above | {key}
                stack.extend((os.path.join(path, name), inside) for name in names)
                continue
            yield _file_or_problem(path, root, info, seen_files, max_file_size)


def _file_or_problem(path, root, info, seen_files, max_file_size) -> FoundFile | Problem:
    if not stat.S_ISREG(info.st_mode):
        return Problem(path, "not-a-file")
    key = (info.st_dev, info.st_ino)
    if key in seen_files:
        return Problem(path, "duplicate", f"same file as {escaped_name(seen_files[key])}")
    seen_files[key] = path
    if info.st_size > max_file_size:
        return Problem(path, "too-large", f"{info.st_size} bytes > {max_file_size}")
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    relative = os.path.relpath(path, root) if path != root else os.path.basename(path)
    return FoundFile(path, info.st_size, info.st_mtime, folder, relative)
