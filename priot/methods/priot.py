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

Knobs (keyword parameters; the defaults are the method as published here, bit for bit):
  ``rounding``  "nearest": dS = rshift_round(...); "stochastic": dS = sround(g16 * w, lr_shift, seed,
                counter + r) (``priot.intmath.sround``: the seeded hash the SGD baselines use, indexed by the
                scored edge; r is the layer's rank among the layers with scored edges, and the counter
                advances by their number every step), so small score gradients move scores on average.
  ``ranking``   "signed": keep the top-K scores; "magnitude": the top-K |scores| (edge-popup's rule), and
                as in edge-popup the straight-through gradient reaches s through the abs: s -= sign(s) * dS
                (sign(0) = 0). Without that sign an edge whose score is pushed below zero would be kept ever
                more firmly (measured: every step of the grid collapses to chance at 90 degrees).
  ``select``    PRIOT-S's scored edges: "largest" |w| (T_j above), "smallest" |w| (|w| <= T_j with T_j the
                largest value in -1..127 whose count fits the budget), or "random": edge i of layer j is
                scored iff ``rand32(seed, SELECT_SALT ^ j, n_j)[i] >> 16 < R_j`` with R_j the largest
                threshold whose count fits the budget (no index memory on the device either: it re-derives
                membership from the hash). Every rule scores at most floor(p * n_j) edges.

Step (one sample): W_eff = W * mask; integer forward/backward through W_eff (``priot.ref``);
  g16   = sat16(rshift_round(gW_acc, grad_shift[j]))      int16, gradient w.r.t. W_eff
  dS    = rshift_round(g16 * w, lr_shift)                 |g16 * w| <= 2^22 fits int32
  s     = sat16(s - dS)  (scored edges only); then the masks are recomputed.
"""

import numpy as np

from priot.errors import ConfigError
from priot.intmath import rand32, rshift_round, sat16, sround
from priot.methods.base import Method
from priot.methods.registry import RANKINGS, ROUNDINGS, SELECTIONS
from priot.topk import keep_count, topk_mask


# The knobs' values (the registry's tables; the first is the default)
ROUNDING = tuple(ROUNDINGS)
RANKING = tuple(RANKINGS)
SELECT = tuple(k for k in SELECTIONS if k != "every")  # PRIOT-S's rules; PRIOT's "every" is "largest" at fraction 1
SELECT_SALT = 0x5E1EC7ED  # the random selection's hash stream, apart from the rounding counter's
# per rule, the threshold parameter that scores no edge (a layer PRIOT does not score)
NOTHING_SCORED = {"largest": 128, "smallest": -1, "random": 0}


def select_hash(seed, layer, n):
    """The 16-bit hash the random selection ranks layer ``layer``'s edges by (C: the same words >> 16)."""
    return (rand32(seed, SELECT_SALT ^ layer, n) >> np.uint64(16)).astype(np.int64)


