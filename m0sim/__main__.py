"""`python -m m0sim` and the `m0sim` command: Ctrl-C is made quiet before the command line (click, importlib
metadata) is even imported, so that no moment of start-up can end in a traceback (m0sim.sigint)."""

from m0sim import sigint


def entry():
    sigint.quiet()
    from m0sim.cli import main  # after the handler: importing the command line is part of start-up

    main(prog_name="m0sim")


if __name__ == "__main__":
    entry()
