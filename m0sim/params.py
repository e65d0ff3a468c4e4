"""Command-line parameter types that refuse what click lets through: nan and inf pass click's FloatRange,
because every comparison with nan is false."""

import math

import click


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that also refuses nan and inf."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return rv


class FiniteFloat(FiniteFloatRange):
    """Any finite float."""

    name = "float"

    def __init__(self):
        super().__init__()
