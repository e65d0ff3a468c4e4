"""Float fine-tuning of the float backbone: the reference upper bound, NOT an integer method.

The float parameters the int8 backbone was quantized from (``QuantModel.pretrained``) are trained on the
adaptation samples with plain SGD, batch 1, every layer's weights and biases, learning rate
``2^-lr_shift`` (halved after every epoch, the schedule of every method). Inputs are the int8 samples the
integer methods see, as floats (``x / 128``, exactly the pretraining input). It has no device variant: the
firmware is integer-only. Its numbers bound what the integer methods could reach, nothing more.
"""

import numpy as np

from priot import pretrain
from priot.errors import ConfigError
from priot.methods.base import Method


class FloatFineTune(Method):
    """Float32 SGD on every layer of the float backbone (host only)."""

    def __init__(self, qm, lr_shift=7):
        super().__init__(qm)
        if not 0 <= lr_shift <= 20:
            raise ConfigError(f"lr_shift {lr_shift} outside 0..20")
        if qm.pretrained is None:
            raise ConfigError(f"float fine-tuning needs the float parameters of this {qm.model.name} backbone, "
                              f"and it was not built by priot.quant.backbone (which caches them)")
        self.params = [[np.array(w, np.float32), np.array(b, np.float32)] for w, b in qm.pretrained()]
        self.lr_shift = lr_shift
        self.name = "float-all"

    @staticmethod
    def _float(x):
        x = np.asarray(x)
        if x.dtype != np.int8:
            raise ConfigError(f"samples must be the int8 model input, got {x.dtype}")
        return (x[None] if x.ndim == 3 else x).astype(np.float32) / 128.0

    def effective_weights(self):
        raise ConfigError("float-all has float weights, not int8 ones (it is the float upper bound)")

    def predict(self, x):
        """Float logits [N, 10] (argmax is all the accuracy uses)."""
        return pretrain.forward(self.qm.model, self.params, self._float(x))

    def step(self, x, label):
        logits, cache = pretrain.forward(self.qm.model, self.params, self._float(x), keep=True)
        _, dy = pretrain.softmax_xent_grad(logits, np.array([label]))
        lr = np.float32(2.0 ** -self.lr_shift)
        for pb, gb in zip(self.params, pretrain.backward(self.qm.model, self.params, cache, dy)):
            for a, g in zip(pb, gb):
                a -= lr * g.astype(np.float32)
        return {"correct": int(logits[0].argmax() == label)}

    def state(self):
        return {f"{k}{j}": a for j, (w, b) in enumerate(self.params) for k, a in (("w", w), ("b", b))}
