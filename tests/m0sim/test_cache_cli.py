"""The build cache as a user meets it: `m0sim cache info|clean`, a directory where an entry belongs, and keys
that change when the compiler does."""

import fcntl
import json
import os

import pytest
from test_bad_input import INPUT, assert_one_line_error

from m0sim import cache, cacheinfo, toolchain
from m0sim.errors import InputError

OLD, NEW = "0123456789abcdef", "fedcba9876543210"


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path / "c"))
    return tmp_path / "c"


def fill(root):
    """A cache with one stale thing of each kind, live entries, and a file that is not the cache's."""
    fw = root / "firmware"
    fw.mkdir(parents=True)
    for key, age in ((OLD, 100), (NEW, 0)):
        (fw / f"prog-{key}.elf").write_bytes(b"x" * 1000)
        (fw / f"prog-{key}.elf.lock").touch()
        os.utime(fw / f"prog-{key}.elf", (1e9 - age, 1e9 - age))
    (fw / f"other-{OLD}.elf").write_bytes(b"y" * 10)  # the only build of its name: kept
    (fw / f".other-{NEW}.elf.ab12cd34.tmp").write_bytes(b"z" * 7)  # an interrupted build
    (fw / f"gone-{OLD}.elf.lock").touch()  # its entry was removed by hand
    (fw / f"dir-{OLD}.elf").mkdir()  # a directory in the way
    (root / f"backbone-m-d-s0-{OLD[:12]}.npz").write_bytes(b"b" * 300)
    (root / f"backbone-m-d-s1-{NEW[:12]}.npz").write_bytes(b"b" * 300)  # another seed, not a newer build
    (root / "notes.txt").write_text("mine")  # not a cache file: never touched


def names(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_info_counts_and_sizes(cli, cache_dir):
    fill(cache_dir)
    proc = cli("cache", "info", "--json")
    assert proc.returncode == 0, proc.stderr
    places = json.loads(proc.stdout)["places"]
    assert places["."] == {"files": 2, "bytes": 600, "stale_files": 0, "stale_bytes": 0}
    assert places["firmware"] == {"files": 8, "bytes": 2017, "stale_files": 4, "stale_bytes": 1007}
    text = cli("cache", "info").stdout
    assert "firmware" in text and "2.0 KB" in text and str(cache_dir) in text


def test_clean_removes_only_what_is_stale(cli, cache_dir):
    fill(cache_dir)
    proc = cli("cache", "clean")
    assert proc.returncode == 0 and "removed 4 file(s), 1007 B" in proc.stdout, proc.stderr
    assert names(cache_dir) == sorted([
        f"backbone-m-d-s0-{OLD[:12]}.npz", f"backbone-m-d-s1-{NEW[:12]}.npz", "firmware", "notes.txt",
        f"firmware/other-{OLD}.elf", f"firmware/prog-{NEW}.elf", f"firmware/prog-{NEW}.elf.lock",
        f"firmware/prog-{OLD}.elf.lock"])  # the old build's lock goes at the next clean (its entry is gone now)
    assert "removed 1 file(s)" in cli("cache", "clean").stdout


def test_clean_all_keeps_foreign_files_and_builds_under_way(cli, cache_dir):
    fill(cache_dir)
    with open(cache_dir / "firmware" / f"other-{OLD}.elf.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build of this entry is running
        proc = cli("cache", "clean", "--all")
    assert proc.returncode == 0, proc.stderr
    assert names(cache_dir) == ["firmware", f"firmware/other-{OLD}.elf", f"firmware/other-{OLD}.elf.lock",
                                "notes.txt"]


def test_info_of_a_missing_cache_and_of_a_file(cli, cache_dir):
    assert cli("cache", "info").returncode == 0
    cache_dir.write_text("")
    assert_one_line_error(cli("cache", "info"), INPUT, "is a file, not a directory")


def test_directory_at_the_native_library_is_one_line(cli, cache_dir, firmware):
    from m0sim.native import library_path
    elf = firmware("int main(void){ return 0; }\n")
    library_path().mkdir(parents=True)
    assert_one_line_error(cli("exec", elf), INPUT, "is a directory where the native counters library belongs")


@pytest.mark.parametrize("what", ["entry", "lock"])
def test_directory_at_an_entry_or_its_lock_is_one_line(cache_dir, what):
    path = cache_dir / "firmware" / f"p-{OLD}.elf"
    (path if what == "entry" else cache.lock_path_of(path)).mkdir(parents=True)
    with pytest.raises(InputError, match="is a directory where the cache entry"):
        cache.build_once(path, lambda out: pytest.fail("built although the entry cannot be stored"))


def test_firmware_key_includes_the_compiler_version(monkeypatch):
    first = toolchain.fingerprint()
    assert toolchain.compiler_version().startswith("arm-none-eabi-gcc") and first[-1] == toolchain.compiler_version()
    monkeypatch.setattr(toolchain, "_version_line", lambda path: "arm-none-eabi-gcc 99.0")
    assert toolchain.fingerprint()[:-1] == first[:-1] and toolchain.fingerprint()[-1] == "arm-none-eabi-gcc 99.0"
