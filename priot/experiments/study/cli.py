"""``m0sim run paper-table``: the study as one command (grid, Dask engine, report, figures)."""

import json
import os
import sys
import time
from pathlib import Path

import click

from m0sim.errors import InputError
from priot import data, rotate
from priot.errors import PriotError
from priot.experiments.study import engine as E
from priot.experiments.study import extension, grid, report


VERIFY_FAILED = 3  # exit code: --verify re-ran a cell and got other results


def _list(value):
    return [v.strip() for v in (value or "").split(",") if v.strip()] or None


def _angles(value):
    if value is None:
        return None
    out = []
    for a in value.split(","):
        a = a.strip()
        if not a:
            continue
        if a == "random":
            out.append("random")
            continue
        try:
            out.append(float(a))
        except ValueError:
            raise InputError(f"--angles: {a!r} is neither a number of degrees nor 'random'") from None
    return out


def _widths(value):
    if value is None:
        return None
    try:
        ws = [float(w.strip().lstrip("x")) for w in value.split(",") if w.strip()]
    except ValueError:
        raise InputError(f"--widths: expected numbers like 1,2,4 (or x1,x2), got {value!r}") from None
    bad = [w for w in ws if w <= 0]
    if bad:
        raise InputError(f"--widths: a width factor must be positive, got {bad[0]:g}")
    return ws


def check_writable(out: Path) -> Path:
    """Create ``out/cells`` and prove we can write there, before any work starts."""
    cells = out / "cells"
    try:
        cells.mkdir(parents=True, exist_ok=True)
        probe = cells / f".probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"results directory {out} is not writable ({exc.strerror or exc})") from None
    return cells


REPORT_FILES = ("results.json", "table.md")
WORKER_LOG = "dask-workers.log"  # the local workers' stderr (their tracebacks at Ctrl-C, lost-scheduler errors)


class InterruptionReported(KeyboardInterrupt):
    """Ctrl-C, its one line already printed."""


def say_interrupted(out):
    """The one line Ctrl-C gives; then this process's stderr goes to the report folder's log, so that what Dask
    prints while it shuts down half-way (lost keys, cancelled tasks, a half-started cluster) stays off the
    terminal."""
    click.echo(f"m0sim run paper-table: interrupted; finished cells are kept in {Path(out) / 'cells'}, "
               f"rerun to resume", err=True)
    E.stderr_to(Path(out) / WORKER_LOG)


def check_study_folder(out: Path, cells: Path):
    """Refuse, before any work, a report folder the run could not finish in: a directory standing where
    results.json, table.md or a cell's result file belongs, or a cell file of JSON that is not a record (an
    object). A cell file that is not JSON at all stays what it was: unfinished, so the cell runs again."""
    for name in REPORT_FILES:
        if (out / name).is_dir():
            raise InputError(f"{out / name}: is a directory where the study's {name} belongs; remove it")
    for path in sorted(cells.iterdir()):
        if path.name.startswith("."):  # a temporary of an interrupted write
            continue
        if path.is_dir():
            raise InputError(f"{path}: is a directory where a cell's result file belongs; remove it")
        try:
            record = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            raise InputError(f"{path}: holds a JSON {type(record).__name__}, not a cell record (an object); "
                             f"remove it and the cell runs again")


def _models(value) -> list:
    """The model families of ``--model`` (None: every one the study knows, in report order)."""
    chosen = _list(value) or list(grid.FAMILIES)
    for m in chosen:
        if m not in grid.FAMILIES:
            raise InputError(f"--model: the study knows {', '.join(grid.FAMILIES)}, not {m!r}")
    return list(dict.fromkeys(chosen))


