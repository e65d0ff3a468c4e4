"""The build cache: a file is built once even when several processes ask for it at the same moment."""

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from m0sim import cache


def _build_slowly(target: str, log: str, start):
    def build(tmp: Path):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(0.3)  # the others ask while this one builds
        tmp.write_text("built\n")

    start.wait()  # every process asks at the same moment
    cache.build_once(Path(target), build, what="test artefact")


def test_concurrent_first_use_builds_once(tmp_path):
    target, log = tmp_path / "cache" / "thing.bin", tmp_path / "builds.log"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_build_slowly, args=(str(target), str(log), start)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs)
    assert len(log.read_text().split()) == 1
    assert target.read_text() == "built\n"
    # only the file and its lock remain: no temporary file is left in the cache's directory
    assert sorted(p.name for p in target.parent.iterdir()) == ["thing.bin", "thing.bin.lock"]


def test_failed_build_leaves_nothing(tmp_path):
    target = tmp_path / "thing.bin"

    def fail(tmp: Path):
        tmp.write_text("half")
        raise RuntimeError("compiler said no")

    with pytest.raises(RuntimeError):
        cache.build_once(target, fail)
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == ["thing.bin.lock"]
    cache.build_once(target, lambda tmp: tmp.write_text("ok"))  # the next call builds it
    assert target.read_text() == "ok"


def test_build_says_so_once_on_stderr(tmp_path, capsys):
    target = tmp_path / "thing.bin"
    cache.build_once(target, lambda tmp: tmp.write_text("ok"), what="the thing")
    cache.build_once(target, lambda tmp: tmp.write_text("again"), what="the thing")
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("m0sim: built the thing in ") and str(target) in err[0]
    assert target.read_text() == "ok"


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path))
    assert cache.root() == tmp_path
    monkeypatch.delenv("M0SIM_CACHE")
    assert cache.root() == Path.home() / ".cache" / "m0sim"


def test_missing_cross_compiler_names_the_debian_packages(tmp_path):
    src = tmp_path / "main.c"
    src.write_text("int main(void) { return 0; }\n")
    env = {**os.environ, "PATH": str(tmp_path)}  # no arm-none-eabi-gcc here
    proc = subprocess.run([sys.executable, "-m", "m0sim", "cc", str(src), "-o", str(tmp_path / "m.elf")],
                          capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "arm-none-eabi-gcc not found" in lines[0]
    assert "gcc-arm-none-eabi" in lines[0] and "libnewlib-arm-none-eabi" in lines[0]
