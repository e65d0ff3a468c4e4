"""``m0sim run paper-table --verify K``: re-run K finished cells of a study and compare them bit for bit.

The cells are drawn at random (seeded, so a check can be repeated) from the finished cells the report
would use, re-run in this process from their stored configs, and compared with their stored results
(accuracy, state bytes, device figures; not the timings). A stored key that is not the hash of its
config and this code version also counts as a difference.
"""

import random
from pathlib import Path

from m0sim.errors import InputError
from priot.experiments.study import cells as C
from priot.experiments.study import engine as E
from priot.experiments.study import extension
from priot.experiments.study.grid import Study, angle_label, cell_key


def describe(config: dict) -> str:
    angle = "random" if config["angle"] is None else angle_label(config["angle"])
    step = "" if config["step"] is None else f" step {config['step']}"
    return f"{config['kind']} {config['method']}{step} {config['model']} @ {angle} seed {config['seed']}"


def verify(studies, cells_dir: Path, k: int, seed: int = 0, echo=print) -> list:
    """Re-run ``k`` finished cells of ``studies`` (a Study or a list) in ``cells_dir``; returns one line per
    cell that differs."""
    studies = [studies] if isinstance(studies, Study) else studies
    records = {}
    for study in studies:  # both stages: the cells the report would use
        _, outcome = extension.run_in_stages(study, lambda st: E.run_study(st, None, Path(cells_dir), execute=False))
        records.update(outcome.records)
    finished = sorted(key for key, r in records.items() if r["status"] == "ok")
    if not finished:
        raise InputError(f"--verify: no finished cell of this study in {cells_dir} (run the study first)")
    if k > len(finished):
        raise InputError(f"--verify {k}: only {len(finished)} finished cell(s) of this study in {cells_dir}")
    differ = []
    for key in random.Random(seed).sample(finished, k):
        rec = records[key]
        what = f"{key} ({describe(rec['config'])})"
        if cell_key(rec["config"]) != key:
            differ.append(f"{what}: stored key is not the hash of its config and this code version")
            continue
        now = C.evaluate_cell(rec["config"])
        if now != rec["result"]:
            changed = sorted(f for f in set(now) | set(rec["result"]) if now.get(f) != rec["result"].get(f))
            differ.append(f"{what}: " + "; ".join(f"{f} stored {rec['result'].get(f)!r}, now {now.get(f)!r}"
                                                  for f in changed))
        echo(f"verify: {what}: {'differs' if differ and differ[-1].startswith(what) else 'identical'}")
    return differ