def select_scored(w, frac, rule="largest", seed=1, layer=0):
    """(threshold parameter, flat bool mask of the scored edges) of one layer under a selection ``rule``."""
    a = np.abs(w.astype(np.int32)).ravel()
    if rule == "largest":
        t = score_threshold(w, frac)
        return t, a >= t
    if not 0.0 < frac <= 1.0:
        raise ConfigError(f"scored fraction {frac} outside (0, 1]")
    budget = int(np.floor(frac * a.size))
    if rule == "smallest":
        le = np.cumsum(np.bincount(a, minlength=128))  # le[t] = count(|w| <= t)
        fits = np.nonzero(le[:128] <= budget)[0]
        t = int(fits[-1]) if fits.size else -1
        return t, a <= t
    if rule == "random":
        h = select_hash(seed, layer, a.size)
        r = int(np.sort(h)[budget]) if budget < a.size else 1 << 16
        return r, h < r
    raise ConfigError(f"unknown PRIOT-S selection rule {rule!r} (have {', '.join(SELECT)})")


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

    def __init__(self, qm, keep=0.9, lr_shift=7, init_shift=2, frac=1.0, layers=None, rounding="nearest",
                 ranking="signed", select="largest", seed=1):
        super().__init__(qm)
        n = len(qm.weights)
        layers = list(range(1, n)) if layers is None else sorted(set(int(j) for j in layers))
        if any(not 0 <= j < n for j in layers):
            raise ConfigError(f"scored layers {layers} must be indices 0..{n - 1}")
        if not 0 <= init_shift <= 8 or not 0 <= lr_shift <= 31:
            raise ConfigError(f"init_shift {init_shift} must be 0..8 and lr_shift {lr_shift} 0..31")
        for what, value, allowed in (("rounding", rounding, ROUNDING), ("ranking", ranking, RANKING),
                                     ("select", select, SELECT)):
            if value not in allowed:
                raise ConfigError(f"PRIOT {what} {value!r} unknown (have {', '.join(allowed)})")
        if rounding == "stochastic" and lr_shift > 30:
            raise ConfigError(f"stochastic score rounding needs lr_shift 0..30, got {lr_shift}")
        self.name = "priot" if frac >= 1.0 else "priot-s"
        self.keep, self.lr_shift, self.frac = keep, lr_shift, frac
        self.rounding, self.ranking, self.select, self.seed = rounding, ranking, select, int(seed)
        self.score_layers = layers
        # layers outside ``layers`` stay whole and frozen: their threshold scores nothing
        chosen = [select_scored(w, frac, select, self.seed, j) if j in layers else (NOTHING_SCORED[select], None)
                  for j, w in enumerate(qm.weights)]
        self.thresholds = [t for t, _ in chosen]
        self.scored = [np.zeros(w.size, bool) if m is None else m for w, (_, m) in zip(qm.weights, chosen)]
        self.k = [keep_count(int(s.sum()), keep) for s in self.scored]
        self.counter = np.zeros(1, np.uint32)  # stochastic rounding's call counter (as the SGD baselines')
        self.scores = [sat16(np.abs(w.astype(np.int32)).ravel()[s] << init_shift)
                       for w, s in zip(qm.weights, self.scored)]
        self._update_masks()

    def _update_masks(self):
        masks = []
        for w, sc, s, k in zip(self.qm.weights, self.scored, self.scores, self.k):
            m = np.ones(w.size, np.uint8)
            m[sc] = topk_mask(s, k, magnitude=self.ranking == "magnitude")
            masks.append(m.reshape(w.shape))
        self.masks = masks
        self._eff = [(w * m).astype(np.int8) for w, m in zip(self.qm.weights, masks)]

    def effective_weights(self):
        return self._eff

    def step(self, x, label):
        logits, grads, _ = self._grads(x, label)
        rank = 0
        for j, (g, w, sc) in enumerate(zip(grads, self.qm.weights, self.scored)):
            if not sc.any():
                continue
            g16 = sat16(rshift_round(g.ravel()[sc], self.qm.grad_shift[j]))
            prod = g16.astype(np.int32) * w.ravel()[sc].astype(np.int32)
            if self.rounding == "stochastic":
                ds = sround(prod, self.lr_shift, self.seed, int(self.counter[0]) + rank)
            else:
                ds = rshift_round(prod, self.lr_shift)
            if self.ranking == "magnitude":  # the gradient reaches |s| through abs: sign(s) * dS, sign(0) = 0
                ds = np.sign(self.scores[j]).astype(np.int64) * ds
            self.scores[j] = sat16(self.scores[j].astype(np.int32) - ds)
            rank += 1
        if self.rounding == "stochastic":
            self.counter += np.uint32(rank)
        self._update_masks()
        return {"correct": int(logits[0].argmax() == label)}

    def state(self):
        out = {f"scores{j}": s for j, s in enumerate(self.scores)}
        if self.rounding == "stochastic":
            out["rng_counter"] = self.counter
        return out
