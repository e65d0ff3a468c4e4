"""Runs a study's cells as tasks on Dask distributed, skipping cells whose result file already exists.

Order of work: one backbone task per (model, seed) that some pending cell needs; every tuning cell, each
after its backbone; as soon as all tuning cells of a (setting, seed) group are in, that group's best steps
(highest validation accuracy, the smallest step on a tie) are chosen and its final cells submitted. Settings
run in the study's order (a setting's cells outrank the next setting's), so complete settings appear early
and a partial run still gives whole rows. The driver never trains anything itself.
"""

import logging
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from m0sim.errors import InputError
from priot import methods
from priot.experiments.study import cells as C
from priot.experiments.study import scheduler_probe, worker_setup
from priot.experiments.study.grid import Study, backbone_key, cell_key, final_cell, tune_cells, tuning_source
from priot.experiments.study.version import of_cell

CONNECT_TIMEOUT_S = 5
WORKER_WAIT_S = 30  # a scheduler without workers would leave the study waiting forever


@dataclass
class Engine:
    """An open Dask client and what to say about it in results.json."""

    client: object
    cluster: object | None
    info: dict

    def close(self):
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def stderr_to(log_path) -> bool:
    """From now on this process's stderr (file descriptor 2) goes to ``log_path``; False if it cannot be opened."""
    sys.stderr.flush()
    try:
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        return False
    os.dup2(log, 2)
    os.close(log)
    return True


@contextmanager
def _workers_write_stderr_to(log_path):
    """Worker processes started in the body get ``log_path`` as their stderr (file descriptors are inherited;
    the driver's own stderr is restored when the body ends). A terminal's Ctrl-C reaches every process of its
    group: each worker then prints its KeyboardInterrupt traceback and its lost-scheduler errors into the log,
    and the terminal shows only the driver's one line."""
    if log_path is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(log)


def connect(scheduler: str | None = None, workers: int | None = None, worker_log=None) -> Engine:
    """A client on ``scheduler`` (host:port or tcp://host:port), or on a LocalCluster of ``workers`` processes
    with one thread each (their stderr into ``worker_log`` when given). A scheduler that does not answer within
    a few seconds is bad input."""
    from distributed import Client, LocalCluster

    if scheduler:
        address = scheduler_probe.check(scheduler, CONNECT_TIMEOUT_S)  # before Client(), which trusts its peer
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise InputError(f"Dask scheduler {scheduler} does not answer within {CONNECT_TIMEOUT_S} s "
                             f"({type(exc).__name__}); start one with `dask scheduler`") from None
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except (OSError, TimeoutError):
            client.close()
            raise InputError(f"Dask scheduler {scheduler} has no workers after {WORKER_WAIT_S} s; start some with "
                             f"`dask worker {address}`") from None
        cluster, kind = None, "scheduler"
    else:
        with _workers_write_stderr_to(worker_log):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR, preload=[worker_setup.__name__])
        client, kind, address = Client(cluster), "LocalCluster", None
    ws = client.scheduler_info()["workers"].values()
    info = {"engine": "dask.distributed", "kind": kind, "address": address or client.scheduler.address,
            "workers": len(ws), "threads": sum(w.get("nthreads", 1) for w in ws)}
    return Engine(client, cluster, info)


@dataclass
class Outcome:
    """What one invocation did: records of every cell of the study, and how many tasks it ran."""

    records: dict = field(default_factory=dict)   # cell key -> record
    tuned: dict = field(default_factory=dict)     # (setting key, tuning seed) -> {method: step}
    ran: int = 0
    skipped: int = 0
    backbones: int = 0
    missing: int = 0  # cells neither finished before nor run now (report-only)

    @property
    def failed(self) -> list:
        return [r for r in self.records.values() if r["status"] != "ok"]


def best_steps(records) -> dict:
    """{method: tuned step} from a group's tuning records (methods whose every cell failed are absent)."""
    best = {}
    for r in records:
        if r["status"] != "ok":
            continue
        m, s, acc = r["config"]["method"], r["config"]["step"], r["result"]["accuracy"]
        if m not in best or (acc, -s) > (best[m][1], -best[m][0]):
            best[m] = (s, acc)
    return {m: s for m, (s, _) in best.items()}


