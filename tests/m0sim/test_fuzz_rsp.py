"""Fuzz `m0sim gdbserver` with seeded hostile remote-protocol packets over loopback, the server under an
address-space cap: it must answer every well-formed packet (or end with one line and a documented exit code
when the program ends), never print a traceback, never die of a signal, never allocate without bound."""

import random
import re
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCE = r"""
#include <stdio.h>
volatile int counter;
int work(int n) { int s = 0; for (int i = 0; i < n; i++) s += i * counter; return s; }
int main(void) { counter = 3; printf("%d\n", work(50)); return 0; }
"""
MEMORY_CAP = 2 << 30  # one Machine reserves ~1 GB of address space (Unicorn's code cache)
REPLY_SECONDS, RETRIES = 1, 30  # a probe lost to a broken packet is sent again; a hung server fails after 30 s
PROBE = b"m10000000,3"  # a 3-byte read of flash: its 6-hex-digit reply marks the end of a case's replies
COMMANDS = ["g", "G", "p", "P", "m", "M", "X", "Z0", "Z1", "Z2", "Z3", "Z4", "z0", "z2", "s", "vCont;s", "vCont?",
            "qSupported:", "qXfer:features:read:target.xml:", "qRcmd,", "qAttached", "qC", "qfThreadInfo", "H",
            "T", "?", "vMustReplyEmpty", "QStartNoAckMode", "D", "k", "c", "vCont;c"]
NUMBERS = ["0", "1", "2", "3", "4", "ff", "100", "7fffffff", "80000000", "ffffffff", "100000000",
           "ffffffffffffffff", "10000000", "20000000", "20041ffc", "e000e010", "-1", "zz", "", "1" * 40]


def _packet(payload: bytes) -> bytes:
    return b"$" + payload + b"#%02x" % (sum(payload) & 0xFF)


def case(rng: random.Random) -> bytes:
    """One hostile input: mostly well-formed packets with hostile arguments, sometimes broken framing."""
    cmd = rng.choice(COMMANDS[:-3] if rng.random() < 0.97 else COMMANDS)  # resuming ends the session: rare
    args = ",".join(rng.choice(NUMBERS) for _ in range(rng.randint(0, 3)))
    body = cmd + args
    if rng.random() < 0.4:
        body += ":" + "".join(rng.choice("0123456789abcdefxyz}*#$") for _ in range(rng.randint(0, 300)))
    payload = body.encode()
    if rng.random() < 0.1:
        payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000)))
    roll = rng.random()
    if roll < 0.1:
        return b"$" + payload + b"#zz"  # a checksum that is not hex
    if roll < 0.15:
        return payload.replace(b"$", b"")  # no framing at all
    if roll < 0.16:
        return b"$" + payload[:100]  # a packet cut short: the probe after it is swallowed and sent again
    if roll < 0.18:
        return b"\x03"  # Ctrl-C while halted
    return _packet(payload.replace(b"$", b"").replace(b"#", b""))


class Session:
    """One `m0sim gdbserver --port 0` under the cap, and a raw client that acknowledges every reply."""

    def __init__(self, elf):
        cap = lambda: resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
        self.proc = subprocess.Popen([sys.executable, "-m", "m0sim", "gdbserver", str(elf), "--port", "0", "--once"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, preexec_fn=cap)
        first = self.proc.stderr.readline().decode()
        port = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert port, first + self.proc.stderr.read().decode()
        self.first = first
        self.sock = socket.create_connection(("127.0.0.1", int(port.group(1))), timeout=REPLY_SECONDS)
        self.buf = b""

    def replies_until_probe(self) -> bool:
        """Send the probe and read replies up to its answer; False when the program ended (a W or X stop reply:
        GDB then leaves, and so does this client) or the server ended the session. A probe swallowed by a broken
        packet before it (the server NAKs it, as it should) is sent again, as GDB would."""
        self.sock.sendall(_packet(PROBE))
        tries = 0
        while True:
            m = re.search(rb"\$([^#$]*)#[0-9a-fA-F]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                self.sock.sendall(b"+")
                if re.fullmatch(rb"[0-9a-f]{6}", m.group(1)):
                    return True
                if re.fullmatch(rb"[WX][0-9a-f]{2}", m.group(1)):
                    return False
                continue
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            except TimeoutError:
                tries += 1
                assert tries < RETRIES, "the server stopped answering"
                self.sock.sendall(_packet(PROBE))
                continue
            if not data:
                return False
            self.buf += data

    def finish(self):
        self.sock.close()
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, self.first + err.decode(errors="replace")


def fuzz(elf, seed: int, cases: int):
    rng = random.Random(seed)
    session, sessions = Session(elf), 1
    for i in range(cases):
        data = case(rng)
        try:
            session.sock.sendall(data)
            alive = session.replies_until_probe()
        except (BrokenPipeError, ConnectionResetError):
            alive = False
        except AssertionError as exc:
            raise AssertionError(f"seed {seed} case {i} {data[:200]!r}: {exc}") from None
        if not alive:  # the program ran to its end (a `c`) or GDB's `k`/`D`: a clean end, then a new session
            rc, err = session.finish()
            assert rc >= 0 and "Traceback" not in err, (seed, i, data[:200], rc, err[-3000:])
            session, sessions = Session(elf), sessions + 1
    session.sock.sendall(_packet(b"g"))
    assert session.replies_until_probe()
    rc, err = session.finish()
    assert rc >= 0 and "Traceback" not in err, (seed, rc, err[-3000:])
    return sessions


@pytest.fixture(scope="module")
def elf(firmware):
    return firmware(SOURCE, opt="-O0")


def test_fuzz_rsp_packets(elf):
    fuzz(elf, seed=1, cases=300)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 6))
def test_fuzz_rsp_thousands(elf, seed):
    fuzz(elf, seed=seed, cases=1000)


def test_debugger_write_to_rom_is_refused(elf):
    """GDB's M packet into the bootrom was accepted (the Pico's ROM is read-only)."""
    session = Session(elf)
    session.sock.sendall(_packet(b"M100,2:0000"))
    reply = re.search(rb"\$([^#$]*)#", _read_reply(session))
    assert reply.group(1) == b"E14"
    rc, err = session.finish()
    assert rc == 0 and "Traceback" not in err


def _read_reply(session) -> bytes:
    while not re.search(rb"\$[^#$]*#[0-9a-fA-F]{2}", session.buf):
        session.buf += session.sock.recv(4096)
    return session.buf
