"""ARM semihosting (BKPT 0xAB): enough of the protocol for newlib's rdimon to run an unmodified C program.

Only the console (":tt") and the ":semihosting-features" pseudo-file can be opened; a firmware never reaches
the host's files.  Time comes from the emulated clock, so runs are deterministic.  Every buffer a call names is
checked first: it must lie in the Pico's memory (reads) or SRAM (writes), so the host never allocates more than
the guest could address, and a call never writes into flash.
"""

import errno
from dataclasses import dataclass, field
from typing import Callable

from m0sim import memmap
from m0sim.errors import FirmwareFault

SYS = {
    "OPEN": 0x01, "CLOSE": 0x02, "WRITEC": 0x03, "WRITE0": 0x04, "WRITE": 0x05, "READ": 0x06, "READC": 0x07,
    "ISERROR": 0x08, "ISTTY": 0x09, "SEEK": 0x0A, "FLEN": 0x0C, "REMOVE": 0x0E, "CLOCK": 0x10, "TIME": 0x11,
    "ERRNO": 0x13, "GET_CMDLINE": 0x15, "HEAPINFO": 0x16, "EXIT": 0x18, "EXIT_EXTENDED": 0x20,
    "ELAPSED": 0x30, "TICKFREQ": 0x31,
}
ADP_STOPPED_APPLICATION_EXIT = 0x20026
FEATURES = b"SHFB" + bytes([0b11])  # SYS_EXIT_EXTENDED, stdout/stderr through ":tt"
EPOCH = 0  # SYS_TIME counts emulated seconds from 1970-01-01: the same answer on every run
# Open handles at once, as a host C library caps them (glibc's default RLIMIT_NOFILE is 1,024 descriptors): one
# more SYS_OPEN returns -1 with errno EMFILE, so a firmware that never closes cannot grow the host's memory.
MAX_OPEN_HANDLES = 1024
OPEN_MODES = ["r", "rb", "r+", "r+b", "w", "wb", "w+", "w+b", "a", "ab", "a+", "a+b"]


