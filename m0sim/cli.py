"""The `m0sim` command line: build, inspect, run and profile firmware for the emulated Pico; run experiments.

Every error ends in one line on stderr and a non-zero exit code: 2 for bad input, 70 for a firmware fault,
124 for a firmware that ran out of budget; a firmware's own exit code passes through.
"""

import json
import sys
import time
from importlib.metadata import entry_points
from pathlib import Path

import click

from m0sim import energy, memmap, sigint
from m0sim.errors import InputError, M0simError
from m0sim.params import FiniteFloatRange

MAX_INSTRUCTIONS = 2**62  # the native counters add the budget to a 64-bit count
MAX_SECONDS = 1e6  # of emulated time: 1.25e14 cycles at 125 MHz, far inside the 64-bit counters

EXPERIMENT_GROUP = "m0sim.experiments"


def _usage_error(exc: click.ClickException):
    """A usage error (bad option value, unknown option) as one line, like every other error, and its exit code."""
    if isinstance(exc, getattr(click.exceptions, "NoArgsIsHelpError", ())):  # bare `m0sim`: the help it asked for
        exc.show()
        sys.exit(exc.exit_code)
    ctx = getattr(exc, "ctx", None)
    where = f"{ctx.command_path}: " if ctx is not None else ""
    click.echo(f"m0sim: error: {where}{exc.format_message()}", err=True)
    sys.exit(exc.exit_code)


class _Group(click.Group):
    """Turns m0sim's own errors and usage errors into one clear line and their exit code, with no traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            done = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:
            _usage_error(exc)
        except click.exceptions.Abort:  # Ctrl-C while click itself was parsing
            click.echo("m0sim: interrupted", err=True)
            sys.exit(130)
        sys.exit(done if isinstance(done, int) else 0)  # --help and --version return their exit code

    def invoke(self, ctx):
        try:
            with sigint.as_keyboard_interrupt():
                return super().invoke(ctx)
        except M0simError as exc:
            click.echo(f"m0sim: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("m0sim: interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(package_name="m0sim")
def main():
    """m0sim: a cycle-approximate Raspberry Pi Pico (RP2040, Cortex-M0+) emulator environment."""


def _budget_options(f):
    f = click.option("--max-instructions", type=click.IntRange(min=1, max=MAX_INSTRUCTIONS), default=None,
                     help="Stop with an error after this many instructions.")(f)
    f = click.option("--max-seconds", type=FiniteFloatRange(min=0, min_open=True, max=MAX_SECONDS), default=60.0,
                     show_default=True, help="Stop with an error after this much emulated time.")(f)
    f = click.option("--alignment-check/--no-alignment-check", default=True, show_default=True,
                     help="Fault on unaligned halfword/word accesses as a Cortex-M0+ does (free: the core checks).")(f)
    f = click.option("--clock-mhz", type=FiniteFloatRange(min=1, max=1000), default=memmap.CLOCK_HZ / 1e6,
                     show_default=True, help="clk_sys frequency.")(f)
    return f


def _machine(program, clock_mhz, alignment_check, stdout=None):
    from m0sim.soc import Pico  # both cores: core 1 waits in the bootrom unless the program launches it
    return Pico(program, clock_hz=int(clock_mhz * 1e6), alignment_faults=alignment_check, stdout=stdout)


def _budget(machine, max_seconds):
    return max(int(max_seconds * machine.clock.hz), 1)


def _energy(machine, stats):
    """The run's energy estimate, with the cycles each core slept in WFI (a core never launched: leakage only)."""
    wfi = [engine.exceptions.slept_cycles if engine is not None else 0
           for engine in (machine, getattr(machine, "core1", None))]
    return energy.of_stats(stats, wfi)


@main.command("exec")
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@_budget_options
@click.option("--stats", is_flag=True,
              help="Print instructions, cycles, time, RAM and an energy estimate on stderr after the run.")
def exec_(program, max_instructions, max_seconds, clock_mhz, alignment_check, stats):
    """Run PROGRAM.elf (or .uf2) from reset; its semihosting output goes to stdout and its exit code becomes ours."""
    m = _machine(program, clock_mhz, alignment_check)
    start = time.perf_counter()
    result = m.run(max_instructions=max_instructions, max_cycles=_budget(m, max_seconds))
    host = time.perf_counter() - start
    if stats:
        click.echo(f"m0sim: {program.name}: {result.stats.summary()}", err=True)
        click.echo(f"m0sim: {program.name}: {result.stats.realtime(host)}", err=True)
        if result.stats.cores:  # both cores ran: what the unmodelled bus contention could add
            click.echo(f"m0sim: {program.name}: {m.contention_bound().summary()}", err=True)
        click.echo(f"m0sim: {program.name}: {_energy(m, result.stats).summary()}", err=True)
    sys.exit(result.exit_code & 0xFF)