def run_study(study: Study, engine: Engine | None, cells_dir: Path, resume: bool = True, echo=print,
              execute: bool = True) -> Outcome:
    """Run every missing cell of ``study``; ``execute=False`` only collects the finished ones (a report of a
    partial run: missing cells are counted, nothing is submitted)."""
    from distributed import as_completed

    client, out = (engine.client if engine else None), Outcome()
    cells_dir = Path(cells_dir)
    groups, waiting, source = {}, {}, {}  # (setting key, tuning seed) -> tune cells / [(setting, seed)] / setting
    for setting in study.settings:
        src = tuning_source(setting, study)
        for seed in study.seeds_of(setting):
            g = (src.key, study.tuning_seed(seed))
            if g not in groups:
                groups[g], source[g] = tune_cells(study, src, g[1]), src
            waiting.setdefault(g, []).append((setting, seed))
    backbones, futures = {}, {}

    def done_before(cell):
        rec = C.read_record(C.result_path(cells_dir, cell)) if resume else None
        return rec if rec is not None and rec.get("status") == "ok" else None

    rank = {st.key: len(study.settings) - i for i, st in enumerate(study.settings)}

    def submit(cell, setting):
        """Submit a cell unless its result exists; settings run in the study's order (complete ones first)."""
        rec = done_before(cell)
        if rec is not None:
            out.records[rec["key"]] = rec
            out.skipped += 1
            return None
        if not execute:
            out.missing += 1
            return None
        bk = backbone_key(cell)
        if bk not in backbones:
            backbones[bk] = client.submit(C.build_backbone, cell, pure=False, priority=rank[setting.key])
            out.backbones += 1
        f = client.submit(C.run_cell, cell, str(cells_dir), backbones[bk], pure=False, priority=rank[setting.key],
                          key=f"{cell['kind']}-{cell['method']}-{cell_key(cell)}")
        futures[f] = cell
        out.ran += 1
        return f

    def release(g, ac):
        """All tuning of group g is in: submit the finals of every (setting, seed) that uses it."""
        tuned = best_steps([out.records[cell_key(c)] for c in groups[g]])
        out.tuned[g] = tuned
        for setting, seed in waiting[g]:
            for name in study.methods:
                spec = methods.spec(name)
                if spec.grid and name not in tuned:
                    cell = final_cell(study, setting, seed, name, None)
                    rec = C.error_record(cell, f"no tuning run of {name} finished (see its tuning cells)")
                    out.records[rec["key"]] = rec
                    continue
                f = submit(final_cell(study, setting, seed, name, tuned.get(name) if spec.grid else None), setting)
                if f is not None:
                    ac.add(f)

    ac = as_completed() if execute else set()
    left = {}
    for g, tcells in groups.items():
        left[g] = {cell_key(c) for c in tcells}
        for c in tcells:
            f = submit(c, source[g])
            if f is not None:
                ac.add(f)
            elif cell_key(c) in out.records:
                left[g].discard(cell_key(c))
    for g in [g for g in groups if not left[g]]:
        release(g, ac)
    if not execute:  # every cell of the grid not finished yet, finals of untuned settings included
        planned = sum(len(c) for c in groups.values()) + sum(len(w) for w in waiting.values()) * len(study.methods)
        out.missing = planned - len(out.records)
    t0 = time.monotonic()
    done = 0
    for f in ac:
        cell = futures.pop(f)
        try:
            rec = f.result()
        except Exception as exc:  # the task died (worker lost, backbone failed): keep the reason in its file
            rec = C.error_record(cell, f"{type(exc).__name__}: {exc}")
            C.write_atomic(C.result_path(cells_dir, cell), rec)
        if rec.get("code_version") != of_cell(cell):
            raise InputError(f"worker {rec.get('worker')} runs other code (version {rec.get('code_version')}) than "
                             f"this driver ({of_cell(cell)}): install the same commit on every worker")
        out.records[rec["key"]] = rec
        done += 1
        if rec["status"] != "ok":
            echo(f"cell failed: {cell['kind']} {cell['method']} step {cell['step']} {cell['model']} angle "
                 f"{cell['angle'] if cell['angle'] is not None else 'random'} seed {cell['seed']}: {rec['error']}")
        if done % 25 == 0:
            echo(f"{done} cells run, {len(futures)} queued, {time.monotonic() - t0:.0f} s")
        if cell["kind"] == "tune":
            for g, keys in left.items():
                if rec["key"] in keys:
                    keys.discard(rec["key"])
                    if not keys:
                        release(g, ac)
    return out
