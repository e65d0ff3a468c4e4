"""What a run or a call cost: counters, memory high-water marks and a per-function profile."""

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from m0sim import memmap


@dataclass
class FunctionStats:
    name: str
    cycles: int
    instructions: int
    calls: int  # entries at the function's first instruction


@dataclass
class RunStats:
    instructions: int = 0
    cycles: int = 0
    clock_hz: int = memmap.CLOCK_HZ
    taken_branches: int = 0
    xip_hits: int = 0
    xip_misses: int = 0
    static_ram: int = 0  # sections that run in SRAM: .data (code placed in SRAM too) + .bss
    stack_bytes: int = 0  # stack high-water below the initial SP
    heap_bytes: int = 0  # sbrk high-water
    # the per-function profile, or what computes it on first use of `functions` (most callers never look)
    functions_source: Callable[[], list[FunctionStats]] | list[FunctionStats] = field(default_factory=list,
                                                                                      repr=False)
    sleep_cycles: int = 0  # of `cycles`, spent asleep in WFE (m0sim.dualcore)
    # of `cycles`, those charged at run time rather than by the instructions' table: XIP misses, wait states,
    # exception entry and return, WFE sleep, less a cycle per single-cycle SIO access (m0sim.soc.Pico fills it)
    stall_cycles: int = 0
    cores: list["RunStats"] = field(default_factory=list)  # per core, when core 1 ran (m0sim.soc); else empty

    @property
    def functions(self) -> list[FunctionStats]:
        if callable(self.functions_source):
            self.functions_source = self.functions_source()
        return self.functions_source

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def cpi(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0

    @property
    def peak_ram(self) -> int:
        return self.static_ram + self.stack_bytes + self.heap_bytes

    def to_dict(self) -> dict:
        self.functions  # resolve the profile before copying
        cores, self.cores = self.cores, []
        d = asdict(self)
        self.cores = cores
        d["functions"] = d.pop("functions_source")
        d["cores"] = [c.to_dict() for c in cores]
        d.update(seconds=self.seconds, cpi=self.cpi, peak_ram=self.peak_ram, sram_bytes=memmap.SRAM.size)
        return d

    def merged(self, other: "RunStats") -> "RunStats":
        """Totals over two runs: counters add, memory takes the high-water mark, profiles add by name."""
        by_name = {f.name: FunctionStats(**asdict(f)) for f in self.functions}
        for f in other.functions:
            g = by_name.setdefault(f.name, FunctionStats(f.name, 0, 0, 0))
            g.cycles += f.cycles
            g.instructions += f.instructions
            g.calls += f.calls
        return RunStats(
            self.instructions + other.instructions, self.cycles + other.cycles, self.clock_hz,
            self.taken_branches + other.taken_branches, self.xip_hits + other.xip_hits,
            self.xip_misses + other.xip_misses, max(self.static_ram, other.static_ram),
            max(self.stack_bytes, other.stack_bytes), max(self.heap_bytes, other.heap_bytes),
            sorted(by_name.values(), key=lambda f: -f.cycles))

    def realtime(self, host_seconds: float) -> str:
        """How fast the emulated Pico ran: emulated cycles per host second against its clock."""
        rate = self.cycles / host_seconds if host_seconds > 0 else float("inf")
        return (f"{host_seconds:.3f} s of host time for {self.seconds * 1e3:.3f} ms at {self.clock_hz / 1e6:g} MHz: "
                f"{rate / 1e6:.1f} M emulated cycles per host second, {rate / self.clock_hz:.2f}x real time")

    def summary(self) -> str:
        kb = 1024
        return (f"{self.instructions:,} instructions, {self.cycles:,} cycles "
                f"({self.seconds * 1e3:.3f} ms at {self.clock_hz / 1e6:g} MHz, CPI {self.cpi:.2f}), "
                f"{self.taken_branches:,} taken branches, XIP {self.xip_hits:,} hits / {self.xip_misses:,} misses; "
                f"RAM peak {self.peak_ram / kb:.1f} KB of {memmap.SRAM.size // kb} KB "
                f"(static {self.static_ram / kb:.1f}, stack {self.stack_bytes / kb:.1f}, heap {self.heap_bytes / kb:.1f})"
                + "".join(f"; core {k}: {c.instructions:,} instructions, {c.cycles:,} cycles ({c.stall_cycles:,} "
                          f"charged at run time, {c.sleep_cycles:,} asleep in WFE), {c.taken_branches:,} taken branches, XIP {c.xip_hits:,} hits / "
                          f"{c.xip_misses:,} misses, stack {c.stack_bytes:,} bytes" for k, c in enumerate(self.cores)))
