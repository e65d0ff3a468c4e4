"""Float pretraining in numpy (deterministic for a seed on one machine): SGD with momentum on upright images.

Inputs are the same values the integer model sees: ``(pixel >> 1) / 128``, so quantizing the
input is exact. Weights use He-uniform initialisation from the given Generator.
"""

import numpy as np

from priot import ops
from priot.errors import ConfigError
from priot.models import Conv3x3, Dense, MaxPool2, ReLU, weight_shape


def input_float(images):
    """uint8 pixels -> float32 model input (exactly the int8 input x = pixel >> 1 times 2^-7)."""
    return ((images >> 1).astype(np.float32)) / 128.0


def init_params(model, rng):
    """He-uniform weights and zero biases: list of (W, b) per parameter layer (float32)."""
    params = []
    for i in model.param_indices():
        shape = weight_shape(model.layers[i])
        fan_in = int(np.prod(shape[1:]))
        bound = np.sqrt(6.0 / fan_in)
        params.append([rng.uniform(-bound, bound, shape).astype(np.float32),
                       np.zeros(shape[0], np.float32)])
    return params


def forward(model, params, x, keep=False, taps=None):
    """Float forward -> logits [N,10]; ``keep`` also returns what ``backward`` needs.

    ``taps``, when a list, receives every parameter layer's output (before ReLU), for calibration.
    """
    cache, p = [], 0
    for layer in model.layers:
        if isinstance(layer, Conv3x3):
            w, b = params[p]
            y, cols = ops.conv_fwd(x, w.reshape(w.shape[0], -1))
            cache.append(cols)
            x, p = y + b, p + 1
            if taps is not None:
                taps.append(x)
        elif isinstance(layer, Dense):
            w, b = params[p]
            cache.append(x.shape)
            x = x.reshape(len(x), -1)
            cache.append(x)
            x, p = x @ w.T + b, p + 1
            if taps is not None:
                taps.append(x)
        elif isinstance(layer, ReLU):
            cache.append(x > 0)
            x = x * cache[-1]
        elif isinstance(layer, MaxPool2):
            x, arg = ops.maxpool_fwd(x)
            cache.append(arg)
    return (x, cache) if keep else x


def backward(model, params, cache, dy):
    """Gradients [(dW, db)] for the parameter layers, from dL/dlogits ``dy``."""
    grads = [None] * len(params)
    p = len(params)
    for layer in reversed(model.layers):
        if isinstance(layer, Dense):
            p -= 1
            x = cache.pop()
            shape = cache.pop()
            grads[p] = (dy.T @ x, dy.sum(0))
            dy = (dy @ params[p][0]).reshape(shape)
        elif isinstance(layer, Conv3x3):
            p -= 1
            cols = cache.pop()
            w = params[p][0]
            wflat = w.reshape(w.shape[0], -1)
            grads[p] = (ops.conv_bwd_weight_sum(dy, cols).reshape(w.shape), dy.sum((0, 1, 2)))
            if p > 0:
                dy = ops.conv_bwd_input(dy, wflat, layer.cin)
        elif isinstance(layer, ReLU):
            dy = dy * cache.pop()
        elif isinstance(layer, MaxPool2):
            dy = ops.maxpool_bwd(dy, cache.pop())
    return grads


def softmax_xent_grad(logits, labels):
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    prob = e / e.sum(1, keepdims=True)
    loss = -np.log(prob[np.arange(len(labels)), labels] + 1e-12).mean()
    prob[np.arange(len(labels)), labels] -= 1
    return loss, prob / len(labels)


# Learning-rate schedules by name: (epoch, epochs) -> factor on the base rate. "drop-last" anneals in the last
# epoch, which a network as deep as VGG11 needs to settle (an int8 backbone 90% upright on Fashion-MNIST).
SCHEDULES = {
    "constant": lambda epoch, epochs: 1.0,
    "drop-last": lambda epoch, epochs: 0.1 if epoch == epochs - 1 else 1.0,
}

# Keyword arguments of ``pretrain`` a backbone configuration may carry (absent: pretrain's default).
OPTIONS = ("lr", "schedule")


def pretrain(model, images, labels, rng, epochs=4, batch=32, lr=0.05, momentum=0.9, schedule="constant"):
    """Train float parameters on upright images; returns params [(W, b)] (float32). ``schedule`` names the
    learning rate's course over the epochs (``SCHEDULES``)."""
    if schedule not in SCHEDULES:
        raise ConfigError(f"unknown pretraining schedule {schedule!r} (have {', '.join(SCHEDULES)})")
    params = init_params(model, rng)
    vel = [[np.zeros_like(a) for a in pb] for pb in params]
    x_all, y_all = input_float(images), labels.astype(np.int64)
    for epoch in range(epochs):
        rate = lr * SCHEDULES[schedule](epoch, epochs)
        order = rng.permutation(len(y_all))
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            logits, cache = forward(model, params, x_all[idx], keep=True)
            _, dy = softmax_xent_grad(logits, y_all[idx])
            for pb, vb, gb in zip(params, vel, backward(model, params, cache, dy)):
                for a, v, g in zip(pb, vb, gb):
                    v *= momentum
                    v -= rate * g.astype(np.float32)
                    a += v
    return params


def accuracy(model, params, images, labels):
    """Float top-1 accuracy."""
    return float((forward(model, params, input_float(images)).argmax(1) == labels).mean())
