"""Weight-training baselines: integer SGD on the int8 weights, on the same int8 grid and static shifts.

Every one runs the same integer forward/backward with the backbone's calibrated shifts (except
``dynamic``) and differs only in how the int32 weight-gradient accumulator ``gW_acc`` of a layer
becomes an int8 weight step (the ``update`` rule, a field of each method's registry entry):

- ``stochastic`` (engineered): ``sround(gW_acc, grad_shift[j] + lr_shift)``, unbiased hash-stochastic
  rounding (the counter advances once per updated tensor);
- ``nearest`` (naive): ``rshift_round(gW_acc, grad_shift[j] + lr_shift)``;
- ``floor`` (naive): ``gW_acc >> (grad_shift[j] + lr_shift)``, the arithmetic shift a first C port writes;
- ``niti-static`` (published): NITI's ``niti_update(gW_acc, mu)`` (normalised to mu bits from the
  accumulator's maximum, PstoShift rounding) with NITI's mu schedule (mu, mu-1, mu-2 at half and three
  quarters of training), static forward/backward scales;
- ``dynamic`` (reference): NITI's dynamic scaling, every activation, error and gradient shift from the
  tensor's maximum each step, update ``sround(gW_acc, max(0, bitlen(max|gW_acc|) - mu))``.

Then ``w = sat_w8(w - step)``. Weight exponents stay those of the backbone; biases stay frozen.
"""

import numpy as np

from priot import ref
from priot.errors import ConfigError
from priot.intmath import dynamic_shift, floor_shift, niti_update, rshift_round, sat_w8, sround
from priot.methods.base import Method

UPDATES = {
    "stochastic": "sround(gW, grad_shift + lr_shift): unbiased hash-stochastic rounding",
    "nearest": "rshift_round(gW, grad_shift + lr_shift): round to nearest",
    "floor": "gW >> (grad_shift + lr_shift): arithmetic shift (floor)",
    "niti-static": "NITI: normalised to mu bits from max|gW|, PstoShift rounding, mu schedule; static scales",
    "dynamic": "NITI dynamic scaling: every shift from the tensor's maximum each step",
}
RANDOM_UPDATES = ("stochastic", "dynamic")  # the rules that draw from the rounding counter


def niti_mu(mu0: int, epoch: int, epochs: int | None) -> int:
    """NITI's mu schedule, scaled to the run: mu0 for the first half of ``epochs``, mu0 - 1 to three
    quarters, mu0 - 2 after (NITI: 5, 4, 3 at epochs 0, 100, 150 of 200); at least 0. ``epochs=None``
    (the length of training was never given): mu0 throughout."""
    if epochs is None:
        return mu0
    return max(0, mu0 - int(2 * epoch >= epochs) - int(4 * epoch >= 3 * epochs))


class Niti(Method):
    """Integer SGD on the int8 weights of every layer (``layers="all"``) or the last, with one update rule."""

    def __init__(self, qm, lr_shift=4, layers="all", update="stochastic", seed=1):
        super().__init__(qm)
        if update not in UPDATES:
            raise ConfigError(f"update rule must be one of {', '.join(UPDATES)}, got {update!r}")
        if layers not in ("all", "last"):
            raise ConfigError(f"layers must be 'all' or 'last', got {layers!r}")
        if not 0 <= lr_shift <= 20:
            raise ConfigError(f"lr_shift {lr_shift} outside 0..20")
        n = len(qm.weights)
        self.trained = list(range(n)) if layers == "all" else [n - 1]
        self.layers, self.update, self.seed = layers, update, seed
        self.lr_shift = self.mu0 = lr_shift  # NITI's mu for niti-static and dynamic
        self.epoch, self.epochs = 0, None
        self.name = f"{update}-{layers}"
        self.weights = [w.copy() for w in qm.weights]
        self.counter = np.zeros(1, np.uint32)

    @property
    def dynamic(self):
        return self.update == "dynamic"

    def effective_weights(self):
        return self.weights

    def begin(self, epochs):
        """The run's length, for NITI's mu schedule."""
        super().begin(epochs)
        self.epochs = epochs
        if self.update == "niti-static":
            self.lr_shift = niti_mu(self.mu0, self.epoch, epochs)

    def _delta(self, j, g):
        """Layer j's weight step from its gradient accumulator ``g`` (int64)."""
        u = self.update
        if u in RANDOM_UPDATES:
            s = dynamic_shift(g, bits=self.lr_shift) if u == "dynamic" else self.qm.grad_shift[j] + self.lr_shift
            delta = sround(g, s, self.seed, int(self.counter[0]))
            self.counter += np.uint32(1)
            return delta
        if u == "niti-static":
            return niti_update(g, self.lr_shift)
        s = self.qm.grad_shift[j] + self.lr_shift
        return rshift_round(g, s) if u == "nearest" else floor_shift(g, s)

    def step(self, x, label):
        logits, grads, _ = self._grads(x, label, dynamic=self.dynamic)
        for j in self.trained:
            self.weights[j] = sat_w8(self.weights[j].astype(np.int64) - self._delta(j, grads[j]))
        return {"correct": int(logits[0].argmax() == label)}

    def end_epoch(self):
        """Dynamic: one bit less of update (mu >= 0); niti-static: NITI's mu schedule; else one more shift."""
        self.epoch += 1
        if self.update == "dynamic":
            self.lr_shift = max(self.lr_shift - 1, 0)
        elif self.update == "niti-static":
            self.lr_shift = niti_mu(self.mu0, self.epoch, self.epochs)
        else:
            super().end_epoch()

    def predict(self, x):
        """Inference with static shifts for the static baselines, dynamic ones for NITI dynamic."""
        if not self.dynamic:
            return super().predict(x)
        x = np.asarray(x)
        x = x[None] if x.ndim == 3 else x
        return np.concatenate([ref.forward(self.qm, x[i:i + 1], self.weights, dynamic=True)[0]
                               for i in range(len(x))])

    def state(self):
        out = {f"w{j}": self.weights[j] for j in self.trained}
        if self.update in RANDOM_UPDATES:
            out["rng_counter"] = self.counter
        return out
