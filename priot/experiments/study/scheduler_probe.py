"""Is a ``--scheduler`` address a Dask scheduler?  Asked with a plain socket before Dask's ``Client`` is made.

``Client`` trusts its peer: a silent TCP peer or the dashboard's HTTP port holds it far past its connect timeout,
an HTTP reply read as a frame length makes it try to allocate exbibytes, and ``tls://`` or ``ucx://`` without
their set-up fail inside Dask with a TypeError.  A scheduler speaks first: on accepting a connection it writes
its handshake (an 8-byte little-endian length, then msgpack frames naming its ``pickle-protocol``), so
reading a bounded number of bytes with a deadline tells a scheduler from anything else.
"""

import socket
import struct
import time

from m0sim.errors import InputError

SCHEMES = ("tcp",)  # tls needs certificates and ucx its own stack: neither is set up by this command
IN_PROCESS = "inproc://"
HANDSHAKE_MAX_BYTES = 1 << 16  # a scheduler's handshake is a few hundred bytes
HANDSHAKE_MARK = b"pickle-protocol"


def parse(scheduler: str) -> tuple[str, int]:
    """(host, port) of ``host:port`` or ``tcp://host:port``; any other form is one line of bad input."""
    scheme, sep, rest = scheduler.partition("://")
    if not sep:
        scheme, rest = "tcp", scheduler
    if scheme not in SCHEMES:
        raise InputError(f"--scheduler {scheduler}: {scheme}:// is not supported (give host:port or "
                         f"tcp://host:port of a `dask scheduler`)")
    host, colon, port = rest.rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--scheduler {scheduler}: expected host:port with a port 1..65535")
    return host, int(port)


def _read(sock: socket.socket, n: int, deadline: float) -> bytes:
    out = b""
    while len(out) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed by the peer")
        out += chunk
    return out


def check(scheduler: str, timeout: float) -> str:
    """The tcp:// address of ``scheduler`` once its peer has greeted like a Dask scheduler within ``timeout``
    seconds; otherwise one line of bad input saying what answered."""
    if scheduler.startswith(IN_PROCESS):
        return scheduler  # a scheduler in this very process (a Python caller's LocalCluster): nothing to probe
    host, port = parse(scheduler)
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            size = struct.unpack("<Q", _read(sock, 8, deadline))[0]
            if not 0 < size <= HANDSHAKE_MAX_BYTES:
                raise InputError(f"Dask scheduler {scheduler}: the peer is not a Dask scheduler (it sent "
                                 f"{size.to_bytes(8, 'little')!r} where a scheduler's handshake begins)")
            if HANDSHAKE_MARK not in _read(sock, size, deadline):
                raise InputError(f"Dask scheduler {scheduler}: the peer is not a Dask scheduler (its greeting "
                                 f"is no Dask handshake)")
    except TimeoutError:
        raise InputError(f"Dask scheduler {scheduler} does not answer within {timeout:g} s (a silent peer or an "
                         f"HTTP port such as the dashboard's? give the scheduler's own port)") from None
    except OSError as exc:
        raise InputError(f"Dask scheduler {scheduler} does not answer within {timeout:g} s "
                         f"({exc.strerror or exc}); start one with `dask scheduler`") from None
    return f"tcp://{host}:{port}" if ":" not in host else f"tcp://[{host}]:{port}"
