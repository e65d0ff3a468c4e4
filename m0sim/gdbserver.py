"""The `m0sim gdbserver` process: the listening socket, the GDB connected to it, and the machines it serves.

A probe's server outlives its clients: without --once this one stays up across detaches, reconnections,
resets and loads (m0sim.gdbstub serves each machine run); a program that ends, or that GDB kills, starts
again from reset for the next GDB.
"""

import select
import socket
import sys

from m0sim.errors import FirmwareFault
from m0sim.gdbstub import Debugger, Gone, Killed, Reset
from m0sim.soc import Pico
from m0sim.rsp import Connection, Disconnected, listen


class Lobby:
    """The listening socket and the one GDB connected to it now (or none)."""

    def __init__(self, server: socket.socket, log=None, err=None):
        self.server = server
        self.log = log
        self.err = err
        self.conn: Connection | None = None

    @property
    def port(self) -> int:
        return self.server.getsockname()[1]

    def wait(self) -> Connection:
        """The connected GDB; blocks until one connects."""
        if self.conn is None:
            self._accept()
        return self.conn

    def arrived(self) -> bool:
        """While the program runs on after a detach: has a GDB connected? (It is accepted then.)"""
        if select.select([self.server], [], [], 0)[0]:
            self._accept()
            return True
        return False

    def _accept(self):
        sock, _ = self.server.accept()
        self.conn = Connection(sock, log=self.log)
        self.err("m0sim: GDB connected")

    def drop(self):
        if self.conn is not None:
            self.conn.sock.close()
            self.conn = None


def serve(program, port: int, clock_hz: int, max_cycles_seconds: float, out=None, log=None,
          once: bool = False) -> int:
    """Listen on localhost:port and serve GDB: across detaches, reconnections, resets and loads.

    Without `once` the server stays up: a program that ends (or is killed) starts again from reset for the
    next GDB. With `once` it returns the exit code for the command line when the program ends: its own
    (124 or 70 for a budget or fault while detached), or 0 when GDB killed it or went away first.
    """
    err = out or (lambda text: print(text, file=sys.stderr, flush=True))
    machine = _machine(program, clock_hz)
    machine._reset_vector()  # a program m0sim cannot run is refused before anything listens
    server = listen(port)
    lobby = Lobby(server, log=log, err=err)
    err(f"m0sim: gdbserver for {program.path} listening on 127.0.0.1:{lobby.port} "
        f"(gdb-multiarch {program.path} -ex 'target remote :{lobby.port}')")
    breaks, watches, ram_writes, maskisr, sync = {}, [], [], "auto", False
    try:
        while True:
            current, machine = machine or _machine(program, clock_hz), None  # the next round builds a fresh one
            dbg = Debugger(lobby, breaks, watches, err=err, once=once, ram_writes=ram_writes, maskisr=maskisr,
                           sync=sync)
            current.debugger = dbg
            ram_writes, sync = [], False
            try:
                result = current.run(max_cycles=int(max_cycles_seconds * clock_hz))
            except Reset as r:
                breaks, watches, maskisr = dbg._wanted_breaks, dbg._wanted_watches, dbg.maskisr
                program, ram_writes, sync = r.program or program, r.ram_writes, True
                continue
            except Killed:
                err("m0sim: GDB killed the program")
                lobby.drop()
                if once:
                    return 0
                breaks, watches = {}, []
                continue
            except FirmwareFault as fault:  # after GDB saw it (or while detached): as `exec` reports it
                err(f"m0sim: error: {fault}")
                _goodbye(lobby)
                if once:
                    return fault.exit_code
                breaks, watches = {}, []
                continue
            err(f"m0sim: {program.path.name}: {result.stats.summary()}")
            _goodbye(lobby)
            if once:
                return result.exit_code & 0xFF
            breaks, watches = {}, []
    except Gone:
        err("m0sim: GDB disconnected; stopping")
        return 0
    finally:
        lobby.drop()
        server.close()


def _machine(program, clock_hz: int) -> Pico:
    """Both cores, as `m0sim exec` runs a program (core 1 waits in the bootrom unless it is launched)."""
    return Pico(program, clock_hz=clock_hz, alignment_faults=True)


def _goodbye(lobby: Lobby):
    """After the exit report GDB may still ask a question or two, then closes the connection."""
    conn = lobby.conn
    if conn is None:
        return
    try:
        while True:
            packet = conn.receive().decode("latin-1")
            if packet in ("k", "D"):
                break
            conn.send("OK" if packet.startswith("D") else "")
    except Disconnected:
        pass
    lobby.drop()
