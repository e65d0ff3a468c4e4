"""Build, find and check the PRIOT firmware variants (one ELF per method, from the kernels shipped with priot).

The C header is generated from priot/device/layout.py; its hash is compiled into the firmware as
`priot_layout_hash` and compared before every run, so a stale ELF is never used silently. A variant is built
on first use into the user cache (m0sim.cache), under a name keyed by everything that goes into it: the kernel
sources, the generated header and the flags. `make kernels` builds the default variants into the same place.
"""

import tempfile
from pathlib import Path

from m0sim import cache, toolchain
from m0sim.loader import load_program
from m0sim.errors import InputError
from m0sim.toolchain import compile_program
from priot.device.layout import header, layout_hash, make_layout, scored_layers
from priot.methods import DEFAULTS, Variant, names, variant
from priot.models import tiny_cnn

# The C sources travel with the package (package data); in a checkout this folder is a link to kernels/.
KERNELS = Path(__file__).resolve().parent / "kernels"
KERNEL_DIR = KERNELS / "priot"
CFLAGS = ["-Wextra"]
# The stack the linker sets aside: a training step peaks near 1 KB (`m0sim run` reports it; no recursion, no
# variable-length arrays; the top-k histogram is 512 B), and the emulator faults on any overflow of it.
STACK_RESERVE = 4 * 1024


def sources(directory: Path = KERNEL_DIR) -> list[Path]:
    found = sorted([*directory.glob("*.c"), *directory.glob("*.S")])
    if not found:
        raise InputError(f"PRIOT kernel sources not found in {directory}: the priot package is incomplete "
                         f"(reinstall it, or run from a checkout)")
    return found


def cache_dir() -> Path:
    return cache.root() / "firmware"


def cached_build(name: str, srcs, includes=(KERNEL_DIR,), generated: dict[str, str] | None = None,
                 flags=CFLAGS, stack_size: int = toolchain.DEFAULT_STACK_SIZE) -> Path:
    """`srcs` compiled with `flags` and the headers of `includes` (plus `generated` headers, name -> text) into
    the cache, on first use.

    The ELF's name carries a hash of every input's content (not of where the package is installed): the
    sources, the headers beside them and in `includes`, the generated headers, the flags, and the toolchain's
    own start-up code, flags and linker script.
    """
    srcs, includes, generated = [Path(s) for s in srcs], [Path(d) for d in includes], generated or {}
    headers = sorted({h for d in {*includes, *(s.parent for s in srcs)} for h in d.glob("*.h")})
    parts = [p for f in [*srcs, *headers] for p in (f.name, f.read_bytes())]
    parts += [p for k in sorted(generated) for p in (k, generated[k])]
    key = cache.digest(*parts, *flags, f"stack {stack_size}", *toolchain.fingerprint(flags))
    path = cache_dir() / f"{name}-{key}.elf"

    def build(out: Path):
        with tempfile.TemporaryDirectory(prefix="priot-hdr-") as tmp:
            for hname, text in generated.items():
                (Path(tmp) / hname).write_text(text)
            compile_program(srcs, out, [f"-I{d}" for d in (tmp, *includes)] + list(flags), stack_size=stack_size)

    return cache.build_once(path, build, what=f"firmware {name}")


def variant_name(model, v: Variant) -> str:
    """The firmware's file name: model, method, and the scored fraction and layers when they are its own, and
    the score knobs that are not their defaults."""
    suffix = f"-p{v.fraction:g}" if v.sized else ""
    if v.trains == "scores" and v.score_layers is not None:
        suffix += "-L" + "".join(str(j) for j in scored_layers(make_layout(model), v.score_layers))
    suffix += "".join(f"-{value}" for value in v.knobs.values())
    return f"priot-{model.name}-{v.method}{suffix}"


def build(model, v: Variant, out_dir: Path | None = None) -> Path:
    """The firmware of one variant: from the cache, built on first use; or compiled into `out_dir` when given."""
    name = variant_name(model, v)
    text = header(make_layout(model), v)
    try:
        if out_dir is None:
            return cached_build(name, sources(), generated={"priot_layout.h": text}, stack_size=STACK_RESERVE)
        with tempfile.TemporaryDirectory(prefix="priot-hdr-") as tmp:
            (Path(tmp) / "priot_layout.h").write_text(text)
            return compile_program(sources(), Path(out_dir) / f"{name}.elf", ["-I", tmp, "-I", str(KERNEL_DIR),
                                                                               *CFLAGS], stack_size=STACK_RESERVE)
    except InputError as exc:
        raise _does_not_fit(str(exc), model, v.method) or exc from None


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


def expected_hash(model, v: Variant) -> int:
    return layout_hash(header(make_layout(model), v))


def locate(model, v: Variant, path: Path | None = None) -> Path:
    """The firmware ELF for a run: the given path (checked, never rebuilt), else the cached build of the
    installed sources (built on first use)."""
    if path is None:
        return build(model, v)
    path, want = Path(path), expected_hash(model, v)
    if not path.exists():
        raise InputError(f"kernel ELF {path} not found (leave out the firmware path to use the build of the "
                         f"current sources, made on first use or by `make kernels`)")
    got = _hash_of(path)
    if got != want:
        raise InputError(f"kernel ELF {path} is stale or built for another method (layout 0x{got:08x}; "
                         f"{v.method} needs 0x{want:08x}, as in {variant_name(model, v)}.elf): "
                         f"leave out the firmware path to use the build of the current sources")
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


def default_variant(method: str) -> Variant:
    """A method's variant with the methods' default options (scored fraction and layers)."""
    return variant(method, DEFAULTS.frac, DEFAULTS.score_layers)


def build_defaults() -> list[Path]:
    """The firmware of every registered device method for the tiny CNN with the methods' default options
    (`make kernels`)."""
    return [build(tiny_cnn(), default_variant(method)) for method in names(device=True)]
