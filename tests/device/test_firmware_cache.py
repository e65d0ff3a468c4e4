"""Firmware built on first use into the cache: keyed by every input's content, so a change gives a new build and
an unchanged copy of the sources elsewhere (another checkout, an installed package) finds the same file."""

import shutil

from priot.device import firmware
from priot.methods import variant

MAIN = '#include "value.h"\n#include "gen.h"\nint main(void) { return VALUE + GENERATED; }\n'


def test_cached_build_is_keyed_by_content(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "a"
    src.mkdir()
    (src / "main.c").write_text(MAIN)
    (src / "value.h").write_text("#define VALUE 1\n")

    first = firmware.cached_build("t", [src / "main.c"], includes=[src], generated={"gen.h": "#define GENERATED 2\n"})
    assert first.parent == tmp_path / "cache" / "firmware" and first.name.startswith("t-")
    assert len(capsys.readouterr().err.splitlines()) == 1  # "m0sim: built firmware t in ..."

    copy = tmp_path / "b"  # the same sources somewhere else: the same file, not built again
    shutil.copytree(src, copy)
    again = firmware.cached_build("t", [copy / "main.c"], includes=[copy], generated={"gen.h": "#define GENERATED 2\n"})
    assert again == first and capsys.readouterr().err == ""

    (copy / "value.h").write_text("#define VALUE 3\n")  # a header beside the sources changed
    changed = firmware.cached_build("t", [copy / "main.c"], includes=[copy], generated={"gen.h": "#define GENERATED 2\n"})
    other_gen = firmware.cached_build("t", [src / "main.c"], includes=[src], generated={"gen.h": "#define GENERATED 5\n"})
    flags = firmware.cached_build("t", [src / "main.c"], includes=[src], generated={"gen.h": "#define GENERATED 2\n"},
                                  flags=["-DUNUSED"])
    assert len({first, changed, other_gen, flags}) == 4
    assert len(capsys.readouterr().err.splitlines()) == 3


def test_default_firmware_comes_from_the_shipped_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path))
    from priot.models import tiny_cnn

    elf = firmware.locate(tiny_cnn(), variant("none"))
    assert elf.parent == tmp_path / "firmware" and elf.name.startswith("priot-tiny_cnn-none-")
    assert firmware.KERNEL_DIR == firmware.KERNELS / "priot" and (firmware.KERNEL_DIR / "priot_device.c").is_file()
    assert firmware.locate(tiny_cnn(), variant("none")) == elf