def build_studies(preset, seeds, names, families, widths, angles, samples, n_test, epochs, pretrain, device, val=None,
                  models=None, dataset=None, data_path=None) -> list:
    """One study per model family the options ask for, every bound checked (grid size, images the data set
    holds) before any work."""
    models = _models(models)
    if len(models) > 1 and widths is not None:
        raise InputError(f"--widths: width factors differ per model; give one --model ({', '.join(models)})")
    if len(models) > 1 and (dataset is not None or data_path is not None):
        raise InputError("--dataset/--data-path: give one --model (each model adapts on its own data set)")
    over = {k: v for k, v in (("samples", samples), ("test", n_test), ("epochs", epochs), ("pretrain", pretrain),
                              ("val", val), ("dataset", dataset),
                              ("data_path", None if data_path is None else str(data_path))) if v is not None}
    studies = []
    for family in models:
        study = grid.restrict(grid.preset(preset, seeds, family), names=_list(names), families=_list(families),
                              widths=_widths(widths), angles=_angles(angles), device=device, **over)
        available = len(data.load_dataset(study.data, study.data_path))
        rotate.check_split_sizes(study.pretrain_images, study.samples, study.test, available)
        studies.append(study)
    return studies


def _staged(studies, run) -> tuple:
    """(studies as run, outcomes): each study run in its two stages (``extension``)."""
    done = [extension.run_in_stages(st, run) for st in studies]
    return [st for st, _ in done], [o for _, o in done]


def main(studies, out, scheduler, workers, resume, figures=True, echo=click.echo, report_only=False) -> dict:
    """Run ``studies`` (one per model family) and write their report into ``out``; returns the summary
    (results.json). ``report_only``: run nothing, report the cells already finished (a partial run's table)."""
    cells_dir = check_writable(Path(out))
    check_study_folder(Path(out), cells_dir)
    t0 = time.monotonic()
    if report_only:
        studies, outcomes = _staged(studies, lambda st: E.run_study(st, None, cells_dir, execute=False))
        info = {"engine": "none", "kind": "report only", "workers": 0}
    else:
        eng = E.connect(scheduler, workers, worker_log=Path(out) / WORKER_LOG)
        def run(st):
            stage = "second stage, " if st.extended else ""
            echo(f"paper-table: {st.family}: {stage}{len(st.settings)} settings x {len(st.seeds)} seeds"
                 + (f" (+{st.more_seeds} at {', '.join(s.label for s in st.settings if s.key in st.extended)})"
                    if st.extended else "")
                 + f" x {len(st.methods)} methods on {eng.info['kind']} ({eng.info['workers']} workers); results in "
                   f"{cells_dir}")
            return E.run_study(st, eng, cells_dir, resume=resume, echo=echo)

        try:
            studies, outcomes = _staged(studies, run)
        except KeyboardInterrupt:
            say_interrupted(out)  # before closing: Dask's complaints about the work cut short go to the log
            raise InterruptionReported from None
        finally:
            eng.close()
        info = eng.info
    summary = report.summarize(studies, outcomes, info, time.monotonic() - t0)
    report.write(summary, Path(out))
    if figures:
        from priot.experiments.study import figures as F
        summary["figures"] = F.write_all(summary, Path(out))
        report.write(summary, Path(out))
    return summary


@click.command("paper-table")
@click.option("--quick", "preset", flag_value="quick", help="One width at 90 degrees, 3 seeds, few samples (minutes).")
@click.option("--full", "preset", flag_value="full", help="Every width at every angle, 1,000 images: for a cluster.")
@click.option("--model", "models", default=None,
              help=f"Comma list of model families ({', '.join(grid.FAMILIES)}) [all: one report, a section each].")
@click.option("--dataset", default=None, type=click.Choice(["mnist5k", "mnist", "fashion", "cifar10"]),
              help="Data set to adapt on (with one --model) [the model's: tiny_cnn mnist5k, vgg11 fashion].")
@click.option("--data-path", default=None, type=click.Path(exists=True),
              help="Dataset file or directory (mnist, fashion; cifar10's cifar-10-batches-py).")
@click.option("--seeds", default=None, type=int,
              help="Seeds, each tuned on its own validation split (each draws splits, pretraining, order) "
                   "[preset: " + "; ".join(f"{f} " + ", ".join(f"{k} {p.seeds}" for k, p in ps.items())
                                          for f, ps in grid.PLANS.items()) + "].")
