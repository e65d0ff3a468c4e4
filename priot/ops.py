"""Dtype-agnostic HWC tensor plumbing shared by the float pretraining and the integer model.

Batched tensors are [N, H, W, C]. ``im2col`` lays out each 3x3 'same' window as (ky, kx, c),
matching the flattened OHWI conv weight [Cout, 9*Cin]. Integer callers pass int64 arrays and
check int32 range afterwards (sums of integers are exact in any order, so C may loop as it likes).

Integer matrix products go through float64 BLAS (``matmul``): every product and partial sum of int8-range
operands is an integer below 2^53, which float64 holds exactly, so the result is the integer result whatever
order BLAS sums in (the same bits on every machine) and about 50x faster than numpy's integer matmul. The
bound K * max|a| * max|b| < 2^53 is checked on every call; beyond it the exact int64 product is used.
"""

import numpy as np

EXACT_F64 = 2 ** 53


def matmul(a, b):
    """``a @ b`` for a 2-D ``b``; integer operands exactly, through float64 when the sum bound allows it
    (module docstring). Leading dimensions of ``a`` are folded into one GEMM (numpy would loop over them)."""
    if a.ndim > 2:
        return matmul(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + (b.shape[-1],))
    if a.dtype.kind not in "iu" or b.dtype.kind not in "iu":
        return a @ b
    k = a.shape[-1]
    if k == 0 or a.size == 0 or b.size == 0:
        return np.matmul(a.astype(np.int64), b.astype(np.int64))
    bound = k * int(np.abs(a).max()) * int(np.abs(b).max())
    if bound >= EXACT_F64:
        return np.matmul(a.astype(np.int64), b.astype(np.int64))
    return np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)


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
    return matmul(cols, wflat.T), cols


def conv_bwd_input(dy, wflat, cin):
    """Gradient w.r.t. the conv input: [N,H,W,Cout] -> [N,H,W,Cin]."""
    return col2im(matmul(dy, wflat), cin)


def conv_bwd_weight(dy, cols):
    """Per-sample gradient w.r.t. the flattened weights, summed over positions: [N, Cout, 9Cin]."""
    n = len(dy)
    # one 2-D product per sample: a batched matmul over a transposed view misses BLAS and is ~50x slower
    return np.stack([matmul(dy[i].reshape(-1, dy.shape[-1]).T, cols[i].reshape(-1, cols.shape[-1])) for i in range(n)])


def conv_bwd_weight_sum(dy, cols):
    """``conv_bwd_weight`` summed over the batch, as one product (what batch training needs): [Cout, 9Cin]."""
    return matmul(dy.reshape(-1, dy.shape[-1]).T, cols.reshape(-1, cols.shape[-1]))


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
