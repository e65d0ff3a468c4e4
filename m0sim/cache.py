"""The per-user build cache ($M0SIM_CACHE, else ~/.cache/m0sim): things built on first use, once per machine.

Several processes may ask for the same file at the same moment (Dask workers on one machine): the first takes
an exclusive lock beside the file and builds it through `m0sim.cachefile.atomic_path` (a unique temporary name in
the cache's own directory, then a rename); the others wait on the lock and find the file done.
"""

import fcntl
import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from m0sim import cachefile
from m0sim.errors import InputError


def root() -> Path:
    """$M0SIM_CACHE, else ~/.cache/m0sim."""
    return Path(os.environ.get("M0SIM_CACHE") or Path.home() / ".cache" / "m0sim")


def digest(*parts: str | bytes, length: int = 16) -> str:
    """A short content key: the sha256 of the parts, each length-prefixed so their boundaries count."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else bytes(part)
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:length]


def lock_path_of(path: Path) -> Path:
    """The lock file beside a cache entry (held while the entry is built)."""
    return path.with_name(path.name + ".lock")


def build_once(path: Path, build: Callable[[Path], object], what: str | None = None) -> Path:
    """`path`, built by `build(tmp)` if it does not exist yet; `build` writes the file `tmp` (same directory).

    When `what` is given, a build prints one line on stderr saying what was built and how long it took.
    """
    path = cachefile.refuse_directory(path, "cache entry")
    if path.exists():
        return path
    cachefile.ensure_dir(path.parent, "m0sim cache directory ($M0SIM_CACHE)")
    lock_path = cachefile.refuse_directory(lock_path_of(path), "cache entry's lock file")
    try:
        lock = open(lock_path, "a")
    except OSError as exc:
        raise InputError(f"{lock_path}: cannot open the cache entry's lock file ({exc.strerror})") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, also if this process dies
        if path.exists():  # another process built it while this one waited
            return path
        start = time.perf_counter()
        with cachefile.atomic_path(path, what="m0sim cache directory ($M0SIM_CACHE)") as tmp:
            build(tmp)
    if what:
        print(f"m0sim: built {what} in {time.perf_counter() - start:.1f} s (first use; cached as {path})",
              file=sys.stderr)
    return path
