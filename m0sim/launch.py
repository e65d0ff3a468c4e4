"""Core 1's wait state in the RP2040 bootrom, as a state machine (datasheet 2.8.2, "Launching code on processor
core 1").

After reset core 1 sleeps in the bootrom, reading its RX FIFO. Core 0 launches it by sending the words 0, 0, 1,
vector table, stack pointer, entry point; core 1 echoes every word it reads back through the other FIFO (and
signals an event) so core 0 can check it, and starts over whenever one of the first three words is not the one
the sequence expects. After the sixth word core 1 sets VTOR and SP and jumps to the entry point; when that
function returns, core 1 is back in the wait state.

The bootrom's own instructions are not run: a word is echoed the moment it is written.
"""

from collections.abc import Callable

LAUNCH_PREFIX = (0, 0, 1)
SEQUENCE_LENGTH = 6


class Core1Boot:
    """Consumes the words written to core 1's FIFO while core 1 waits; calls `launch(vtor, sp, entry)` on the
    sixth word of a good sequence. `echo(word)` writes to core 0's FIFO; `signal()` is core 1's SEV."""

    def __init__(self, echo: Callable[[int], None], signal: Callable[[], None],
                 launch: Callable[[int, int, int], None]):
        self._echo = echo
        self._signal = signal
        self._launch = launch
        self._words: list[int] = []

    def __call__(self, word: int):
        self._echo(word)
        self._signal()
        step = len(self._words)
        if step < len(LAUNCH_PREFIX) and word != LAUNCH_PREFIX[step]:
            self._words = [word] if word == LAUNCH_PREFIX[0] else []  # start over (a 0 already begins anew)
            return
        self._words.append(word)
        if len(self._words) == SEQUENCE_LENGTH:
            vtor, sp, entry = self._words[3:]
            self._words = []
            self._launch(vtor, sp, entry)
