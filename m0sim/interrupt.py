"""Ctrl-C during an emulation.

Unicorn runs in C with the GIL released, and Python only runs its SIGINT handler between bytecodes: a firmware
loop with no Python hook would ignore Ctrl-C until its budget ran out.  Python's C-level handler also writes
the signal number to the wakeup fd (`signal.set_wakeup_fd`) at once, so a watcher thread reading that fd stops
every running engine; `emu_start` then returns and the pending KeyboardInterrupt is raised in the main thread.
"""

import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import unicorn

STOP_RETRY = 0.01  # seconds between stops of an engine still running after Ctrl-C
_running = set()  # Unicorn engines inside emu_start on the main thread
_lock = threading.Lock()
_pipe = None  # (read fd, write fd) of the wakeup pipe, created with the watcher
# Set by the watcher on SIGINT: the KeyboardInterrupt itself can be lost when Python's handler raises it on the
# first line of a Unicorn hook's ctypes callback (outside the binding's guard); see `requested`.
_requested = threading.Event()
_UNICORN_DIR = str(Path(unicorn.__file__).parent)  # the binding's hook wrappers live here


def _on_sigint(signum, frame):
    """Python's SIGINT handler inside a `stoppable` body: KeyboardInterrupt as usual, except on the first line of
    a Unicorn hook's ctypes callback, where ctypes would print it as ignored (a traceback) and lose it: there the
    request is only noted, and the watcher's stops and the run loop's `requested` end the run."""
    if frame is not None and frame.f_code.co_filename.startswith(_UNICORN_DIR):
        _requested.set()
        return
    raise KeyboardInterrupt


def _watch(read_fd):
    while True:
        try:
            data = os.read(read_fd, 64)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            stop_all()


def stop_all():
    """Ctrl-C: stop every engine of a `stoppable` body, and again every STOP_RETRY seconds while the body goes
    on: a stop that finds an engine between two emu_starts is ignored by Unicorn, and the run loop's next
    emu_start would run on (the run loop raises KeyboardInterrupt when it sees `requested`)."""
    _requested.set()
    while _requested.is_set():
        with _lock:
            engines = list(_running)
        if not engines:
            return
        for engine in engines:
            engine.emu_stop()
        time.sleep(STOP_RETRY)


def _ensure_watcher():
    global _pipe
    if _pipe is None:
        r, w = os.pipe()
        os.set_blocking(w, False)  # set_wakeup_fd requires it
        _pipe = (r, w)
        threading.Thread(target=_watch, args=(r,), name="m0sim-sigint", daemon=True).start()
    return _pipe[1]


@contextmanager
def stoppable(engine):
    """Run the body (an `emu_start` on `engine`) so that Ctrl-C stops the engine within moments."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) in (
            signal.SIG_IGN, signal.SIG_DFL, None):
        yield
        return
    fd = _ensure_watcher()
    _requested.clear()
    with _lock:
        _running.add(engine)
    try:
        previous, installed = signal.set_wakeup_fd(fd, warn_on_full_buffer=False), True
    except ValueError:  # not the main interpreter's main thread after all
        previous, installed = -1, False
    handler = signal.getsignal(signal.SIGINT)
    swapped = installed and handler is signal.default_int_handler  # a program's own handler stays
    if swapped:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        if swapped:
            signal.signal(signal.SIGINT, handler)
        if installed:
            signal.set_wakeup_fd(previous)
        with _lock:
            _running.discard(engine)


def requested() -> bool:
    """Whether Ctrl-C (SIGINT) arrived during the current `stoppable` body: a run loop that goes on after an
    `emu_start` asks this, so a KeyboardInterrupt lost in a hook cannot keep it running."""
    return _requested.is_set()
