"""One interface for every method, so the device runner and the experiments treat them alike.

``step(x, label)`` trains on one int8 sample [H,W,C] and returns integer stats;
``predict(x)`` gives int8 logits for int8 inputs [N,H,W,C] (or one [H,W,C]);
``begin(epochs)`` tells the method the run's length before the first step (for schedules that need it);
``end_epoch()`` is called after every epoch (the learning-rate schedule);
``state()`` is the named integer arrays the device holds and a C run must reproduce;
``state_bytes()`` is their size (the training state beyond the frozen flash image).
"""

import numpy as np

from priot import ref
from priot.errors import ConfigError


class Method:
    """Base: frozen backbone, no training."""

    name = "none"
    MAX_LR_SHIFT = 20
    lr_shift: int | None = None  # the learning-rate shift (None: nothing to learn), raised by the schedule
    seed = 0
    variant = None  # its registry Variant (set by priot.methods.make): what names its firmware

    def __init__(self, qm):
        self.qm = qm

    def effective_weights(self):
        """int8 weights the forward pass uses now."""
        return self.qm.weights

    def predict(self, x):
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[None]
        return ref.predict(self.qm, x, self.effective_weights())

    def step(self, x, label):
        """Forward only (nothing to train); subclasses train."""
        logits, _ = self._forward(x)
        return {"correct": int(logits[0].argmax() == label)}

    def begin(self, epochs):
        """Called once before training with the number of epochs to come (default: nothing to plan)."""

    def end_epoch(self):
        """Learning-rate schedule hook, called after every epoch: halve the step (shift + 1)."""
        if self.lr_shift is not None:
            self.lr_shift = min(self.lr_shift + 1, self.MAX_LR_SHIFT)

    def state(self):
        return {}

    def state_bytes(self):
        return int(sum(a.nbytes for a in self.state().values()))

    def _forward(self, x, dynamic=False):
        """Forward of one int8 sample [H,W,C] through the current effective weights."""
        x = np.asarray(x)
        if x.dtype != np.int8 or x.shape != tuple(self.qm.model.input_shape):
            raise ConfigError(f"sample must be int8 {self.qm.model.input_shape}, got {x.dtype} {x.shape}")
        return ref.forward(self.qm, x[None], self.effective_weights(), dynamic=dynamic)

    def _grads(self, x, label, dynamic=False):
        """(logits, per-layer int32 weight-gradient accumulators for this sample, error exponents)."""
        logits, tr = self._forward(x, dynamic)
        err = ref.loss_grad(self.qm, logits, [label], tr.out_exp)
        grads, _, exps = ref.backward(self.qm, tr, err, self.effective_weights(), dynamic=dynamic)
        return logits, [g[0] for g in grads], exps


class NoAdapt(Method):
    """Baseline (a): the quantized backbone as shipped."""

    name = "none"
