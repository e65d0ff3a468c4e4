"""An estimate of the energy the RP2040 core supply (DVDD) delivers over a run, from the datasheet's currents.

The datasheet gives no current per core or per clock as a number, only whole-chip averages for four use
cases; the model below derives what it needs from them under stated assumptions, so every figure it produces
is an ESTIMATE and is labelled as one wherever it is printed. docs/emulator.md ("Energy (an estimate)") has the
model, the sources and what it ignores; this module is the one place the constants live.

Model (DVDD at its typical voltage):
    E = V_DVDD * ( I_leak * t_elapsed  +  sum over cores of  k_core * active_cycles )
  - I_leak: the current in DORMANT mode ("a low power state" in the datasheet's words), paid for the whole elapsed time;
  - k_core: charge per active core cycle, from Popcorn's DVDD current at its stated 48 MHz, less I_leak,
    split evenly over the two cores (assumption A2) and taken linear in the clock (A1), so a cycle costs the same
    charge at any frequency and only the leakage depends on the clock;
  - a core asleep in WFI/WFE costs no dynamic current of its own (A3); a core the run does not list (core 1
    before it is launched sleeps in the bootrom) is such a core.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from m0sim.errors import InputError

# --- constants, each with its source ---------------------------------------------------------------------
DATASHEET = "RP2040 Datasheet, chapter 5 'Electrical and Mechanical'"
DVDD_VOLTS = 1.1  # Table 'Power Supply Specifications': DVDD (digital core) Typ 1.1 V
DORMANT_DVDD_A = 0.18e-3  # Table 'Power Consumption': Dormant, Typical Average DVDD Current 0.18 mA
POPCORN_DVDD_A = 10.9e-3  # Table 'Power Consumption': Popcorn, Typical Average DVDD Current 10.9 mA
POPCORN_CLOCK_HZ = 48_000_000  # section 'Power Consumption': Popcorn runs "with a system clock frequency of 48MHz"
CORES = 2  # RP2040: two Cortex-M0+ cores (A2 counts both as active in the Popcorn measurement)

SOURCES = (
    ("DVDD voltage", f"{DVDD_VOLTS} V", "Table 'Power Supply Specifications', DVDD Typ 1.1 V"),
    ("leakage (DORMANT)", f"{DORMANT_DVDD_A * 1e3:g} mA", "Table 'Power Consumption', Dormant, Typical DVDD 0.18 mA"),
    ("busy chip (Popcorn)", f"{POPCORN_DVDD_A * 1e3:g} mA at {POPCORN_CLOCK_HZ / 1e6:g} MHz",
     "Table 'Power Consumption', Popcorn, Typical DVDD 10.9 mA; its text: system clock 48MHz"),
)
ASSUMPTIONS = (
    "A1: dynamic DVDD current is linear in the clock (the datasheet states it for the peripherals, in uA/MHz)",
    "A2: Popcorn's current less the DORMANT leakage is two cores' dynamic current, half each",
    "A3: a core asleep in WFI/WFE draws no dynamic current; the leakage runs for the whole elapsed time",
)

# Derived: charge per active core cycle (coulombs), the same at every clock under A1.
CORE_CHARGE_PER_CYCLE = (POPCORN_DVDD_A - DORMANT_DVDD_A) / CORES / POPCORN_CLOCK_HZ
LABEL = "estimate from the RP2040 datasheet's currents (docs/emulator.md, 'Energy (an estimate)')"


@dataclass(frozen=True)
class CoreCycles:
    """One core's share of a run: cycles it executed and cycles it slept (WFI/WFE)."""

    active: int
    sleeping: int = 0


@dataclass(frozen=True)
class Energy:
    """An energy estimate with its breakdown (millijoules at DVDD) and the elapsed time it covers."""

    cores_mj: tuple[float, ...]  # each listed core's dynamic energy
    leakage_mj: float
    seconds: float

    @property
    def total_mj(self) -> float:
        return sum(self.cores_mj) + self.leakage_mj

    @property
    def mean_mw(self) -> float:
        return self.total_mj / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {"total_mj": self.total_mj, "cores_mj": list(self.cores_mj), "leakage_mj": self.leakage_mj,
                "seconds": self.seconds, "mean_mw": self.mean_mw, "dvdd_volts": DVDD_VOLTS, "estimate": LABEL}

    def summary(self) -> str:
        cores = ", ".join(f"core {i} {e:.4g}" for i, e in enumerate(self.cores_mj))
        return (f"energy {self.total_mj:.4g} mJ at DVDD {DVDD_VOLTS} V ({cores}, leakage {self.leakage_mj:.4g}; "
                f"{self.mean_mw:.3g} mW mean) -- an {LABEL}")


def describe() -> str:
    """The model in a few lines, for reports that print an estimate: formula, constants with sources, assumptions."""
    lines = [f"energy model ({LABEL}):",
             f"  E = {DVDD_VOLTS} V x (leakage x elapsed time + {CORE_CHARGE_PER_CYCLE * 1e9:.4g} nC x active cycles "
             f"of each core); constants from the {DATASHEET}:"]
    lines += [f"  {name} {value}: {source}" for name, value, source in SOURCES]
    return "\n".join(lines + [f"  {a}" for a in ASSUMPTIONS])


def _check_clock(clock_hz) -> float:
    try:
        hz = float(clock_hz)
    except (TypeError, ValueError):
        hz = math.nan
    if not (math.isfinite(hz) and hz > 0):
        raise InputError(f"energy estimate: the clock must be a positive finite frequency in Hz, not {clock_hz!r}")
    return hz


def estimate(cores: Sequence[CoreCycles], clock_hz: float) -> Energy:
    """The energy of a run whose cores had these active and sleeping cycles at ``clock_hz``."""
    hz = _check_clock(clock_hz)
    if not 1 <= len(cores) <= CORES:
        raise InputError(f"energy estimate: the RP2040 has {CORES} cores, not {len(cores)}")
    for i, c in enumerate(cores):
        if c.active < 0 or c.sleeping < 0:
            raise InputError(f"energy estimate: core {i} has negative cycles ({c.active} active, {c.sleeping} asleep)")
    seconds = max(c.active + c.sleeping for c in cores) / hz
    to_mj = DVDD_VOLTS * 1e3  # coulombs -> millijoules at DVDD
    return Energy(tuple(c.active * CORE_CHARGE_PER_CYCLE * to_mj for c in cores),
                  DORMANT_DVDD_A * seconds * to_mj, seconds)


def of_run(cycles: int, clock_hz: float, sleeping: int = 0) -> Energy:
    """A one-core run (core 1 asleep in the bootrom): ``cycles`` in all, ``sleeping`` of them in WFI."""
    return estimate([CoreCycles(cycles - sleeping, sleeping)], clock_hz)


def of_stats(stats, slept_wfi=(0, 0)) -> Energy:
    """A run's estimate from its RunStats: each core busy for its cycles but those it slept (WFE, counted in the
    stats; WFI, ``slept_wfi`` per core, counted by each core's exception model)."""
    if not stats.cores:
        return of_run(stats.cycles, stats.clock_hz, sleeping=min(slept_wfi[0], stats.cycles))
    asleep = [min(c.sleep_cycles + wfi, c.cycles) for c, wfi in zip(stats.cores, slept_wfi)]
    return estimate([CoreCycles(c.cycles - a, a) for c, a in zip(stats.cores, asleep)], stats.clock_hz)
