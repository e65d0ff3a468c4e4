"""One cell of the study: tune one method at one step, or train its final run; score it; write the result.

``run_cell(cell, cells_dir)`` is a pure function of its small config (a dict of plain values): it draws the
splits, the backbone (cached) and the sample order from the config's seed, so any worker on any machine
computes the same bits. It writes ``cells_dir/<hash of the config and code version>.json`` atomically
(temporary file, then rename) whatever happens: a result, or the error that stopped it. Nothing is
half-written, so an interrupted study loses only the cells that were running.

A tuning cell runs ``tuning.successive_halving`` over its method's other knobs at its step and records the
chosen knob values, whether each sits at an edge of its grid, and every trial. A final cell runs the knobs
its tuning cell chose: it reads that cell's result file when there is one (a cache of a deterministic
computation, keyed by its config like any cell) and otherwise runs that tuning itself, so its result stays a
function of its config alone. Its record names every knob value it ran and, per tuned knob, whether the value
sits at an edge of the grid searched (the step's grid included).
"""

import json
import os
import socket
import time
import traceback
from pathlib import Path

import numpy as np

from m0sim import energy
from priot import methods, ref, train
from priot.device import lockstep
from priot.device.runner import open_device
from priot.experiments.study import tuning
from priot.experiments.study.grid import cell_key, cell_recipe, tuning_cell_of
from priot.experiments.study.version import of_cell
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
_PREPARE_KEYS = ("model", "seed", "pretrain", "pretrain_epochs", "pretrain_lr", "pretrain_schedule", "calib", "dataset",
                 "data_path", "samples", "test", "angle", "angle_range")


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


def tune(cell: dict, qm, adapt, test) -> dict:
    """A tuning cell: successive halving over the method's searched knobs at the cell's step, on the
    validation split; every configuration sees the same sample order."""
    base = cell_recipe(cell)
    fit, val = fit_split(adapt, test, base.val_frac, True)
    orders = base.epoch_orders(len(fit))
    search = cell["search"]

    def start(knobs):
        method = cell_recipe(cell, knobs).make_method(cell["method"], qm, cell["step"])
        method.begin(len(orders))  # the full run's length, so a continued run is the full run
        return {"method": method, "epoch": 0}

    def advance(run, epochs):
        for order in orders[run["epoch"]:run["epoch"] + epochs]:
            train.train(run["method"], fit.images, fit.labels, [order], decay=False)
            run["method"].end_epoch()
        run["epoch"] += epochs

    def score(run):
        return train.accuracy(run["method"], val.images, val.labels)

    h = cell["halving"]
    out = tuning.successive_halving(tuning.configurations(search), start, advance, score, h["short_epochs"],
                                    h["epochs"], h["rate"])
    chosen = out["trials"][out["index"]]["config"]
    return {"accuracy": out["accuracy"], "knobs": chosen, "edges": tuning.edges(search, chosen),
            "configurations": len(out["trials"]), "continued": sum(t["full"] is not None for t in out["trials"]),
            "trials": out["trials"]}


def chosen_knobs(cell: dict, cells_dir=None) -> dict:
    """The knob values (besides the step) a final cell runs: its tuning cell's choice, read from that cell's
    result file in ``cells_dir`` when it finished, else computed here."""
    if cell["step"] is None:
        return {}
    t = tuning_cell_of(cell)
    rec = read_record(result_path(cells_dir, t)) if cells_dir is not None else None
    if rec is not None and rec.get("status") == "ok" and rec.get("config") == t:
        return dict(rec["result"]["knobs"])
    return tune(t, *prepared(t))["knobs"]


def evaluate_cell(cell: dict, cells_dir=None) -> dict:
    """Tune (validation accuracy of the chosen configuration) or train the final run with the knobs its
    tuning chose and score it on the test split."""
    qm, adapt, test = prepared(cell)
    if cell["kind"] == "tune":
        return tune(cell, qm, adapt, test)
    knobs = chosen_knobs(cell, cells_dir)
    recipe = cell_recipe(cell, knobs)
    fit, ev = fit_split(adapt, test, recipe.val_frac, False)
    method = recipe.make_method(cell["method"], qm, cell["step"])
    out = {"state_bytes": int(method.state_bytes())}  # the untrained backbone's accuracy is method "none"
    if cell.get("device"):
        out["device"] = _lockstep(method, cell, recipe, fit, ev)
    else:
        train.train(method, fit.images, fit.labels, recipe.epoch_orders(len(fit)))
    out["accuracy"] = train.accuracy(method, ev.images, ev.labels)
    if cell["step"] is not None:
        ran = {methods.STEP: cell["step"], **knobs}
        out.update(knobs=ran, edges=tuning.edges({methods.STEP: cell["steps"],
                                                  **cell["search"]}, ran))
    return out


def run_cell(cell: dict, cells_dir: str, *after) -> dict:
    """Run one cell and write its record; ``after`` only orders the task after its backbone is built."""
    t0, c0 = time.perf_counter(), time.process_time()
    record = {"key": cell_key(cell), "config": cell, "code_version": of_cell(cell)}
    try:
        record.update(status="ok", result=evaluate_cell(cell, cells_dir))
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
    return {"key": cell_key(cell), "config": cell, "code_version": of_cell(cell), "status": "error",
            "error": message, "seconds": 0.0, "worker": None}
