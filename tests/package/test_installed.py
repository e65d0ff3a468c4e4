"""m0sim as a user installs it: the wheel, built from the checkout's files, in a fresh virtual environment outside
the repository, run from an empty directory with an empty cache. Everything a command needs at run time must come
from the wheel (start-up code, linker-script template, native counters, PRIOT kernels), so a file missing from
the package data fails here."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from priot.data import MNIST5K_INSTALL

pytestmark = pytest.mark.installed
REPO = Path(__file__).resolve().parents[2]

HELLO = r"""
#include <stdio.h>
int main(void)
{
    int sum = 0;
    for (int i = 1; i <= 10; i++) sum += i * i;
    printf("sum of squares %d\n", sum);
    return sum % 100;
}
"""


def _clone(dest: Path):
    """The files a clone of this checkout holds (tracked and new, not ignored), links kept as links."""
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    for name in filter(None, listing.split("\0")):
        src, dst = REPO / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)


def _run(cmd, cwd, env, timeout=600):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_in_a_fresh_venv_runs_cc_exec_and_priot_s(tmp_path):
    src, wheels, venv, work, cache = (tmp_path / d for d in ("src", "wheels", "venv", "work", "cache"))
    work.mkdir()
    assert REPO not in tmp_path.parents
    # a clean environment: no checkout on any path, an empty m0sim cache; the compilers stay on PATH
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path)), "M0SIM_CACHE": str(cache),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "LANG": "C.UTF-8"}
    _clone(src)
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", venv], tmp_path, env)
    py, m0sim = venv / "bin" / "python", venv / "bin" / "m0sim"
    _run([py, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, src], tmp_path, env)
    (wheel,) = wheels.glob("m0sim-*.whl")
    _run([py, "-m", "pip", "install", "-q", wheel], tmp_path, env)
    _run([py, "-m", *MNIST5K_INSTALL.split(), "-q"], tmp_path, env)  # as --help tells an installed user
    shutil.rmtree(src)  # nothing may lean on the sources the wheel was built from

    where = _run([py, "-c", "import m0sim, priot.device.firmware as f; print(m0sim.__file__); print(f.KERNEL_DIR)"],
                 work, env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where

    (work / "hello.c").write_text(HELLO)
    _run([m0sim, "cc", "hello.c", "-o", "hello.elf"], work, env)
    run = subprocess.run([m0sim, "exec", "hello.elf"], cwd=work, env=env, capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (85, "sum of squares 385\n"), run.stderr

    proc = _run([m0sim, "run", "priot-s", "--samples", "5", "--test", "5", "--epochs", "1", "--json", "r.json"],
                work, env)
    summary = json.loads((work / "r.json").read_text())["summary"]
    assert summary["bit_exact"] and summary["steps"] == 5 and summary["cycles_per_step"] > 1_000_000
    built = [l for l in proc.stderr.splitlines() if l.startswith("m0sim: built firmware")]
    assert len(built) == 1 and "priot-tiny_cnn-priot-s" in built[0] and str(cache / "firmware") in built[0]
    assert sorted(p.name for p in work.iterdir()) == ["hello.c", "hello.elf", "r.json"]