@main.command()
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(min=0, max=65535), default=3333, show_default=True,
              help="TCP port on 127.0.0.1 (0 picks a free one).")
@click.option("--max-seconds", type=FiniteFloatRange(min=0, min_open=True, max=MAX_SECONDS), default=60.0,
              show_default=True, help="Stop with an error after this much emulated time.")
@click.option("--clock-mhz", type=FiniteFloatRange(min=1, max=1000), default=memmap.CLOCK_HZ / 1e6,
              show_default=True, help="clk_sys frequency.")
@click.option("--trace", is_flag=True, help="Log the remote-protocol packets on stderr.")
@click.option("--once", is_flag=True,
              help="Exit with the program (its exit code; 0 when GDB kills it or goes away) instead of staying up "
                   "for the next GDB.")
def gdbserver(program, port, max_seconds, clock_mhz, trace, once):
    """Debug PROGRAM.elf (or .uf2) from GDB: `gdb-multiarch PROGRAM.elf -ex 'target remote :PORT'`.

    The server stays up across detaches and reconnections (the program runs on after `detach` as `exec` runs
    it) until interrupted, or with --once until the program ends."""
    from m0sim.loader import load_runnable
    from m0sim.gdbserver import serve
    log = (lambda line: click.echo(f"m0sim: rsp {line}", err=True)) if trace else None
    sys.exit(serve(load_runnable(program), port, int(clock_mhz * 1e6), max_seconds, log=log, once=once))


