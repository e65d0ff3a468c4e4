"""Two kinds of failure with distinct exit codes: the user gave us something wrong, or the firmware broke."""


class M0simError(Exception):
    """Base class; `exit_code` is what the command line returns."""

    exit_code = 1


class InputError(M0simError):
    """Bad input: a missing or corrupt file, wrong architecture, bad option, missing symbol, a model that does not fit."""

    exit_code = 2  # like a click usage error


class FirmwareFault(M0simError):
    """The emulated program did something a real Cortex-M0+ would fault on, or ran past its budget."""

    exit_code = 70  # EX_SOFTWARE: high enough not to clash with a firmware's own small exit codes


class BudgetExhausted(FirmwareFault):
    """The instruction or cycle budget ran out before the program finished."""

    exit_code = 124  # as timeout(1) reports a command that did not finish


class Interrupted(M0simError, KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped the run; still a KeyboardInterrupt for code that catches that."""

    exit_code = 130  # 128 + SIGINT, as shells report it
