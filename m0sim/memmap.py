"""The RP2040 memory map as data: the one place its addresses and sizes live.

The linker script for firmware is generated from this module (see `m0sim.toolchain`), so the C side and the
emulator cannot disagree.
"""

from dataclasses import dataclass

KB = 1024
MB = 1024 * KB

CLOCK_HZ = 125_000_000  # clk_sys default on the Pico


@dataclass(frozen=True)
class Region:
    name: str
    base: int
    size: int
    perms: str  # "rwx" subset as seen by the CPU
    kind: str  # "rom" | "flash" | "sram" | "mmio"

    @property
    def end(self) -> int:
        return self.base + self.size

    def contains(self, addr: int, size: int = 1) -> bool:
        return self.base <= addr and addr + size <= self.end


ROM = Region("ROM", 0x0000_0000, 16 * KB, "rx", "rom")
FLASH_SIZE = 2 * MB
XIP = Region("XIP flash", 0x1000_0000, FLASH_SIZE, "rx", "flash")
# XIP aliases of the same flash contents: same bytes, different cache behaviour.
XIP_NOALLOC = Region("XIP_NOALLOC", 0x1100_0000, FLASH_SIZE, "rx", "flash")
XIP_NOCACHE = Region("XIP_NOCACHE", 0x1200_0000, FLASH_SIZE, "rx", "flash")
XIP_NOCACHE_NOALLOC = Region("XIP_NOCACHE_NOALLOC", 0x1300_0000, FLASH_SIZE, "rx", "flash")
XIP_ALIASES = (XIP_NOALLOC, XIP_NOCACHE, XIP_NOCACHE_NOALLOC)
SRAM = Region("SRAM", 0x2000_0000, 264 * KB, "rwx", "sram")

APB = Region("APB peripherals", 0x4000_0000, 0x0007_0000, "rw", "mmio")
AHB = Region("AHB-Lite peripherals", 0x5000_0000, 0x0040_0000, "rw", "mmio")
SIO = Region("SIO", 0xD000_0000, 0x1000, "rw", "mmio")
PPB = Region("Cortex-M0+ private peripheral bus", 0xE000_0000, 0x0010_0000, "rw", "mmio")

MEMORY_REGIONS = (ROM, XIP, *XIP_ALIASES, SRAM)
MMIO_REGIONS = (APB, AHB, SIO, PPB)
ALL_REGIONS = MEMORY_REGIONS + MMIO_REGIONS

# Where a loaded program may place bytes: code/rodata in flash, data/bss in SRAM.
LOADABLE = (XIP, SRAM)

# Peripheral register bases (RP2040 datasheet, chapter 2.2; the Cortex-M0+ PPB, ARMv6-M B3).
TIMER_BASE = 0x4005_4000
SYSTICK_BASE = 0xE000_E010
NVIC_BASE = 0xE000_E100
SCB_BASE = 0xE000_ED00  # its first register is CPUID
CORTEX_M0PLUS_CPUID = 0x410CC601  # what SCB.CPUID reads: ARM, r0p1, Cortex-M0+


def region_of(addr: int) -> Region | None:
    for r in ALL_REGIONS:
        if r.contains(addr):
            return r
    return None


def linker_memory_block() -> str:
    """The MEMORY block of the firmware linker script, from the regions above."""
    return (
        "MEMORY\n{\n"
        f"  FLASH (rx) : ORIGIN = 0x{XIP.base:08x}, LENGTH = 0x{XIP.size:x}\n"
        f"  RAM (rwx)  : ORIGIN = 0x{SRAM.base:08x}, LENGTH = 0x{SRAM.size:x}\n"
        "}\n"
    )
