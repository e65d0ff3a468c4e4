"""The numpy integer model: the oracle the C kernels must match bit for bit.

Forward, per parameter layer j (HWC, batch first):
  acc = sum(w * x) + bias            int32 (w int8 [-127,127], x int8, bias int32)
  y   = sat8(rshift_round(acc, out_shift[j]))
ReLU: a = max(y, 0). MaxPool 2x2/2: max of the window, first maximum in row-major order wins.
Static mode uses the calibrated shifts of the QuantModel; dynamic mode (NITI reference)
recomputes every shift from the tensor's maximum (``intmath.dynamic_shift``) and aligns the
bias to the input's current exponent (``intmath.align``); its loss uses the exp table of the
logits' current exponent (``Trace.out_exp``).

Loss gradient (integer softmax cross-entropy): with logits z int8 at exponent ``f_logit``,
  d_i = max(z) - z_i  (0..255),  e_i = exp_table[d_i]  (Q14, e_0 = 16384),  S = sum e_i,
  p_i = (e_i * 128 + S // 2) // S  (Q7 probability, unsigned integer division),
  err_i = sat8(p_i - 128 * [i == label])   at exponent 7 (dL/dz_i = p_i - onehot_i).
``exp_table[d] = rint(16384 * exp(-d * 2^-f_logit))`` is a model constant (256 x int32).

Backward, per parameter layer j from the top (err int8 at the layer's output):
  gW_acc = sum over positions of err * x          int32, the gradient w.r.t. the *effective* weights
  dx_acc = sum err * w  (transposed conv / W^T)   int32, only when j > 0
  err_in = sat8(rshift_round(dx_acc, bwd_shift[j]))
then MaxPool backward routes the error to the window's winner and ReLU backward keeps it where
the pre-ReLU int8 output y > 0. Value ranges: |w*x| <= 2^14; fan-in <= 784 (tiny CNN), <= 9*512 = 4608
(VGG11 at full width) for the forward and the input gradient; <= 1024 positions for gW_acc; so |acc| < 2^27
and every accumulator is checked to fit int32. Products are summed through float64 (``ops.matmul``), exact
far beyond these sums (< 2^53, checked per call).
"""

import functools
from dataclasses import dataclass, field

import numpy as np

from priot import ops
from priot.intmath import align, dynamic_shift, requant8, sat8, to_int32
from priot.models import Conv3x3, Dense, MaxPool2, ReLU


@dataclass
class Trace:
    """What the backward pass needs from the forward pass (all integer arrays)."""

    saved: list = field(default_factory=list)   # per layer: conv cols / dense input / relu mask / pool arg
    shifts: list = field(default_factory=list)  # forward shift used per parameter layer
    in_exp: list = field(default_factory=list)  # exponent of each parameter layer's input
    out_exp: int = 0                            # exponent of the logits


def _acc(x):
    """int64 accumulation result, checked and returned as int32 (the C accumulator)."""
    return to_int32(x)


def forward(qm, x, weights=None, dynamic=False):
    """Integer forward of int8 x [N,H,W,C] -> (int8 logits [N, classes], Trace)."""
    weights = qm.weights if weights is None else weights
    tr, p, f = Trace(), 0, qm.in_exp
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"input must be int8, got {x.dtype}")
    for layer in qm.model.layers:
        if isinstance(layer, (Conv3x3, Dense)):
            w = weights[p].astype(np.int64).reshape(len(weights[p]), -1)
            bias = align(qm.biases[p], f - qm.act_exp[p]) if dynamic else qm.biases[p].astype(np.int64)
            if isinstance(layer, Conv3x3):
                y, cols = ops.conv_fwd(x, w)  # cols stay int8 (the products go through ops.matmul)
                tr.saved.append(cols)
            else:
                tr.saved.append(x.shape)
                cols = x.reshape(len(x), -1)
                tr.saved.append(cols)
                y = ops.matmul(cols, w.T)
            acc = _acc(y + bias)
            s = dynamic_shift(acc) if dynamic else qm.out_shift[p]
            tr.shifts.append(s)
            tr.in_exp.append(f)
            f = f + qm.w_exp[p] - s
            x, p = requant8(acc, s), p + 1
        elif isinstance(layer, ReLU):
            tr.saved.append(x > 0)
            x = np.maximum(x, 0).astype(np.int8)
        elif isinstance(layer, MaxPool2):
            x, arg = ops.maxpool_fwd(x)
            tr.saved.append(arg)
    tr.out_exp = f
    return x.reshape(len(x), -1), tr


