"""Every on-device training method behind one interface (``priot.methods.base.Method``)."""

from priot.errors import ConfigError
from priot.methods.base import Method, NoAdapt
from priot.methods.baselines import Niti
from priot.methods.priot import Priot


# PRIOT-S scores a quarter of each scored layer's edges; scores start at |w| << 2.
DEFAULT_FRAC = 0.25
DEFAULT_INIT_SHIFT = 2


def make(name, qm, lr_shift=None, seed=1, keep=None, frac=DEFAULT_FRAC, init_shift=DEFAULT_INIT_SHIFT, layers=None):
    """Build a method by name (``METHODS`` or ``ABLATIONS``); ``layers`` are PRIOT's scored layers and
    ``keep=None`` and ``lr_shift=None`` are the method's tuned values (``DEFAULT_KEEP``, ``DEFAULT_LR_SHIFT``)."""
    lr_shift = DEFAULT_LR_SHIFT.get(name) if lr_shift is None else lr_shift
    lr = {} if lr_shift is None else {"lr_shift": lr_shift}
    if name == "none":
        return NoAdapt(qm)
    if name in ("sgd-all", "sgd-last", "sgd-all-rtn", "sgd-last-rtn"):
        which, _, rtn = name[4:].partition("-")
        return Niti(qm, layers=which, seed=seed, rounding="nearest" if rtn else "stochastic", **lr)
    if name == "niti-dynamic":
        return Niti(qm, dynamic=True, seed=seed, **lr)
    if name in ("priot", "priot-s"):
        keep = DEFAULT_KEEP[name] if keep is None else keep
        return Priot(qm, keep=keep, init_shift=init_shift, frac=1.0 if name == "priot" else frac, layers=layers, **lr)
    raise ConfigError(f"unknown method {name!r} ({', '.join(METHODS + ABLATIONS)})")


# Defaults every experiment uses (host compare, device runs), chosen on validation splits of rotated
# digits with `m0sim run compare` (README, "PRIOT results"): PRIOT keeps 90% of its scored edges,
# PRIOT-S half of the edges it scores; learning-rate shifts are the tuned optimum at 45 degrees.
DEFAULT_KEEP = {"priot": 0.9, "priot-s": 0.5}
DEFAULT_LR_SHIFT = {"priot": 7, "priot-s": 5, "sgd-all": 9, "sgd-last": 7, "niti-dynamic": 4, "none": None}

METHODS = ("none", "sgd-all", "sgd-last", "niti-dynamic", "priot", "priot-s")
ABLATIONS = ("sgd-all-rtn", "sgd-last-rtn")  # round-to-nearest weight SGD, selectable by name

__all__ = ["Method", "NoAdapt", "Niti", "Priot", "make", "METHODS", "ABLATIONS", "DEFAULT_KEEP", "DEFAULT_LR_SHIFT",
           "DEFAULT_FRAC", "DEFAULT_INIT_SHIFT"]
