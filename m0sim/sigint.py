"""Ctrl-C outside a command's own work (interpreter start, imports, parsing, shutdown): one line and exit 130.

A command's work runs with Python's usual handler, so Ctrl-C raises KeyboardInterrupt there and the command
line turns it into its one line (m0sim.cli).  Before and after that, a KeyboardInterrupt could surface anywhere
(inside an import, inside click, at exit) as a traceback; the handler installed by `quiet` exits at once instead.
Only the `m0sim` command installs it: a Python program that imports m0sim keeps its own Ctrl-C.
"""

import os
import signal
import sys
from contextlib import contextmanager

EXIT_CODE = 130  # 128 + SIGINT, as shells report it (m0sim.errors.Interrupted)
MESSAGE = b"m0sim: interrupted\n"


def _exit_now(signum, frame):
    try:
        sys.stdout.flush()  # what the firmware printed so far
    except Exception:  # noqa: BLE001 (a reentrant or closed stream: the output is lost either way)
        pass
    os.write(2, MESSAGE)
    os._exit(EXIT_CODE)


def quiet():
    """From now on Ctrl-C ends the process with one line and 130 (the `m0sim` command, before it loads)."""
    signal.signal(signal.SIGINT, _exit_now)


@contextmanager
def as_keyboard_interrupt():
    """Inside the body Ctrl-C raises KeyboardInterrupt as usual; after it, `quiet` again if it was before."""
    was_quiet = signal.getsignal(signal.SIGINT) is _exit_now
    if was_quiet:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if was_quiet:
            signal.signal(signal.SIGINT, _exit_now)
