"""What the build cache holds, and which of it is stale: the data behind `m0sim cache info` and `m0sim cache clean`.

Every cache entry's name ends in its content key (``NAME-KEY.EXT`` or ``NAME_KEY.EXT``, KEY 12 to 64 hex digits),
in the cache directory or one directory below it; a build's lock is ``ENTRY.lock`` and its temporary
``.ENTRY.RANDOM.tmp`` or ``.part`` (m0sim.cache, m0sim.cachefile).  Files of any other name are not the cache's
and are never removed, so a mistaken $M0SIM_CACHE cannot lose them.

Stale, and removed by `clean`: temporaries and locks left by interrupted builds, directories standing where an
entry belongs, and, in a subdirectory of builds (firmware, native code), an entry superseded by a newer build of
the same name (its sources or compiler changed, so its key will not be asked for again).  Nothing whose lock is
held (a build under way) is touched.
"""

import fcntl
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from m0sim import cache
from m0sim.errors import InputError

ENTRY = re.compile(r"(?P<stem>.+)[-_](?P<key>[0-9a-f]{12,64})\.(?P<ext>[A-Za-z0-9]+)")
TEMPORARY = re.compile(r"\.(?P<entry>.+)\.[^.]+\.(tmp|part)")
LOCK_SUFFIX = ".lock"


@dataclass(frozen=True)
class Item:
    path: Path
    size: int
    place: str  # the subdirectory ("." for the cache directory itself)
    stale: str  # why it can go ("" when it is in use or may be)


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(_size(p) for p in path.iterdir())
    try:
        return path.lstat().st_size
    except OSError:
        return 0


def _held(lock: Path) -> bool:
    """Whether a build holds this lock right now."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def _entry_of(name: str) -> str | None:
    """The entry a cache file belongs to (itself, the entry it locks, or the entry it is a temporary of)."""
    if name.endswith(LOCK_SUFFIX):
        name = name[:-len(LOCK_SUFFIX)]
    m = TEMPORARY.fullmatch(name)
    if m:
        name = m["entry"]
    return name if ENTRY.fullmatch(name) else None


def _classify(directory: Path, place: str) -> list[Item]:
    items, entries = [], {}
    for path in sorted(directory.iterdir()):
        entry = _entry_of(path.name)
        if entry is None:
            continue  # not a cache file (or a subdirectory of builds, walked by scan)
        lock = directory / (entry + LOCK_SUFFIX)
        if path != lock and _held(lock):
            stale = ""  # being built
        elif path.is_dir() and not path.is_symlink():
            stale = "a directory where a cache file belongs"
        elif TEMPORARY.fullmatch(path.name):
            stale = "left by an interrupted build"
        elif path == lock:
            stale = "" if (directory / entry).exists() or _held(lock) else "a lock whose entry is gone"
        else:
            stale = ""
            m = ENTRY.fullmatch(path.name)
            entries.setdefault((m["stem"], m["ext"]), []).append(path)
        items.append(Item(path, _size(path), place, stale))
    if place != ".":  # a subdirectory of builds: only the newest build of each name is asked for
        superseded = {p for group in entries.values() if len(group) > 1
                      for p in sorted(group, key=lambda p: p.stat().st_mtime)[:-1]}
        items = [Item(i.path, i.size, i.place, "superseded by a newer build of the same name")
                 if i.path in superseded else i for i in items]
    return items


def scan(root: Path | None = None) -> list[Item]:
    """Every cache file in ``root`` (default: the cache directory) and its subdirectories, classified."""
    root = Path(root or cache.root())
    if not root.exists():
        return []
    if not root.is_dir():
        raise InputError(f"{root}: the m0sim cache directory ($M0SIM_CACHE) is a file, not a directory")
    items = _classify(root, ".")
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and _entry_of(p.name) is None):
        items += _classify(sub, sub.name)
    return items


def remove(items) -> tuple[int, int]:
    """Delete ``items`` (files or directories); returns (count, bytes). A lock of an entry kept stays."""
    count = size = 0
    for item in items:
        try:
            if item.path.is_dir() and not item.path.is_symlink():
                shutil.rmtree(item.path)
            else:
                item.path.unlink(missing_ok=True)
        except OSError as exc:
            raise InputError(f"{item.path}: cannot remove it ({exc.strerror})") from None
        count, size = count + 1, size + item.size
    return count, size


def removable(items, everything: bool) -> list[Item]:
    """The stale items, or with ``everything`` all items whose build is not under way."""
    if not everything:
        return [i for i in items if i.stale]
    return [i for i in items if i.stale or not _held(i.path.parent / ((_entry_of(i.path.name) or "") + LOCK_SUFFIX))]


def human(n: int) -> str:
    """Bytes as a short figure (1,024-based, as du -h)."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KB", "MB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} GB"