@functools.lru_cache(maxsize=64)
def exp_table(logit_exp):
    """Q14 table of exp(-d * 2^-logit_exp) for d = 0..255 (a constant per exponent, built once)."""
    t = np.rint(16384.0 * np.exp(-np.arange(256) * 2.0 ** -logit_exp)).astype(np.int32)
    t.flags.writeable = False
    return t


def softmax_q7(qm, logits, logit_exp=None):
    """Integer softmax of int8 logits [N, K] -> Q7 probabilities int32 (see module docstring)."""
    table = qm.exp_table if logit_exp in (None, qm.logit_exp) else exp_table(logit_exp)
    z = logits.astype(np.int32)
    e = table[z.max(1, keepdims=True) - z]
    s = e.sum(1, keepdims=True)
    return ((e * 128 + s // 2) // s).astype(np.int32)


def loss_grad(qm, logits, labels, logit_exp=None):
    """int8 dL/dlogits at exponent 7: sat8(p_q7 - 128 * onehot)."""
    p = softmax_q7(qm, logits, logit_exp)
    p[np.arange(len(p)), np.asarray(labels, dtype=np.int64)] -= 128
    return sat8(p)


def backward(qm, tr, err, weights=None, dynamic=False):
    """Integer backward from int8 err [N, K]: per-sample weight gradients and the shifts used.

    Returns ``(grads, bwd_shifts, err_exps)``: ``grads[j]`` int32 [N, *weight_shape] is the
    gradient w.r.t. layer j's effective weights at exponent ``err_exps[j] + tr.in_exp[j]``.
    """
    weights = qm.weights if weights is None else weights
    saved = list(tr.saved)
    n_p = len(weights)
    grads, shifts, exps = [None] * n_p, [None] * n_p, [None] * n_p
    p, ge, e = n_p, 7, err
    for layer in reversed(qm.model.layers):
        if isinstance(layer, (Conv3x3, Dense)):
            p -= 1
            w = weights[p].astype(np.int64).reshape(len(weights[p]), -1)
            e64 = e.astype(np.int64)
            if isinstance(layer, Conv3x3):
                cols = saved.pop()
                g = ops.conv_bwd_weight(e64, cols)
                dx = ops.conv_bwd_input(e64, w, layer.cin) if p > 0 else None
            else:
                cols = saved.pop()
                shape = saved.pop()
                g = e64[:, :, None] * cols[:, None, :]
                dx = ops.matmul(e64, w).reshape(shape) if p > 0 else None
            grads[p] = _acc(g).reshape((len(e),) + weights[p].shape)
            exps[p] = ge
            if dx is not None:
                dx = _acc(dx)
                s = dynamic_shift(dx) if dynamic else qm.bwd_shift[p]
                shifts[p] = s
                ge = ge + qm.w_exp[p] - s
                e = requant8(dx, s)
        elif isinstance(layer, ReLU):
            mask = saved.pop()
            e = np.where(mask, e, 0).astype(np.int8)
        elif isinstance(layer, MaxPool2):
            e = ops.maxpool_bwd(e, saved.pop())
    return grads, shifts, exps


def predict(qm, x, weights=None, batch=500):
    """int8 logits for int8 inputs [N,H,W,C], in batches (static shifts)."""
    out = [forward(qm, x[i:i + batch], weights)[0] for i in range(0, len(x), batch)]
    return np.concatenate(out)


def to_input(images):
    """uint8 pixels -> int8 model input x = pixel >> 1 (exponent 7)."""
    return (np.asarray(images, dtype=np.uint8) >> 1).astype(np.int8)
