"""The integer straight-through score gradient agrees in sign with a float numerical gradient."""

import numpy as np

from priot import ops, quant, ref
from priot.intmath import rshift_round, sat16
from priot.models import Conv3x3, Dense, MaxPool2, ModelDef, ReLU


def small_model():
    return ModelDef("small", (8, 8, 1), (Conv3x3(1, 4), ReLU(), MaxPool2(), Dense(4 * 4 * 4, 5)))


def float_loss(qm, weights, x, label):
    """Float cross-entropy of the dequantized network (float weights/biases, float activations)."""
    a = x.astype(np.float64) * 2.0 ** -qm.in_exp
    p = 0
    for layer in qm.model.layers:
        if isinstance(layer, (Conv3x3, Dense)):
            w = weights[p].astype(np.float64) * 2.0 ** -qm.w_exp[p]
            b = qm.biases[p] * 2.0 ** -(qm.w_exp[p] + qm.act_exp[p])
            wf = w.reshape(len(w), -1)
            a = (ops.conv_fwd(a, wf)[0] if isinstance(layer, Conv3x3) else a.reshape(len(a), -1) @ wf.T) + b
            p += 1
        elif isinstance(layer, ReLU):
            a = np.maximum(a, 0)
        else:
            a = ops.maxpool_fwd(a)[0]
    z = a[0] - a[0].max()
    return -(z[label] - np.log(np.exp(z).sum()))


def test_score_gradient_sign_matches_float_numerical_gradient():
    rng = np.random.default_rng(0)
    model = small_model()
    params = [[rng.normal(0, 0.5, (4, 3, 3, 1)).astype(np.float32), rng.normal(0, 0.1, 4).astype(np.float32)],
              [rng.normal(0, 0.3, (5, 64)).astype(np.float32), rng.normal(0, 0.1, 5).astype(np.float32)]]
    images = rng.integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    labels = rng.integers(0, 5, 40)
    qm = quant.quantize(model, params, images, labels)
    agree = total = 0
    for i in range(6):
        x, y = ref.to_input(images[i:i + 1]), int(labels[i])
        logits, tr = ref.forward(qm, x)
        grads, _, _ = ref.backward(qm, tr, ref.loss_grad(qm, logits, [y]))
        for j, w in enumerate(qm.weights):
            g16 = sat16(rshift_round(grads[j][0], qm.grad_shift[j]))
            int_score_grad = g16.astype(np.int32) * w.astype(np.int32)      # dL/dW_eff * W
            # float: dL/dW_eff by central differences over a one-LSB step, times W
            num = np.zeros(w.shape)
            for idx in np.ndindex(w.shape):
                ws = [v.astype(np.int32) for v in qm.weights]
                ws[j][idx] += 1
                up = float_loss(qm, ws, x, y)
                ws[j][idx] -= 2
                num[idx] = (up - float_loss(qm, ws, x, y)) / 2
            fl = num * w
            big = np.abs(fl) > 0.2 * np.abs(fl).max()
            agree += int((np.sign(int_score_grad[big]) == np.sign(fl[big])).sum())
            total += int(big.sum())
    assert total > 50
    assert agree / total > 0.95, (agree, total)
