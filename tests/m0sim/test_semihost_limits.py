"""Semihosting under a firmware that never closes, or asks for more than memory holds: host memory stays bounded
and the message names the real cause."""

import errno
import tracemalloc

import pytest
from test_bad_input import FAULT, assert_one_line_error

from m0sim import memmap
from m0sim.errors import FirmwareFault
from m0sim.semihost import MAX_OPEN_HANDLES, SYS, Semihost

NAME_AT, ARGS_AT = memmap.SRAM.base, memmap.SRAM.base + 0x100


def host():
    """A Semihost over a 1 KB fake SRAM holding ":tt" and the SYS_OPEN argument block (name, mode "r", length)."""
    ram = bytearray(1024)
    ram[0:4] = b":tt\0"
    ram[0x100:0x10c] = NAME_AT.to_bytes(4, "little") + (0).to_bytes(4, "little") + (3).to_bytes(4, "little")

    def read(addr, n):
        return bytes(ram[addr - NAME_AT:addr - NAME_AT + n])

    def write(addr, data):
        ram[addr - NAME_AT:addr - NAME_AT + len(data)] = data

    return Semihost(read, write, lambda: 0, memmap.CLOCK_HZ, lambda b: None, lambda b: None), write


def test_opens_beyond_the_cap_fail_with_emfile_and_memory_stays_flat():
    sh, _ = host()
    handles = [sh.call(SYS["OPEN"], ARGS_AT) for _ in range(MAX_OPEN_HANDLES)]
    assert handles == list(range(1, MAX_OPEN_HANDLES + 1))
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    refused = {sh.call(SYS["OPEN"], ARGS_AT) for _ in range(100_000)}
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert refused == {0xFFFFFFFF} and sh.call(SYS["ERRNO"], 0) == errno.EMFILE
    assert len(sh.handles) == MAX_OPEN_HANDLES and grown < 64 * 1024  # 2 M opens took 392 MB before the cap


def test_a_closed_handle_is_reused_like_a_posix_descriptor():
    sh, write = host()
    for _ in range(3):
        sh.call(SYS["OPEN"], ARGS_AT)
    write(ARGS_AT + 0x20, (2).to_bytes(4, "little"))
    assert sh.call(SYS["CLOSE"], ARGS_AT + 0x20) == 0
    assert sh.call(SYS["OPEN"], ARGS_AT) == 2  # the lowest free number, so open/close loops never run out


@pytest.mark.parametrize("n, says", [(0xFFFFFFFF, "4294967295 bytes at 0x20000000, 4294696959 bytes past the end"),
                                     (memmap.SRAM.size + 1, r"1 bytes past the end of SRAM \(0x20042000\)")])
def test_huge_read_names_the_length_not_the_region(n, says):
    sh, write = host()
    stdin = sh.call(SYS["OPEN"], ARGS_AT)
    write(ARGS_AT + 0x20, stdin.to_bytes(4, "little") + NAME_AT.to_bytes(4, "little") + n.to_bytes(4, "little"))
    with pytest.raises(FirmwareFault, match=says) as e:
        sh.call(SYS["READ"], ARGS_AT + 0x20)
    assert "only SRAM is writable" not in str(e.value)


OPEN_FOREVER = """
#include <stdint.h>
static int sh(int op, void *arg)
{ register int r0 __asm__("r0") = op; register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory"); return r0; }
int main(void){ uint32_t a[3] = {(uint32_t)":tt", 0, 3}; int ok = 0, h;
  for (int i = 0; i < 3000; i++) if ((h = sh(0x01, a)) != -1) ok++; else if (sh(0x13, 0) != 24) return 3;
  return ok; }
"""


def test_firmware_that_never_closes_gets_emfile(cli, firmware):
    proc = cli("exec", firmware(OPEN_FOREVER))
    # rdimon holds 3 handles (stdin, stdout, stderr) when main starts; 24 is newlib's EMFILE
    assert proc.returncode == (MAX_OPEN_HANDLES - 3) % 256, proc.stderr


READ_HUGE = """
#include <stdint.h>
static int sh(int op, void *arg)
{ register int r0 __asm__("r0") = op; register void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt #0xab" : "+r"(r0) : "r"(r1) : "memory"); return r0; }
char buf[16];
int main(void){ uint32_t o[3] = {(uint32_t)":tt", 0, 3}; uint32_t a[3] = {sh(0x01, o), (uint32_t)buf, 0xFFFFFFF0};
  return sh(0x06, a); }
"""


def test_firmware_huge_read_is_one_line(cli, firmware):
    assert_one_line_error(cli("exec", firmware(READ_HUGE)), FAULT, "SYS_READ would write 4294967280 bytes",
                          "past the end of SRAM")
