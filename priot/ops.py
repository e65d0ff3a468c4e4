"""Dtype-agnostic HWC tensor plumbing shared by the float pretraining and the integer model.

Batched tensors are [N, H, W, C]. ``im2col`` lays out each 3x3 'same' window as (ky, kx, c),
matching the flattened OHWI conv weight [Cout, 9*Cin]. Integer callers pass int64 arrays and
check int32 range afterwards (sums of integers are exact in any order, so C may loop as it likes).
"""

import numpy as np


def im2col(x):
    """[N,H,W,C] -> [N,H,W,9C] zero-padded 3x3 windows, window order (ky, kx, c)."""
    n, h, w, c = x.shape
    p = np.zeros((n, h + 2, w + 2, c), dtype=x.dtype)
    p[:, 1:-1, 1:-1] = x
    return np.concatenate([p[:, ky:ky + h, kx:kx + w] for ky in range(3) for kx in range(3)], axis=-1)


def col2im(cols, c):
    """Adjoint of ``im2col``: [N,H,W,9C] -> [N,H,W,C] summing every window's contribution."""
    n, h, w, _ = cols.shape
    p = np.zeros((n, h + 2, w + 2, c), dtype=cols.dtype)
    for k in range(9):
        ky, kx = divmod(k, 3)
        p[:, ky:ky + h, kx:kx + w] += cols[..., k * c:(k + 1) * c]
    return p[:, 1:-1, 1:-1]


def conv_fwd(x, wflat):
    """3x3 'same' conv without bias: x [N,H,W,Cin], wflat [Cout, 9Cin] -> ([N,H,W,Cout], cols)."""
    cols = im2col(x)
    return cols @ wflat.T, cols


def conv_bwd_input(dy, wflat, cin):
    """Gradient w.r.t. the conv input: [N,H,W,Cout] -> [N,H,W,Cin]."""
    return col2im(dy @ wflat, cin)


def conv_bwd_weight(dy, cols):
    """Per-sample gradient w.r.t. the flattened weights, summed over positions: [N, Cout, 9Cin]."""
    n = len(dy)
    return np.matmul(dy.reshape(n, -1, dy.shape[-1]).transpose(0, 2, 1), cols.reshape(n, -1, cols.shape[-1]))


def maxpool_fwd(x):
    """2x2 stride-2 max pool; also returns the winner (0..3, row-major in the window, first max wins)."""
    n, h, w, c = x.shape
    win = x.reshape(n, h // 2, 2, w // 2, 2, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, c, 4)
    arg = np.argmax(win, axis=-1)
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg


def maxpool_bwd(dy, arg):
    """Route each pooled gradient to its window's winner (the first maximum in row-major order)."""
    n, h2, w2, c = dy.shape
    out = np.zeros((n, h2, w2, c, 4), dtype=dy.dtype)
    np.put_along_axis(out, arg[..., None], dy[..., None], -1)
    return out.reshape(n, h2, w2, c, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, 2 * h2, 2 * w2, c)