@main.command()
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--all-symbols", is_flag=True, help="List objects and functions of the C library too.")
def info(program, as_json, all_symbols):
    """Sections, symbols and the flash/RAM footprint of PROGRAM.elf against the Pico's 2 MB / 264 KB."""
    from m0sim.loader import load_program
    p = load_program(program)
    fp = p.footprint()
    symbols = sorted((s for s in p.symbols.values() if s.kind in ("func", "object") and (all_symbols or s.size)),
                     key=lambda s: s.addr)
    data = {
        "program": str(program), "entry": p.entry,
        "sections": [vars(s) for s in p.sections if "a" in s.flags],
        "symbols": [vars(s) for s in symbols],
        "footprint": fp, "flash_bytes": memmap.XIP.size, "sram_bytes": memmap.SRAM.size,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{program}: entry 0x{p.entry:08x}")
    click.echo(f"{'section':<16}{'address':>12}{'size':>10}  flags")
    for s in data["sections"]:
        click.echo(f"{s['name']:<16}{s['addr']:>#12x}{s['size']:>10}  {s['flags']}")
    click.echo(f"flash: {fp['flash']:>8} bytes of {memmap.XIP.size} ({100 * fp['flash'] / memmap.XIP.size:.2f}%)"
               f"  text {fp['text']}, rodata {fp['rodata']}, data image {fp['data_image']}")
    click.echo(f"SRAM:  {fp['static_ram']:>8} bytes of {memmap.SRAM.size} "
               f"({100 * fp['static_ram'] / memmap.SRAM.size:.2f}%) static: data {fp['data']} "
               f"(code {fp['sram_code']}), bss {fp['bss']}")
    click.echo(f"{'symbol':<32}{'address':>12}{'size':>8}  kind")
    for s in symbols:
        click.echo(f"{s.name:<32}{s.addr:>#12x}{s.size:>8}  {s.kind}")


@main.command()
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("symbol")
def disasm(program, symbol):
    """Disassemble SYMBOL of PROGRAM.elf (Thumb, with literal pools shown as data)."""
    from m0sim.decode import disassemble
    from m0sim.loader import load_program
    p = load_program(program)
    sym = p.symbol(symbol)
    if sym.size == 0:
        raise InputError(f"symbol '{symbol}' in {program} has no size to disassemble")
    image = _ImageReader(p)
    for lo, hi in _pieces(p, sym.addr, sym.addr + sym.size):
        chunk = image.get(lo, hi)
        if chunk[1] == "code":
            for line in disassemble(chunk[0], lo, 0):
                click.echo(f"{line:<48} <{p.describe(int(line[:10], 16))}>")
        else:
            for off in range(0, len(chunk[0]), 4):
                word = chunk[0][off:off + 4]
                click.echo(f"0x{lo + off:08x}: {word.hex():<8} .word 0x{int.from_bytes(word, 'little'):08x}")


class _ImageReader:
    """Bytes of the loaded image by address, and whether they are code or a literal pool."""

    def __init__(self, program):
        self.segments = program.segments
        self.code = program.code_ranges

    def get(self, lo, hi):
        for seg in self.segments:
            if seg.vaddr <= lo and hi <= seg.vaddr + len(seg.data):
                data = seg.data[lo - seg.vaddr:hi - seg.vaddr]
                kind = "code" if any(a <= lo < b for a, b in self.code) else "data"
                return data, kind
        raise InputError(f"0x{lo:08x}..0x{hi:08x} is not in a loaded segment")


def _pieces(p, lo, hi):
    """Split [lo, hi) at code/data boundaries."""
    cuts = {lo, hi}
    for a, b in p.code_ranges:
        cuts.update(x for x in (a, b) if lo < x < hi)
    cuts = sorted(cuts)
    return list(zip(cuts, cuts[1:]))


CC_USAGE = """Usage: m0sim cc SOURCES... -o OUTPUT.elf [--stack-size BYTES] [GCC FLAGS...]

  Compile C (and assembly) SOURCES into an ELF for the emulated Pico: start-up code, generated linker
  script, newlib with semihosting (an OUTPUT ending in .uf2 gets the flash image as RP2040 UF2 blocks).
  Every other argument starting with '-' (e.g. -O3, -DN=4, -Iinclude, -lm) passes through to
  arm-none-eabi-gcc unchanged."""


# gcc options whose value may follow as the next argument: joined to it (`-l m` is `-lm`), or kept as a pair.
GCC_JOINABLE = ("-l", "-I", "-D", "-U", "-L")
GCC_SEPARATE = ("-include", "-isystem", "-iquote", "-idirafter", "-x", "-u", "-Xlinker", "-MF", "-MT", "-MQ")


def _cc_arguments(args):
    """(sources, output, stack size, gcc flags) from the raw command line.

    Parsed by hand: click would read a gcc flag such as -Ikernels/priot as a cluster of its own short
    options (the 'o' in it taken as -o)."""
    sources, flags, output, stack = [], [], None, None
    it = iter(args)
    for a in it:
        name, eq, value = a.partition("=") if a.startswith("--") else (a, "", "")  # --opt=value or --opt value
        if name in ("-o", "--output", "--stack-size"):
            if not eq:
                value = next(it, None)
                if value is None:
                    raise InputError(f"option {name} needs a value")
            if name == "--stack-size":
                try:
                    stack = int(value)
                except ValueError:
                    raise InputError(f"--stack-size must be a number of bytes, got {value!r}") from None
                if stack < 256:
                    raise InputError(f"--stack-size must be at least 256 bytes, got {stack}")
            else:
                output = Path(value)
        elif a in GCC_JOINABLE or a in GCC_SEPARATE:  # `-l m`, `-I dir`: the value is not a source
            value = next(it, None)
            if value is None:
                raise InputError(f"option {a} needs a value")
            if a in GCC_JOINABLE:
                flags.append(a + value)
            elif a == "-Xlinker" and "," not in value:
                flags.append("-Wl," + value)  # one flag, so that it keeps its place among the libraries
            else:
                flags += [a, value]
        elif a.startswith("-"):
            flags.append(a)
        else:
            sources.append(Path(a))
    if output is None:
        raise InputError("missing -o OUTPUT.elf")
    if not sources:
        raise InputError("no C source files given")
    return sources, output, stack, flags


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": []}, help=CC_USAGE.partition("\n\n")[2])
@click.pass_context
def cc(ctx):
    if "--help" in ctx.args or "-h" in ctx.args:
        click.echo(CC_USAGE)
        return
    from m0sim.toolchain import DEFAULT_STACK_SIZE, compile_program
    files, output, stack_size, flags = _cc_arguments(ctx.args)
    compile_program(files, output, flags, stack_size or DEFAULT_STACK_SIZE)
    click.echo(f"wrote {output}")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                "help_option_names": []})
