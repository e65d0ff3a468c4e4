"""What `m0sim gdbserver` tells GDB about the target: registers, target description, memory map, and which
peripheral registers a debugger may read.

GDB numbers registers in the order of the target description: r0-r12, sp, lr, pc, xpsr (feature
org.gnu.gdb.arm.m-profile), then msp, psp, primask, control (org.gnu.gdb.arm.m-system, as OpenOCD and QEMU
describe a Cortex-M). The memory map marks flash as flash so that GDB's `load` erases and writes it with the
vFlash packets, as it does through a probe.
"""

from dataclasses import dataclass

from unicorn import arm_const as arm

from m0sim import memmap

FLASH_BLOCK = 4096  # the RP2040's flash erase sector (datasheet 4.1 / W25Q16 4 KB sector erase)


@dataclass(frozen=True)
class Register:
    name: str
    uc_id: int
    feature: str
    type: str = "int"


_PROFILE, _SYSTEM = "org.gnu.gdb.arm.m-profile", "org.gnu.gdb.arm.m-system"
REGISTERS = (
    [Register(f"r{i}", getattr(arm, f"UC_ARM_REG_R{i}"), _PROFILE) for i in range(13)]
    + [Register("sp", arm.UC_ARM_REG_SP, _PROFILE, "data_ptr"), Register("lr", arm.UC_ARM_REG_LR, _PROFILE),
       Register("pc", arm.UC_ARM_REG_PC, _PROFILE, "code_ptr"), Register("xpsr", arm.UC_ARM_REG_XPSR, _PROFILE),
       Register("msp", arm.UC_ARM_REG_MSP, _SYSTEM, "data_ptr"),
       Register("psp", arm.UC_ARM_REG_PSP, _SYSTEM, "data_ptr"),
       Register("primask", arm.UC_ARM_REG_PRIMASK, _SYSTEM), Register("control", arm.UC_ARM_REG_CONTROL, _SYSTEM)])
REGISTER_NUMBER = {r.name: n for n, r in enumerate(REGISTERS)}


def _target_xml() -> str:
    features = []
    for feature in dict.fromkeys(r.feature for r in REGISTERS):
        regs = "".join(f'<reg name="{r.name}" bitsize="32" type="{r.type}"/>' for r in REGISTERS
                       if r.feature == feature)
        features.append(f'<feature name="{feature}">{regs}</feature>')
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target version="1.0">'
            '<architecture>arm</architecture>' + "".join(features) + '</target>')


def _memory_map_xml() -> str:
    """Flash (with its erase block) as flash, SRAM and the peripherals as ram (the stub itself refuses the
    peripheral registers whose read has a side effect), ROM and the XIP aliases as rom."""
    def entry(region):
        if region is memmap.XIP:
            return (f'<memory type="flash" start="0x{region.base:x}" length="0x{region.size:x}">'
                    f'<property name="blocksize">0x{FLASH_BLOCK:x}</property></memory>')
        kind = "ram" if region is memmap.SRAM or region.kind == "mmio" else "rom"
        return f'<memory type="{kind}" start="0x{region.base:x}" length="0x{region.size:x}"/>'
    return ('<?xml version="1.0"?><!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" '
            '"http://sourceware.org/gdb/gdb-memory-map.dtd"><memory-map>'
            + "".join(entry(r) for r in memmap.ALL_REGIONS) + '</memory-map>')


TARGET_XML = _target_xml()
MEMORY_MAP_XML = _memory_map_xml()


class Refused(Exception):
    """A debugger read the stub does not do: the message says why."""


def peek_peripheral(bus, addr: int, length: int) -> bytes:
    """Peripheral registers as the program would read them, without their read side effects and at no cost:
    a register whose read changes state (its peripheral's `read_side_effects`) or that is not modelled is
    refused with the reason."""
    out = bytearray()
    for word_addr in range(addr & ~3, addr + length, 4):
        p = bus.find(word_addr)
        if p is None:
            raise Refused(f"0x{word_addr:08x} is not a modelled peripheral register")
        offset = word_addr - p.base
        why = getattr(p, "read_side_effects", {}).get(offset)
        if why is not None:
            raise Refused(f"0x{word_addr:08x} ({p.name} +0x{offset:x}) is not read for the debugger: {why}")
        out += (p.read32(offset) & 0xFFFFFFFF).to_bytes(4, "little")
    start = addr & 3
    return bytes(out[start:start + length])
