"""Caches and result files: written whole or not at all, checked before use, rebuilt with one notice."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from m0sim import cachefile
from m0sim.errors import InputError



def run_with_cache(cache, *args):
    env = {"M0SIM_CACHE": str(cache), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "m0sim", *map(str, args)], capture_output=True, text=True,
                          env=env)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_native_library_is_rebuilt(firmware, tmp_path, damage):
    elf = firmware("int main(void){ return 5; }\n")
    assert run_with_cache(tmp_path, "exec", elf).returncode == 5
    (so,) = (tmp_path / "native").glob("*.so")
    blob = so.read_bytes()
    so.write_bytes({"truncate": blob[:5000], "garbage": b"\x7fELF garbage" * 100, "empty": b""}[damage])
    proc = run_with_cache(tmp_path, "exec", elf)  # before: SIGBUS, or a traceback from dlopen
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.count("\n") == 1 and "damaged" in proc.stderr and "rebuilding" in proc.stderr
    assert so.read_bytes() == blob
    assert run_with_cache(tmp_path, "exec", elf).stderr == ""  # rebuilt once


def test_cache_dir_that_is_a_file(firmware, tmp_path):
    elf = firmware("int main(void){ return 5; }\n")
    (tmp_path / "cache").write_text("not a directory")
    proc = run_with_cache(tmp_path / "cache", "exec", elf)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("m0sim: error: ") and proc.stderr.count("\n") == 1


def test_atomic_write_leaves_no_temporary_and_is_beside_the_target(tmp_path, monkeypatch):
    seen = []
    real_replace = cachefile.os.replace
    monkeypatch.setattr(cachefile.os, "replace", lambda a, b: (seen.append((Path(a), Path(b))), real_replace(a, b)))
    cachefile.write_text(tmp_path / "sub" / "x.json", "{}")
    (src, dst), = seen
    assert src.parent == dst.parent and src != dst
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["x.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with cachefile.atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_concurrent_writers_never_tear_a_file(tmp_path):
    target = tmp_path / "x.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    errors = []

    def writer(data):
        try:
            for _ in range(10):
                cachefile.write_bytes(target, data)
                got = target.read_bytes()
                if got not in payloads:
                    errors.append(len(got))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=writer, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_check_writable(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        cachefile.check_writable(tmp_path / "missing" / "x.json")
    with pytest.raises(InputError, match="is a directory"):
        cachefile.check_writable(tmp_path)
    assert cachefile.check_writable(tmp_path / "ok.json") == tmp_path / "ok.json"