@click.argument("name", required=False)
@click.pass_context
def run(ctx, name):
    """Run the registered experiment NAME (its own options follow; `m0sim run NAME --help`)."""
    found = {ep.name: ep for ep in entry_points(group=EXPERIMENT_GROUP)}
    if name is None or name in ("--help", "-h"):
        click.echo("usage: m0sim run NAME [OPTIONS]\nexperiments: " + (", ".join(sorted(found)) or "(none installed)"))
        return
    if name not in found:
        known = ", ".join(sorted(found)) or "none are installed"
        raise InputError(f"unknown experiment '{name}'; known experiments: {known}")
    command = found[name].load()
    # Parsed and invoked here rather than through command.main(), whose own handlers would turn Ctrl-C into
    # "Aborted!" with exit 1 and swallow m0sim's errors; ours (in _Group) give one line and 130/2/70.
    try:
        with command.make_context(f"m0sim run {name}", list(ctx.args)) as sub:
            command.invoke(sub)
    except click.exceptions.Exit as done:  # --help
        sys.exit(done.exit_code)
    except click.ClickException as exc:  # a usage error of the experiment's own options
        _usage_error(exc)


@main.group("cache")
def cache_():
    """The build cache ($M0SIM_CACHE, else ~/.cache/m0sim): native counters, firmware, backbones."""


@cache_.command("info")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cache_info(as_json):
    """What the cache holds, by place: entries, bytes, and how much of it is stale."""
    from m0sim import cache, cacheinfo
    items = cacheinfo.scan()
    places = sorted({i.place for i in items})
    rows = {p: {"files": sum(i.place == p for i in items), "bytes": sum(i.size for i in items if i.place == p),
                "stale_files": sum(i.place == p and bool(i.stale) for i in items),
                "stale_bytes": sum(i.size for i in items if i.place == p and i.stale)} for p in places}
    if as_json:
        click.echo(json.dumps({"root": str(cache.root()), "places": rows}, indent=2))
        return
    click.echo(f"m0sim cache: {cache.root()}")
    click.echo(f"{'place':<12}{'files':>8}{'size':>12}{'stale':>8}{'stale size':>12}")
    total = {k: sum(r[k] for r in rows.values()) for k in ("files", "bytes", "stale_files", "stale_bytes")}
    for place, r in [*rows.items(), ("total", total)]:
        click.echo(f"{place:<12}{r['files']:>8}{cacheinfo.human(r['bytes']):>12}{r['stale_files']:>8}"
                   f"{cacheinfo.human(r['stale_bytes']):>12}")


@cache_.command("clean")
@click.option("--all", "everything", is_flag=True, help="Remove every entry, not only the stale ones.")
def cache_clean(everything):
    """Remove stale entries (interrupted builds, superseded builds, directories in the way), or --all."""
    from m0sim import cache, cacheinfo
    count, size = cacheinfo.remove(cacheinfo.removable(cacheinfo.scan(), everything))
    click.echo(f"m0sim cache: removed {count} file(s), {cacheinfo.human(size)} from {cache.root()}")


@main.command()
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--call", "call_symbol", default=None, help="Profile one call of this function instead of a full run.")
@click.argument("args", nargs=-1, type=str)
@_budget_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--top", type=click.IntRange(min=1), default=25, show_default=True, help="Rows of the table.")
def profile(program, call_symbol, args, max_instructions, max_seconds, clock_mhz, alignment_check, as_json, top):
    """Per-function cycles, share and calls of a run of PROGRAM.elf (or of one --call SYMBOL ARGS...).

    With --json, stdout is one JSON document: the firmware's own output is its "output" field."""
    output = bytearray()
    m = _machine(program, clock_mhz, alignment_check, stdout=output.extend if as_json else None)
    budget = dict(max_instructions=max_instructions, max_cycles=_budget(m, max_seconds))
    if call_symbol:
        try:
            values = [int(a, 0) for a in args]
        except ValueError:
            raise InputError(f"call arguments must be integers, got {' '.join(args)}") from None
        r0 = m.call(call_symbol, *values, **budget)
        stats, result = m.last_stats, {"returned": r0}
    else:
        if args:
            raise InputError("arguments are only accepted with --call SYMBOL")
        run = m.run(**budget)
        stats, result = run.stats, {"exit_code": run.exit_code}
    if as_json:
        click.echo(json.dumps({**result, **stats.to_dict(), "energy": _energy(m, stats).to_dict(),
                               "output": output.decode(errors="replace")}, indent=2))
        return
    click.echo(f"{'function':<32}{'cycles':>14}{'share':>8}{'instructions':>14}{'calls':>10}")
    for f in stats.functions[:top]:
        share = 100 * f.cycles / stats.cycles if stats.cycles else 0
        click.echo(f"{f.name:<32}{f.cycles:>14,}{share:>7.1f}%{f.instructions:>14,}{f.calls:>10,}")
    click.echo(stats.summary())
    click.echo(", ".join(f"{k} {v}" for k, v in result.items()))
