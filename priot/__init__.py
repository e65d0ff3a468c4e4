"""PRIOT: integer-only on-device transfer learning by edge pruning (host side).

The numpy integer model in this package is the specification the C kernels follow
bit for bit; see ``priot.intmath`` for the one rounding rule and ``priot.ref`` for
the layer arithmetic.
"""

from priot.errors import PriotError, DataError, ConfigError

__all__ = ["PriotError", "DataError", "ConfigError"]
