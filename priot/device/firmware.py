"""Build, find and check the PRIOT firmware variants (one ELF per method, from kernels/priot/).

The C header is generated from priot/device/layout.py; its hash is compiled into the firmware as
`priot_layout_hash` and compared before every run, so a stale ELF is never used silently.
"""

import tempfile
from pathlib import Path

from m0sim.elf import load_program
from m0sim.errors import InputError
from m0sim.toolchain import compile_program
from priot.device.layout import header, layout_hash, make_layout, scored_layers

REPO = Path(__file__).resolve().parents[2]
KERNEL_DIR = REPO / "kernels" / "priot"
BUILD_DIR = REPO / "build" / "kernels"
CFLAGS = ["-Wextra"]


def variant_name(model, method: str, frac: float, layers=None) -> str:
    suffix = f"-p{frac:g}" if method == "priot-s" else ""
    if method.startswith("priot") and layers is not None:
        suffix += "-L" + "".join(str(j) for j in scored_layers(make_layout(model), layers))
    return f"priot-{model.name}-{method}{suffix}"


def build(model, method: str, frac: float = 1.0, layers=None, out_dir: Path = BUILD_DIR) -> Path:
    """Compile the firmware for one method (PRIOT-S scored fraction, scored layers) into out_dir."""
    sources = sorted([*KERNEL_DIR.glob("*.c"), *KERNEL_DIR.glob("*.S")])
    if not sources:
        raise InputError(f"PRIOT kernel sources not found in {KERNEL_DIR}")
    text = header(make_layout(model), method, frac, layers)
    out = Path(out_dir) / f"{variant_name(model, method, frac, layers)}.elf"
    with tempfile.TemporaryDirectory(prefix="priot-hdr-") as tmp:
        (Path(tmp) / "priot_layout.h").write_text(text)
        try:
            compile_program(sources, out, ["-I", tmp, "-I", str(KERNEL_DIR), *CFLAGS])
        except InputError as exc:
            raise _does_not_fit(str(exc), model, method) or exc from None
    return out


def _does_not_fit(message: str, model, method: str) -> InputError | None:
    """The linker's region overflow, told as what does not fit where."""
    import re

    from m0sim import memmap

    parts = {name: int(n) for name, n in re.findall(r"region `(\w+)' overflowed by (\d+) bytes", message)}
    if "FLASH" in parts or "RAM" in parts or "static RAM and stack do not fit" in message:
        over_ram, over_flash = parts.get("RAM"), parts.get("FLASH")
        detail = []
        if over_ram is not None:
            detail.append(f"SRAM needs {memmap.SRAM.size + over_ram} bytes (static data, activations and training "
                          f"state) of {memmap.SRAM.size}")
        if over_flash is not None:
            detail.append(f"flash needs {memmap.XIP.size + over_flash} bytes of {memmap.XIP.size}")
        if not detail:
            detail.append(f"static RAM plus the stack reserve exceed the {memmap.SRAM.size} bytes of SRAM")
        return InputError(f"{model.name} with {method} does not fit the Pico: {'; '.join(detail)}")
    return None


def expected_hash(model, method: str, frac: float, layers=None) -> int:
    return layout_hash(header(make_layout(model), method, frac, layers))


def locate(model, method: str, frac: float, layers=None, path: Path | None = None, auto_build: bool = True) -> Path:
    """The firmware ELF for a run: the given path, else build/kernels/<variant>.elf (built when missing or
    stale and the sources are here). A missing or stale ELF that cannot be rebuilt is an error."""
    want = expected_hash(model, method, frac, layers)
    explicit = path is not None
    path = Path(path) if explicit else BUILD_DIR / f"{variant_name(model, method, frac, layers)}.elf"
    if not explicit and auto_build and KERNEL_DIR.is_dir() and (not path.exists() or _hash_of(path) != want):
        return build(model, method, frac, layers)
    if not path.exists():
        raise InputError(f"kernel ELF {path} not found: run `make kernels`")
    got = _hash_of(path)
    if got != want:
        raise InputError(f"kernel ELF {path} is stale or built for another method (layout 0x{got:08x}; "
                         f"{method} needs 0x{want:08x}, as in {variant_name(model, method, frac, layers)}.elf): "
                         f"run `make kernels`")
    return path


def _hash_of(path: Path) -> int | None:
    import numpy as np

    program = load_program(path)
    sym = program.symbols.get("priot_layout_hash")
    if sym is None:
        raise InputError(f"{path} is not a PRIOT firmware (no priot_layout_hash symbol)")
    for seg in program.segments:
        if seg.vaddr <= sym.addr < seg.vaddr + len(seg.data):
            off = sym.addr - seg.vaddr
            return int(np.frombuffer(seg.data[off:off + 4], "<u4")[0])
    return None


def build_defaults(out_dir: Path = BUILD_DIR) -> list[Path]:
    """Every method's firmware for the tiny CNN with the experiments' default options (`make kernels`)."""
    from priot.device.layout import METHODS
    from priot.experiments.device import DEFAULTS
    from priot.models import tiny_cnn

    layers = DEFAULTS["score_layers"]
    out = []
    for method in METHODS:
        frac = DEFAULTS["frac"] if method == "priot-s" else 1.0
        out.append(build(tiny_cnn(), method, frac, layers if method.startswith("priot") else None, out_dir))
    return out


if __name__ == "__main__":
    for path in build_defaults():
        print(f"wrote {path}")
