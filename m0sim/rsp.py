"""GDB's remote serial protocol on a TCP socket: packet framing, checksums, acknowledgements, Ctrl-C.

A packet is `$payload#cs` with cs the modulo-256 sum of the payload in two hex digits; the receiver answers
`+` (good) or `-` (bad checksum: send it again). A lone 0x03 byte outside a packet is GDB's interrupt request.
Binary payloads (the X packet) escape `#$}*` as `}` followed by the byte xor 0x20.
"""

import select
import socket

from m0sim.errors import InputError

INTERRUPT = 0x03
MAX_PACKET = 0x4000  # advertised as PacketSize; longer packets are refused with a NAK


class Disconnected(Exception):
    """GDB closed the connection (or sent garbage forever)."""


def checksum(payload: bytes) -> int:
    return sum(payload) & 0xFF


def frame(payload: bytes) -> bytes:
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def unescape(data: bytes) -> bytes:
    out, it = bytearray(), iter(data)
    for b in it:
        out.append(next(it, 0) ^ 0x20 if b == 0x7D else b)
    return bytes(out)


def listen(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on localhost; a port in use is bad input (one line, exit 2)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        server.bind((host, port))
    except OSError as exc:
        server.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (is another gdbserver running?)")
    server.listen(1)
    return server


class Connection:
    """One GDB client: read packets (acknowledging them), send replies, notice Ctrl-C while the target runs."""

    def __init__(self, sock: socket.socket, log=None):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one small packet per turn: no Nagle wait
        self.sock = sock
        self.buf = bytearray()
        self.interrupted = False
        self.log = log  # callable(str) for protocol traces, or None

    def _fill(self, timeout=None) -> bool:
        if timeout is not None and not select.select([self.sock], [], [], timeout)[0]:
            return False
        try:
            data = self.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            raise Disconnected()
        self.buf += data
        return True

    def _send_raw(self, data: bytes):
        try:
            self.sock.sendall(data)
        except OSError:
            raise Disconnected() from None

    def send(self, payload: bytes | str):
        if isinstance(payload, str):
            payload = payload.encode()
        if self.log:
            self.log(f"<- {payload[:200]!r}")
        self._send_raw(frame(payload))
        # GDB acknowledges each packet; a '-' asks for it again.
        for _ in range(10):
            while not self.buf:
                self._fill()
            ack = self.buf[0]
            if ack == ord("+"):
                del self.buf[0]
                return
            if ack == ord("-"):
                del self.buf[0]
                self._send_raw(frame(payload))
                continue
            return  # GDB moved on without an ack (it may have sent the next packet); nothing to resend

    def receive(self) -> bytes:
        """The next well-formed packet's payload (bad ones get a NAK and are dropped); a Ctrl-C between
        packets is returned as the one-byte payload b'\\x03'."""
        while True:
            while True:
                i = next((k for k, b in enumerate(self.buf) if b in (ord("$"), INTERRUPT)), None)
                if i is not None:
                    del self.buf[:i]
                    break
                self.buf.clear()
                self._fill()
            if self.buf[0] == INTERRUPT:
                del self.buf[0]
                return bytes([INTERRUPT])
            end = self.buf.find(b"#")
            while end < 0 or len(self.buf) < end + 3:
                if len(self.buf) > MAX_PACKET + 4:
                    self.buf.clear()
                    self._send_raw(b"-")
                    break
                self._fill()
                end = self.buf.find(b"#")
            else:
                payload, cs = bytes(self.buf[1:end]), bytes(self.buf[end + 1:end + 3])
                del self.buf[:end + 3]
                try:
                    good = int(cs, 16) == checksum(payload)
                except ValueError:
                    good = False
                if not good or b"$" in payload:
                    if self.log:
                        self.log(f"-> NAK {payload[:80]!r}")
                    self._send_raw(b"-")
                    continue
                self._send_raw(b"+")
                if self.log:
                    self.log(f"-> {payload[:200]!r}")
                return payload

    def poll_interrupt(self) -> bool:
        """While the target runs: has GDB sent Ctrl-C? (Anything else that arrives stays buffered.)"""
        try:
            self._fill(timeout=0)
        except Disconnected:
            raise
        if INTERRUPT in self.buf:
            self.buf.remove(INTERRUPT)
            return True
        return False
