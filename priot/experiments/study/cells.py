"""One cell of the study: train one method with one step, score it, write the result file.

``run_cell(cell, cells_dir)`` is a pure function of its small config (a dict of plain values): it draws the
splits, the backbone (cached) and the sample order from the config's seed, so any worker on any machine
computes the same bits. It writes ``cells_dir/<hash of the config and code version>.json`` atomically
(temporary file, then rename) whatever happens: a result, or the error that stopped it. Nothing is
half-written, so an interrupted study loses only the cells that were running.
"""

import json
import os
import socket
import time
import traceback
from pathlib import Path

import numpy as np

from m0sim import energy
from priot import ref, train
from priot.device import lockstep
from priot.device.runner import open_device
from priot.experiments.study.grid import cell_key, cell_recipe
from priot.experiments.study.version import code_version
from priot.recipe import fit_split


def result_path(cells_dir, cell) -> Path:
    return Path(cells_dir) / f"{cell_key(cell)}.json"


def write_atomic(path: Path, record: dict):
    """Write JSON so a reader sees the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def read_record(path: Path) -> dict | None:
    """A finished cell's record, or None when the file is missing or unreadable (then the cell reruns)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


_PREPARED: dict = {}  # per worker process: the last few (backbone, splits), shared by that setting's cells
_PREPARE_KEYS = ("model", "seed", "pretrain", "pretrain_epochs", "calib", "dataset", "data_path", "samples", "test",
                 "angle", "angle_range")


def prepared(cell: dict):
    """The cell's recipe's ``prepare()``, memoised per process: cells of one setting and seed share their
    backbone and splits (read-only to every method), so a worker loads them once, not once per cell."""
    key = tuple(str(cell[k]) for k in _PREPARE_KEYS)
    if key not in _PREPARED:
        while len(_PREPARED) >= 4:
            _PREPARED.pop(next(iter(_PREPARED)))
        _PREPARED[key] = cell_recipe(cell).prepare()
    return _PREPARED[key]


def build_backbone(cell: dict) -> str:
    """Pretrain and quantize the backbone a cell needs (cached), so cells of one model and seed share it."""
    prepared(cell)
    return cell["model"]


def _lockstep(method, cell, recipe, fit, test):
    """Train on the emulated Pico and the host model together; compare state every ``device_every`` steps
    and at each epoch end, then score on the device (every logit of the last sample checked)."""
    dev = open_device(method)
    dev.compare("after priot_init")
    x, labels = ref.to_input(fit.images), fit.labels
    cycles, energy_mj, steps, compared = [], [], 0, 0
    for ep in lockstep.train(dev, x, labels, recipe.epoch_orders(len(fit)), cell["device_every"],
                             where=f"{cell['method']}, "):
        cycles += [r.stats.cycles for r in ep.results]
        energy_mj += [energy.of_run(r.stats.cycles, r.stats.clock_hz).total_mj for r in ep.results]
        steps, compared = steps + len(ep.results), ep.compared
    acc, host_acc = lockstep.evaluate(dev, ref.to_input(test.images), test.labels.astype(np.int64))
    if acc != host_acc:
        raise RuntimeError(f"{cell['method']}: device accuracy {acc} differs from the host model's {host_acc}")
    return {"accuracy": acc, "bit_exact": True, "steps": steps, "states_compared": compared,
            "cycles_per_step": float(np.mean(cycles)), "energy_mj_per_step": float(np.mean(energy_mj)),
            "energy_estimate": energy.LABEL}


def evaluate_cell(cell: dict) -> dict:
    """Train the cell's method and score it: validation accuracy (tune) or test accuracy (final)."""
    qm, adapt, test = prepared(cell)
    recipe = cell_recipe(cell)
    fit, ev = fit_split(adapt, test, recipe.val_frac, cell["kind"] == "tune")
    method = recipe.make_method(cell["method"], qm, cell["step"])
    out = {"state_bytes": int(method.state_bytes())}  # the untrained backbone's accuracy is method "none"
    if cell.get("device"):
        out["device"] = _lockstep(method, cell, recipe, fit, ev)
    else:
        train.train(method, fit.images, fit.labels, recipe.epoch_orders(len(fit)))
    out["accuracy"] = train.accuracy(method, ev.images, ev.labels)
    return out


def run_cell(cell: dict, cells_dir: str, *after) -> dict:
    """Run one cell and write its record; ``after`` only orders the task after its backbone is built."""
    t0, c0 = time.perf_counter(), time.process_time()
    record = {"key": cell_key(cell), "config": cell, "code_version": code_version()}
    try:
        record.update(status="ok", result=evaluate_cell(cell))
    except Exception as exc:  # every failure is kept in the cell's file and reported; the study goes on
        record.update(status="error", error=f"{type(exc).__name__}: {exc}",
                      traceback=traceback.format_exc(limit=-6))
    # wall time (``seconds``: depends on the load) and CPU time of this worker process (``cpu_seconds``: what
    # the cell costs on an idle core, whatever the load)
    record.update(seconds=round(time.perf_counter() - t0, 3), cpu_seconds=round(time.process_time() - c0, 3),
                  worker=f"{socket.gethostname()}:{os.getpid()}")
    write_atomic(result_path(cells_dir, cell), record)
    return record


def error_record(cell: dict, message: str) -> dict:
    """The record of a cell that could not run at all (its task died, or it had nothing to tune from)."""
    return {"key": cell_key(cell), "config": cell, "code_version": code_version(), "status": "error",
            "error": message, "seconds": 0.0, "worker": None}