@click.option("--methods", "names", default=None, help="Comma list of registered methods [all].")
@click.option("--families", default=None, help="Comma list of method families [all].")
@click.option("--widths", default=None, help="Comma list of width factors, e.g. 1,2 (replaces the preset's grid).")
@click.option("--angles", default=None, help="Comma list of angles and/or 'random' (replaces the preset's grid).")
@click.option("--samples", default=None, type=click.IntRange(10), help="Rotated training digits [preset].")
@click.option("--test", "n_test", default=None, type=click.IntRange(10), help="Rotated test digits [preset].")
@click.option("--val", default=None, type=click.IntRange(1, 100_000),
              help=f"Validation digits held out of --samples while tuning [{grid.VAL}].")
@click.option("--epochs", default=None, type=click.IntRange(1, 100), help="Epochs [preset].")
@click.option("--pretrain", default=None, type=click.IntRange(10), help="Upright pretraining digits [preset].")
@click.option("--device", is_flag=True, help="Final runs also on the emulated Pico in lockstep (bit-exact or fail).")
@click.option("--scheduler", default=None, help="Address of a running `dask scheduler` (host:port).")
@click.option("--workers", default=os.cpu_count() or 1, show_default=True, type=click.IntRange(1, 256),
              help="LocalCluster worker processes (without --scheduler).")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Skip cells whose result file exists.")
@click.option("--out", default="report", show_default=True, type=click.Path(file_okay=False),
              help="Report folder: table.md, results.json, figures, cells/.")
@click.option("--no-figures", is_flag=True, help="Skip the PNG figures.")
@click.option("--report-only", is_flag=True, help="Run nothing: report the cells already finished in --out.")
@click.option("--verify", "verify_k", default=None, type=click.IntRange(1),
              help=f"Run nothing new: re-run K finished cells of --out chosen at random and compare them bit for "
                   f"bit; exit {VERIFY_FAILED} naming any that differ.")
@click.option("--verify-seed", default=0, show_default=True, type=int, help="Seed of --verify's random choice.")
@click.pass_context
def experiment(ctx, preset, models, dataset, data_path, seeds, names, families, widths, angles, samples, n_test, val,
               epochs, pretrain, device, scheduler, workers, resume, out, no_figures, report_only, verify_k, verify_seed):
    """PRIOT and PRIOT-S against every registered baseline, tuned on validation, over seeds, angles, widths.

    Exit codes: 0 done; 1 some cells failed; 2 bad input; 3 --verify found cells that differ; 130 interrupted."""
    try:
        studies = build_studies(preset or "default", seeds, names, families, widths, angles, samples, n_test, epochs,
                                pretrain, device, val, models, dataset, data_path)
        if verify_k is not None:
            from priot.experiments.study.verify import verify
            differ = verify(studies, check_writable(Path(out)), verify_k, verify_seed, echo=click.echo)
            for line in differ:
                click.echo(f"m0sim run paper-table: verify: cell {line}", err=True)
            click.echo(f"verify: {verify_k} cell(s) re-run, {len(differ)} differ")
            ctx.exit(VERIFY_FAILED if differ else 0)
        summary = main(studies, out, scheduler, workers, resume, figures=not no_figures, report_only=report_only)
    except (PriotError, InputError) as exc:
        click.echo(f"m0sim run paper-table: error: {exc}", err=True)
        ctx.exit(2)
    except InterruptionReported:
        ctx.exit(130)
    except KeyboardInterrupt:
        say_interrupted(out)
        ctx.exit(130)
    click.echo(Path(out, "table.md").read_text())
    c = summary["cells"]
    click.echo(f"{c['total']} cells ({c['ran']} run, {c['skipped']} reused"
               + (f", {c['missing']} not run yet" if c["missing"] else "")
               + f"), {summary['engine']['wall_seconds']:.0f} s; report in {out}/")
    if summary["failed"]:
        click.echo(f"m0sim run paper-table: {len(summary['failed'])} cell(s) failed (listed in {out}/table.md; "
                   f"their errors are in their result files); rerun to retry them", err=True)
        sys.exit(1)
