"""Files written whole or not at all: a unique temporary file in the target's own directory, then a rename.

A rename inside one directory is atomic and never crosses a filesystem (a TMPDIR on tmpfs would make
`os.replace` fail with EXDEV), and a unique temporary name keeps concurrent writers from sharing one
half-written file.  Caches (native library, backbones, firmware) and result files all come through here.
"""

import os
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

from m0sim.errors import InputError


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ensure_dir(directory, what: str = "directory") -> Path:
    """`directory`, created if missing; one clear line when it cannot be (a file in the way, no permission)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{directory}: the {what} is a file, not a directory") from None
    except OSError as exc:
        raise InputError(f"{directory}: cannot create the {what} ({exc.strerror})") from None
    if not directory.is_dir():
        raise InputError(f"{directory}: the {what} is not a directory")
    return directory


def refuse_directory(path, what: str = "file") -> Path:
    """`path`, unless a directory stands where the file belongs (a rename onto it, a read or a dlopen of it
    would fail with IsADirectoryError after the work was done)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory where the {what} belongs; remove it "
                         f"(`m0sim cache clean` removes such entries from the cache)")
    return path


@contextmanager
def atomic_path(path, mode: int = 0o666, what: str = "directory"):
    """Yield a fresh temporary path beside `path`; it replaces `path` if the body succeeds, else is removed."""
    path = refuse_directory(path)
    ensure_dir(path.parent, what)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"{path}: cannot write in {path.parent} ({exc.strerror})") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def write_bytes(path, data: bytes):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path, text: str):
    write_bytes(path, text.encode())


def check_writable(path, what: str = "output file") -> Path:
    """Refuse, before a long run, an output path that could not be written at its end."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; the {what} must be a file")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"{path}: directory {parent} does not exist (for the {what})")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{path}: not writable (for the {what})")
    return path
