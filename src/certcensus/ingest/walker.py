"""Which files to read: files and directories, recursively, safe against symlink loops.

A directory is entered once per (device, inode), so `a/loop -> ..` ends; a file reached twice
(through a symlink or a hard link) is read once, or it would be counted twice.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass

from certcensus.ingest.capture import Problem


@dataclass(frozen=True, slots=True)
class FoundFile:
    path: str
    size: int
    mtime: float
    folder: str  # name of the folder it was found in (the default target)
    relative: str  # path below the argument it was found under (for --copy-different)


def walk_capture_files(paths: list[str], max_file_size: int) -> Iterator[FoundFile | Problem]:
    seen_directories: set[tuple[int, int]] = set()
    seen_files: dict[tuple[int, int], str] = {}
    for root in paths:
        # An explicit stack, not recursion: a deeply nested tree must not hit the recursion limit.
        stack = [root]
        while stack:
            path = stack.pop()
            try:
                info = os.stat(path)  # follows symlinks
            except OSError as error:
                yield Problem(path, "unreadable", error.strerror or str(error))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in seen_directories:
                    continue  # a symlink loop or a second way into the same folder
                seen_directories.add(key)
                try:
                    with os.scandir(path) as entries:
                        names = sorted((entry.name for entry in entries), reverse=True)
                except OSError as error:
                    yield Problem(path, "unreadable", error.strerror or str(error))
                    continue
                stack.extend(os.path.join(path, name) for name in names)
                continue
            yield _file_or_problem(path, root, info, seen_files, max_file_size)


def _file_or_problem(path, root, info, seen_files, max_file_size) -> FoundFile | Problem:
    if not stat.S_ISREG(info.st_mode):
        return Problem(path, "not-a-file")
    key = (info.st_dev, info.st_ino)
    if key in seen_files:
        return Problem(path, "duplicate", f"same file as {seen_files[key]}")
    seen_files[key] = path
    if info.st_size > max_file_size:
        return Problem(path, "too-large", f"{info.st_size} bytes > {max_file_size}")
    folder = os.path.basename(os.path.dirname(os.path.abspath(path)))
    relative = os.path.relpath(path, root) if path != root else os.path.basename(path)
    return FoundFile(path, info.st_size, info.st_mtime, folder, relative)
