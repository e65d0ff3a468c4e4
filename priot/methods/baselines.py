"""Weight-training baselines (NITI-style integer SGD), on the same int8 grid and static shifts.

Static (b: every layer, c: last layer only): forward/backward with the calibrated shifts, then
  w = sat_w8(w - sround(gW_acc, grad_shift[j] + lr_shift))
with ``intmath.sround`` (pseudo-stochastic rounding, counter-based lowbias32 hash; the counter
advances once per updated tensor). Dynamic (d, the costly reference): every activation, error and
gradient shift is recomputed from the tensor's maximum each step (``ref`` dynamic mode), and the
update is NITI's ``sround(gW_acc, max(0, bitlen(max|gW_acc|) - mu))`` (an update of at most mu
bits). Weight exponents stay those of the backbone. Biases stay frozen in every method.
``rounding="nearest"`` (``*-rtn``) replaces the stochastic rounding by ``rshift_round``: an
ablation showing what the static baselines lose without NITI's rounding, not a fair baseline.
"""

import numpy as np

from priot import ref
from priot.errors import ConfigError
from priot.intmath import dynamic_shift, rshift_round, sat_w8, sround
from priot.methods.base import Method


class Niti(Method):
    """Integer SGD on the int8 weights: static shifts (``dynamic=False``) or NITI dynamic scaling."""

    def __init__(self, qm, lr_shift=4, layers="all", dynamic=False, seed=1, rounding="stochastic"):
        super().__init__(qm)
        if rounding not in ("stochastic", "nearest"):
            raise ConfigError(f"rounding must be 'stochastic' or 'nearest', got {rounding!r}")
        if layers not in ("all", "last"):
            raise ConfigError(f"layers must be 'all' or 'last', got {layers!r}")
        if not 0 <= lr_shift <= 20:
            raise ConfigError(f"lr_shift {lr_shift} outside 0..20")
        n = len(qm.weights)
        self.trained = list(range(n)) if layers == "all" else [n - 1]
        self.lr_shift, self.dynamic, self.seed = lr_shift, dynamic, seed
        self.name = "niti-dynamic" if dynamic else ("sgd-all" if layers == "all" else "sgd-last")
        self.rounding = rounding
        if rounding == "nearest":
            self.name += "-rtn"
        self.weights = [w.copy() for w in qm.weights]
        self.counter = np.zeros(1, np.uint32)

    def effective_weights(self):
        return self.weights

    def _shift(self, j, g):
        """Rounding shift of layer j's gradient accumulator (lr_shift is mu in dynamic mode)."""
        if self.dynamic:
            return dynamic_shift(g, bits=self.lr_shift)
        return self.qm.grad_shift[j] + self.lr_shift

    def step(self, x, label):
        logits, grads, _ = self._grads(x, label, dynamic=self.dynamic)
        for j in self.trained:
            s = self._shift(j, grads[j])
            if self.rounding == "nearest":
                delta = rshift_round(grads[j], s)
            else:
                delta = sround(grads[j], s, self.seed, int(self.counter[0]))
                self.counter += np.uint32(1)
            self.weights[j] = sat_w8(self.weights[j].astype(np.int64) - delta)
        return {"correct": int(logits[0].argmax() == label)}

    def end_epoch(self):
        """Halve the step: one more shift (static), one bit less of update (dynamic, mu >= 0)."""
        if self.dynamic:
            self.lr_shift = max(self.lr_shift - 1, 0)
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
        out["rng_counter"] = self.counter
        return out
