"""PRIOT and PRIOT-S: train int16 edge-popup scores over frozen int8 weights, static shifts only.

Scored edges: edge e of layer j is scored iff |w_e| >= T_j, where T_j is the smallest integer in
0..127 with count(|w| >= T_j) <= floor(p * n_j). p = 1 gives T_j = 0 (PRIOT: every edge scored);
p < 1 is PRIOT-S (the largest-|w| edges, no index memory: the device re-derives membership from
the weight and one byte per layer). Scores live in flat weight order, scored edges only.
Unscored edges are always kept; among the scored, the top ``K_j = floor(keep * n_scored + 0.5)``
scores are kept (``priot.topk``: lower index wins ties).

Layers not listed in ``layers`` get T_j = 128: no edge scored, the layer is used whole. By
default every layer but the first is scored: pruning the first conv (72 edges over non-negative
pixels) lets early large steps remove its positive weights, after which every ReLU output is 0,
every gradient is 0 and training can never recover (seen at keep <= 0.6 on rotated MNIST).

Score initialisation: ``s = |w| << init_shift`` (int16), so the first mask is magnitude pruning.

Step (one sample): W_eff = W * mask; integer forward/backward through W_eff (``priot.ref``);
  g16   = sat16(rshift_round(gW_acc, grad_shift[j]))      int16, gradient w.r.t. W_eff
  dS    = rshift_round(g16 * w, lr_shift)                 |g16 * w| <= 2^22 fits int32
  s     = sat16(s - dS)  (scored edges only); then the masks are recomputed.
"""

import numpy as np

from priot.errors import ConfigError
from priot.intmath import rshift_round, sat16
from priot.methods.base import Method
from priot.topk import keep_count, topk_mask


def score_threshold(w, frac):
    """T: smallest value in 0..127 with count(|w| >= T) <= floor(frac * n)."""
    if not 0.0 < frac <= 1.0:
        raise ConfigError(f"scored fraction {frac} outside (0, 1]")
    a = np.abs(w.astype(np.int32)).ravel()
    budget = int(np.floor(frac * a.size))
    ge = np.cumsum(np.bincount(a, minlength=129)[::-1])[::-1]  # ge[t] = count(|w| >= t)
    return int(np.nonzero(ge[:128] <= budget)[0][0]) if (ge[:128] <= budget).any() else 128


class Priot(Method):
    """Edge-popup over every edge (``frac=1``) or over each layer's largest-|w| edges (PRIOT-S)."""

    def __init__(self, qm, keep=0.9, lr_shift=7, init_shift=2, frac=1.0, layers=None):
        super().__init__(qm)
        n = len(qm.weights)
        layers = list(range(1, n)) if layers is None else sorted(set(int(j) for j in layers))
        if any(not 0 <= j < n for j in layers):
            raise ConfigError(f"scored layers {layers} must be indices 0..{n - 1}")
        if not 0 <= init_shift <= 8 or not 0 <= lr_shift <= 31:
            raise ConfigError(f"init_shift {init_shift} must be 0..8 and lr_shift {lr_shift} 0..31")
        self.name = "priot" if frac >= 1.0 else "priot-s"
        self.keep, self.lr_shift, self.frac, self.score_layers = keep, lr_shift, frac, layers
        # T = 128 scores nothing (|w| <= 127): layers outside ``layers`` stay whole and frozen
        self.thresholds = [score_threshold(w, frac) if j in layers else 128 for j, w in enumerate(qm.weights)]
        self.scored = [(np.abs(w.astype(np.int32)) >= t).ravel() for w, t in zip(qm.weights, self.thresholds)]
        self.k = [keep_count(int(s.sum()), keep) for s in self.scored]
        self.scores = [sat16(np.abs(w.astype(np.int32)).ravel()[s] << init_shift)
                       for w, s in zip(qm.weights, self.scored)]
        self._update_masks()

    def _update_masks(self):
        masks = []
        for w, sc, s, k in zip(self.qm.weights, self.scored, self.scores, self.k):
            m = np.ones(w.size, np.uint8)
            m[sc] = topk_mask(s, k)
            masks.append(m.reshape(w.shape))
        self.masks = masks
        self._eff = [(w * m).astype(np.int8) for w, m in zip(self.qm.weights, masks)]

    def effective_weights(self):
        return self._eff

    def step(self, x, label):
        logits, grads, _ = self._grads(x, label)
        for j, (g, w, sc) in enumerate(zip(grads, self.qm.weights, self.scored)):
            g16 = sat16(rshift_round(g.ravel()[sc], self.qm.grad_shift[j]))
            ds = rshift_round(g16.astype(np.int32) * w.ravel()[sc].astype(np.int32), self.lr_shift)
            self.scores[j] = sat16(self.scores[j].astype(np.int32) - ds)
        self._update_masks()
        return {"correct": int(logits[0].argmax() == label)}

    def state(self):
        return {f"scores{j}": s for j, s in enumerate(self.scores)}
