"""The code version of a study cell: one hash of every source file that decides a cell's result.

A cell's key and record carry it, so a result computed by other code is never reused, and results.json
names the code that made its numbers. The lists below are the one place that says which sources count, in
two parts, because a host cell and a device cell depend on different code:

- ``HOST``: what decides a cell trained and scored by the numpy model (every cell of the default study): the
  priot core (numerics, models, data, pretraining, quantization and the run's ``Recipe``: every ``priot/*.py``
  but the table printer), the methods and their registry (``Variant``), the code that reads the shipped
  backbones, the cell code (``study/cells.py``) and the tuning procedure it runs (``study/tuning.py``: it
  chooses a cell's knobs). The shipped backbone files are not hashed here: a cell's key carries the
  fingerprint of its own backbone (``grid.backbone_fingerprint``), so shipping another backbone changes no
  other cell's key.
- ``DEVICE``: what a device cell (``--device``: the final run in lockstep on the emulated Pico) also runs: the
  device layer (layout, firmware, runner, the lockstep loop) and its C kernels, and m0sim's emulator core
  (every module that loads or executes firmware; its command line, debugger and benchmarks are left out).

So work on the emulator or the firmware leaves every host cell's key as it was, and a device cell's key
changes with either. Grid and report code is not listed: the grid decides the cell's config, which is hashed
into its key anyway, and the report only reads results.
"""

import functools
import hashlib
from pathlib import Path

import m0sim
import priot

# package -> glob patterns under the package's folder (files only; sorted; hashed with their paths)
HOST = {"priot": ("*.py", "methods/*.py", "backbones/*.py", "experiments/study/cells.py", "experiments/study/tuning.py")}
DEVICE = {"priot": ("device/*.py", "device/kernels/priot/*.[chS]"),
          "m0sim": ("*.py", "native/*", "peripherals/*.py", "runtime/*")}
LEFT_OUT = {"m0sim": ("cli.py", "__main__.py", "bench.py", "gdbstub.py", "gdbserver.py", "gdbtarget.py",
                      "gdbflash.py", "rsp.py", "sigint.py", "cacheinfo.py"),
            "priot": ("device/__main__.py", "texttable.py")}  # never touch a cell's bits
ROOTS = {"priot": Path(priot.__file__).resolve().parent, "m0sim": Path(m0sim.__file__).resolve().parent}
DIGITS = 16


def _patterns(device: bool) -> list:
    """(package, glob) pairs of the sources a host cell (or, with ``device``, a device cell) depends on."""
    parts = [HOST] + ([DEVICE] if device else [])
    return [(pkg, pat) for part in parts for pkg, pats in part.items() for pat in pats]


def source_files(roots: dict = None, device: bool = True) -> list:
    """(package, relative path, absolute path) of every counted source file, in a fixed order."""
    roots = ROOTS if roots is None else roots
    found = set()
    for pkg, pat in _patterns(device):
        root = Path(roots[pkg])
        found |= {(pkg, p.relative_to(root).as_posix(), p) for p in root.glob(pat) if p.is_file()}
    return sorted((pkg, rel, p) for pkg, rel, p in found if rel not in LEFT_OUT.get(pkg, ()))


def hash_sources(roots: dict = None, device: bool = False) -> str:
    """The hash of the counted sources under ``roots`` (names and bytes)."""
    h = hashlib.sha256()
    for pkg, rel, path in source_files(roots, device):
        data = path.read_bytes()
        h.update(f"{pkg}/{rel}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:DIGITS]


@functools.lru_cache(maxsize=2)
def code_version(device: bool = False) -> str:
    """This process's code version for host cells (``device``: for device cells), computed once: sources do
    not change under a running study."""
    return hash_sources(device=device)


def of_cell(cell: dict) -> str:
    """The code version that decides ``cell``'s result."""
    return code_version(bool(cell.get("device")))
