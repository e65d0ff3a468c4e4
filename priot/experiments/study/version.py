"""The code version of a study cell: one hash of every source file that decides a cell's result.

A cell's key and record carry it, so a result computed by other code is never reused, and results.json
names the code that made its numbers. The list below is the one place that says which sources count:
the priot core (numerics, models, data, pretraining, quantization and the run's ``Recipe``: every
``priot/*.py``, ``recipe.py`` included), the methods and their registry (``Variant``), the device layer
(layout, firmware, runner and the lockstep loop ``device/lockstep.py``) and its C kernels (whose
``kernels`` folder is the repository's ``kernels/``), the shipped backbones, the cell code
(``study/cells.py``) and the tuning procedure it runs (``study/tuning.py``: it chooses a cell's knobs), and m0sim's emulator core (every module that loads or executes firmware: ``program``,
``loader``, ``registers``, ``machine``, ``peripherals/ppb.py`` and the rest; its command line, debugger and
benchmarks are left out, and so is ``python -m priot.device``, which only prebuilds firmware). Grid and report code is not listed: the grid decides
the cell's config, which is hashed into its key anyway, and the report only reads results.
"""

import functools
import hashlib
from pathlib import Path

import m0sim
import priot

# package -> glob patterns under the package's folder (files only; sorted; hashed with their paths)
SOURCES = {
    "priot": ("*.py", "methods/*.py", "device/*.py", "device/kernels/priot/*.[chS]", "backbones/*.npz",
              "backbones/manifest.json", "experiments/study/cells.py", "experiments/study/tuning.py"),
    "m0sim": ("*.py", "native/*", "peripherals/*.py", "runtime/*"),
}
LEFT_OUT = {"m0sim": ("cli.py", "__main__.py", "bench.py", "gdbstub.py", "rsp.py"), "priot": ("device/__main__.py",)}  # never touch a cell's bits
ROOTS = {"priot": Path(priot.__file__).resolve().parent, "m0sim": Path(m0sim.__file__).resolve().parent}
DIGITS = 16


def source_files(roots: dict = None) -> list:
    """(package, relative path, absolute path) of every counted source file, in a fixed order."""
    roots = ROOTS if roots is None else roots
    out = []
    for pkg, patterns in SOURCES.items():
        root = Path(roots[pkg])
        found = {p for pat in patterns for p in root.glob(pat) if p.is_file()}
        found = {p for p in found if p.relative_to(root).as_posix() not in LEFT_OUT.get(pkg, ())}
        out += [(pkg, p.relative_to(root).as_posix(), p) for p in sorted(found)]
    return out


def hash_sources(roots: dict = None) -> str:
    """The hash of the counted sources under ``roots`` (names and bytes)."""
    h = hashlib.sha256()
    for pkg, rel, path in source_files(roots):
        data = path.read_bytes()
        h.update(f"{pkg}/{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:DIGITS]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """This process's code version (computed once: sources do not change under a running study)."""
    return hash_sources()
