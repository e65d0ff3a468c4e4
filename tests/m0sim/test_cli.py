"""The documented user path: `m0sim cc` a C program, `m0sim exec` it, inspect it with info/disasm/profile."""

import json

HELLO = r"""
#include <stdio.h>
#include <stdlib.h>
int square(int x) { return x * x; }
int main(void)
{
    printf("hello, pico: %d\n", square(7));
    fprintf(stderr, "to stderr\n");
    return 3;
}
"""


def test_cc_then_exec_hello(cli, tmp_path):
    src = tmp_path / "hello.c"
    src.write_text(HELLO)
    elf = tmp_path / "hello.elf"
    built = cli("cc", src, "-o", elf, "-O1", "-DUNUSED=1")
    assert built.returncode == 0, built.stderr
    proc = cli("exec", elf, "--stats")
    assert proc.returncode == 3
    assert proc.stdout == "hello, pico: 49\n"
    assert "to stderr" in proc.stderr and "instructions" in proc.stderr


def test_cc_passes_include_and_define_flags_through(cli, tmp_path):
    # -Iinclude-dir holds an 'o': it must reach gcc whole, not be read as -o
    inc = tmp_path / "include-dir"
    inc.mkdir()
    (inc / "answer.h").write_text("#define ANSWER (VALUE + 1)\n")
    src = tmp_path / "main.c"
    src.write_text('#include "answer.h"\nint main(void) { return ANSWER; }\n')
    elf = tmp_path / "answer.elf"
    built = cli("cc", src, f"-I{inc}", "-DVALUE=41", "-o", elf, "--stack-size", "1024")
    assert built.returncode == 0, built.stderr
    assert cli("exec", elf).returncode == 42
    # the --option=value spelling of m0sim's own options
    built = cli("cc", src, f"-I{inc}", "-DVALUE=9", f"--output={elf}", "--stack-size=512")
    assert built.returncode == 0, built.stderr
    assert cli("exec", elf).returncode == 10


def test_info_json_and_text(cli, firmware):
    elf = firmware(HELLO)
    data = json.loads(cli("info", elf, "--json").stdout)
    names = {s["name"] for s in data["symbols"]}
    assert {"main", "square"} <= names
    fp = data["footprint"]
    assert fp["flash"] == fp["text"] + fp["rodata"] + fp["data"] and fp["text"] > 0
    assert data["sram_bytes"] == 264 * 1024 and data["flash_bytes"] == 2 * 1024 * 1024
    text = cli("info", elf).stdout
    assert "flash:" in text and "of 2097152" in text and "of 270336" in text


def test_disasm_shows_thumb(cli, firmware):
    out = cli("disasm", firmware(HELLO), "square").stdout
    assert "muls" in out and "<square+0x0>" in out


def test_profile_call_json(cli, firmware):
    data = json.loads(cli("profile", firmware(HELLO), "--call", "square", "12", "--json").stdout)
    assert data["returned"] == 144
    assert data["instructions"] > 0 and data["functions"][0]["name"] == "square"


NEEDS_LIBM = ('#include <math.h>\n#include "scale.h"\nvolatile double x = 2.0;\n'
              'int main(void) { return (int)(sqrt(x) * SCALE); }\n')


def test_cc_links_libraries_however_gcc_accepts_them(cli, tmp_path):
    """`-l m`, `-lm`, `-Wl,-lm` and `-Xlinker -lm` all link libm as gcc does (after the sources), and `-I dir`
    takes its directory as a value, not as a source."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "scale.h").write_text("#define SCALE 100\n")
    src = tmp_path / "root.c"
    src.write_text(NEEDS_LIBM)
    elf = tmp_path / "root.elf"
    for spelling in (["-l", "m"], ["-lm"], ["-Wl,-lm"], ["-Xlinker", "-lm"]):
        built = cli("cc", *spelling, src, "-I", tmp_path / "inc", "-o", elf)
        assert built.returncode == 0, (spelling, built.stderr)
        assert cli("exec", elf).returncode == 141, spelling
        elf.unlink()
    assert "option -l needs a value" in cli("cc", src, "-o", elf, "-l").stderr