class ProgramExit(Exception):
    """Raised inside the hook when the firmware asks to exit; carries its exit code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


@dataclass
class _Handle:
    kind: str  # "stdin" | "stdout" | "stderr" | "features"
    pos: int = 0


@dataclass
class Semihost:
    """The host side. `read_mem`/`write_mem` address the emulated memory; `now_cycles` reads the cycle counter."""

    read_mem: Callable[[int, int], bytes]
    write_mem: Callable[[int, bytes], None]
    now_cycles: Callable[[], int]
    clock_hz: int
    stdout: Callable[[bytes], None]
    stderr: Callable[[bytes], None]
    stdin: bytes = b""
    heapinfo: tuple[int, int, int, int] = (0, 0, 0, 0)
    cmdline: str = "firmware"
    handles: dict = field(default_factory=dict)
    last_errno: int = 0
    _stdin_pos: int = 0
    _op: str = "?"

    def __post_init__(self):
        # operation number -> (name, server), built once: a call is a dict lookup, not a scan of SYS
        self._dispatch = {v: (k, getattr(self, "_sys_" + k.lower())) for k, v in SYS.items()}

    def _read(self, addr: int, n: int) -> bytes:
        """Guest bytes a call reads: refused unless they lie in ROM, flash or SRAM."""
        if n and not any(r.contains(addr, n) for r in memmap.MEMORY_REGIONS):
            raise FirmwareFault(f"semihosting SYS_{self._op} reads {n} bytes at 0x{addr:08x}, outside the Pico's "
                                f"memory")
        return self.read_mem(addr, n) if n else b""

    def _check_writable(self, addr: int, n: int):
        """Guest bytes a call writes: only SRAM is writable (a real Pico's flash is read-only to the core)."""
        if n and not memmap.SRAM.contains(addr, n):
            region = memmap.region_of(addr)
            if region is memmap.SRAM:
                raise FirmwareFault(f"semihosting SYS_{self._op} would write {n} bytes at 0x{addr:08x}, "
                                    f"{addr + n - memmap.SRAM.end} bytes past the end of SRAM "
                                    f"(0x{memmap.SRAM.end:08x})")
            raise FirmwareFault(f"semihosting SYS_{self._op} would write {n} bytes at 0x{addr:08x} "
                                f"({region.name if region else 'unmapped'}); only SRAM is writable")

    def _write(self, addr: int, data: bytes):
        self._check_writable(addr, len(data))
        if data:
            self.write_mem(addr, data)

    def _u32(self, addr: int) -> int:
        return int.from_bytes(self._read(addr, 4), "little")

    def _args(self, ptr: int, n: int) -> list[int]:
        return [self._u32(ptr + 4 * i) for i in range(n)]

    def _cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            b = self._read(addr + len(out), 1)
            if b == b"\0":
                break
            out += b
        return bytes(out)

    def call(self, op: int, r1: int) -> int:
        """Serve one request; returns the value for r0."""
        served = self._dispatch.get(op)
        if served is None:
            self.last_errno = errno.ENOSYS
            return 0xFFFFFFFF
        self._op, serve = served
        return serve(r1) & 0xFFFFFFFF

    # --- files -------------------------------------------------------------------------------------------
    def _sys_open(self, r1):
        name_ptr, mode, _length = self._args(r1, 3)
        name = self._cstring(name_ptr).decode(errors="replace")
        mode_text = OPEN_MODES[mode] if mode < len(OPEN_MODES) else "?"
        if name == ":tt":
            kind = "stdin" if mode_text.startswith("r") else "stderr" if mode_text.startswith("a") else "stdout"
        elif name == ":semihosting-features" and mode_text.startswith("r"):
            kind = "features"
        else:
            self.last_errno = errno.ENOENT
            return -1
        if len(self.handles) >= MAX_OPEN_HANDLES:
            self.last_errno = errno.EMFILE
            return -1
        h = next(n for n in range(1, MAX_OPEN_HANDLES + 1) if n not in self.handles)  # the lowest free, as POSIX
        self.handles[h] = _Handle(kind)
        return h

    def _handle(self, h):
        handle = self.handles.get(h)
        if handle is None:
            self.last_errno = errno.EBADF
        return handle

    def _sys_close(self, r1):
        h = self._u32(r1)
        if self.handles.pop(h, None) is None:
            self.last_errno = errno.EBADF
            return -1
        return 0

    def _sys_writec(self, r1):
        self.stdout(self._read(r1, 1))
        return 0

    def _sys_write0(self, r1):
        self.stdout(self._cstring(r1, 1 << 20))
        return 0

    def _sys_write(self, r1):
        h, buf, n = self._args(r1, 3)
        handle = self._handle(h)
        if handle is None or handle.kind not in ("stdout", "stderr"):
            self.last_errno = errno.EBADF
            return n
        (self.stdout if handle.kind == "stdout" else self.stderr)(self._read(buf, n))
        return 0  # bytes NOT written

    def _sys_read(self, r1):
        h, buf, n = self._args(r1, 3)
        handle = self._handle(h)
        if handle is None:
            return n
        if handle.kind == "features":
            data = FEATURES[handle.pos:handle.pos + n]
            handle.pos += len(data)
        elif handle.kind == "stdin":
            data = self.stdin[self._stdin_pos:self._stdin_pos + n]
            self._stdin_pos += len(data)
        else:
            self.last_errno = errno.EBADF
            return n
        self._check_writable(buf, n)  # the whole buffer, not only the bytes there are to read
        self._write(buf, data)
        return n - len(data)

    def _sys_readc(self, r1):
        if self._stdin_pos >= len(self.stdin):
            return -1
        self._stdin_pos += 1
        return self.stdin[self._stdin_pos - 1]

    def _sys_iserror(self, r1):
        return 1 if (self._u32(r1) & 0x80000000) else 0

    def _sys_istty(self, r1):
        handle = self._handle(self._u32(r1))
        return 1 if handle is not None and handle.kind != "features" else 0

    def _sys_seek(self, r1):
        h, pos = self._args(r1, 2)
        handle = self._handle(h)
        if handle is None or handle.kind != "features" or pos > len(FEATURES):
            self.last_errno = errno.EINVAL
            return -1
        handle.pos = pos
        return 0

    def _sys_flen(self, r1):
        handle = self._handle(self._u32(r1))
        if handle is None:
            return -1
        return len(FEATURES) if handle.kind == "features" else 0

    def _sys_remove(self, r1):
        self.last_errno = errno.EPERM
        return -1

    # --- time and environment ----------------------------------------------------------------------------
    def _sys_clock(self, r1):
        return self.now_cycles() * 100 // self.clock_hz  # centiseconds of emulated time

    def _sys_time(self, r1):
        return EPOCH + self.now_cycles() // self.clock_hz

    def _sys_elapsed(self, r1):
        c = self.now_cycles()
        self._write(r1, c.to_bytes(8, "little"))
        return 0

    def _sys_tickfreq(self, r1):
        return self.clock_hz

    def _sys_errno(self, r1):
        return self.last_errno

    def _sys_get_cmdline(self, r1):
        buf, size = self._args(r1, 2)
        text = self.cmdline.encode()[: max(size - 1, 0)] + b"\0"
        self._write(buf, text)
        self._write(r1 + 4, (len(text) - 1).to_bytes(4, "little"))
        return 0

    def _sys_heapinfo(self, r1):
        block = self._u32(r1)
        self._write(block, b"".join(v.to_bytes(4, "little") for v in self.heapinfo))
        return 0

    # --- exit --------------------------------------------------------------------------------------------
    def _sys_exit(self, r1):
        raise ProgramExit(0 if r1 == ADP_STOPPED_APPLICATION_EXIT else 1)

    def _sys_exit_extended(self, r1):
        reason, code = self._args(r1, 2)
        if reason != ADP_STOPPED_APPLICATION_EXIT:
            raise ProgramExit(1)
        raise ProgramExit(code - (1 << 32) if code & 0x80000000 else code)
