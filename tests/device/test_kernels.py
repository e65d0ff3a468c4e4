"""Every PRIOT C kernel (kernels/priot/) run in the emulator against the numpy reference, bit for bit.

Inputs are random (explicit seeds) with edge values mixed in; a failure names the first differing
element (flat index, expected, actual) and the case's parameters, so it can be replayed.
"""

import types

import numpy as np
import pytest

from priot import intmath, ops, ref, topk

SENTINEL32 = 0x5A5A5A5A  # written over outputs before each call: an element the kernel forgets shows up
SENTINEL8 = 0x5A
M32 = 0xFFFFFFFF


# --- helpers -------------------------------------------------------------------------------------------------
def s32(v):
    v = int(v) & M32
    return v - (1 << 32) if v & 0x80000000 else v


def addr(m, name, off=0):
    return m.program.symbol(name).addr + off


def put(m, name, arr, off=0):
    """Write arr at symbol+off; returns that address."""
    a = addr(m, name, off)
    m.write(a, np.ascontiguousarray(arr))
    return a


def fill(m, name, nbytes, byte=SENTINEL8):
    m.write(name, np.full(nbytes, byte, np.uint8))


def check_equal(expected, actual, what, **ctx):
    """Fail with the first differing element (flat index, expected, actual) and the case's parameters."""
    e = np.asarray(expected)
    a = np.asarray(actual)
    info = " ".join(f"{k}={v}" for k, v in ctx.items())
    if e.size != a.size:
        pytest.fail(f"{what}: size differs: expected {e.size} elements, got {a.size} [{info}]")
    e64, a64 = e.astype(np.int64).ravel(), a.astype(np.int64).ravel()
    bad = np.flatnonzero(e64 != a64)
    if bad.size:
        i = int(bad[0])
        where = np.unravel_index(i, e.shape) if e.ndim > 1 else (i,)
        pytest.fail(f"{what}: {bad.size}/{e.size} elements differ; first at flat index {i} {tuple(map(int, where))}: "
                    f"expected {e64[i]}, actual {a64[i]} [{info}]")


def keep_bits(mask, pos, n):
    """Bit e of the mask byte array = (mask[e >> 3] >> (e & 7)) & 1; bits pos..pos+n-1 as int64."""
    bits = np.unpackbits(np.asarray(mask, np.uint8), bitorder="little")
    return bits[pos:pos + n].astype(np.int64)


def random_mask(rng, nbits, kind):
    nbytes = (nbits + 7) // 8 + 1
    if kind == "ones":
        return np.full(nbytes, 0xFF, np.uint8)
    if kind == "zeros":
        return np.zeros(nbytes, np.uint8)
    if kind == "sparse":
        return np.packbits(rng.random(nbytes * 8) < 0.1, bitorder="little")
    return rng.integers(0, 256, nbytes, dtype=np.uint8)


def rand_i8(rng, shape, kind="full"):
    if kind == "full":
        return rng.integers(-128, 128, shape, dtype=np.int64).astype(np.int8)
    if kind == "weights":
        return rng.integers(-127, 128, shape, dtype=np.int64).astype(np.int8)
    if kind == "neg":
        return rng.integers(-128, 0, shape, dtype=np.int64).astype(np.int8)
    if kind == "extreme":
        return rng.choice(np.array([-128, -127, -1, 0, 1, 126, 127], np.int8), shape)
    if kind == "sparse":
        v = rng.integers(-128, 128, shape, dtype=np.int64)
        return np.where(rng.random(shape) < 0.7, 0, v).astype(np.int8)
    raise ValueError(kind)


def fits_int32(x):
    return intmath.to_int32(np.asarray(x, np.int64))


# --- dot.c ---------------------------------------------------------------------------------------------------
def dot_cases(rng, count):
    """(case, n, woff, xoff, w, x, pos, mask, ctx): lengths 0..100, aligned and unaligned pointers, masks."""
    for case in range(count):
        n = int(rng.integers(0, 101))
        woff, xoff = (0, 0) if case % 4 == 0 else (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
        kind = ["full", "extreme", "neg", "full"][case % 4]
        w, x = rand_i8(rng, n, kind), rand_i8(rng, n, kind)
        pos = int(rng.integers(0, 40)) * 8 if case % 3 == 0 else int(rng.integers(0, 300))
        mkind = ["random", "ones", "zeros", "sparse", "random"][case % 5]
        mask = random_mask(rng, pos + n, mkind)
        yield case, n, woff, xoff, w, x, pos, mask, dict(case=case, n=n, woff=woff, xoff=xoff, pos=pos, mask=mkind,
                                                          kind=kind)


@pytest.mark.parametrize("seed", range(4))
def test_dot_s8(km, seed):
    rng = np.random.default_rng(seed)
    for case, n, woff, xoff, w, x, pos, mask, ctx in dot_cases(rng, 150):
        wa, xa = put(km, "h_w", w, woff), put(km, "h_x", x, xoff)
        want = np.sum(w.astype(np.int64) * x.astype(np.int64))
        check_equal([want], [s32(km.call("dot_s8", wa, xa, n))], "dot_s8", seed=seed, **ctx)


@pytest.mark.parametrize("seed", range(2))
def test_dot_s8_words(km, need, seed):
    need("dot_s8_words")
    rng = np.random.default_rng(50 + seed)
    for case in range(60):
        nwords = int(rng.integers(1, 40)) if case else 1
        kind = ["full", "extreme", "neg"][case % 3]
        w, x = rand_i8(rng, 4 * nwords, kind), rand_i8(rng, 4 * nwords, kind)
        if case == 1:
            w[:], x[:] = -128, -128  # largest products
        wa, xa = put(km, "h_w", w), put(km, "h_x", x)
        want = np.sum(w.astype(np.int64) * x.astype(np.int64))
        check_equal([want], [s32(km.call("dot_s8_words", wa, xa, nwords))], "dot_s8_words", seed=seed, case=case,
                    nwords=nwords, kind=kind)


@pytest.mark.parametrize("seed", range(3))
def test_mask_row(km, need, seed):
    need("mask_row")
    rng = np.random.default_rng(70 + seed)
    for case, n, woff, doff, w, _, pos, mask, ctx in dot_cases(rng, 120):
        use_mask = case % 6 != 5
        wa = put(km, "h_w", w, woff)
        ma = put(km, "h_mask", mask) if use_mask else 0
        da = addr(km, "h_out8", doff)
        fill(km, "h_out8", n + 8)
        km.call("mask_row", da, wa, n, ma, pos)
        got = km.read(da, np.int8, n + 1)
        want = w.astype(np.int64) * (keep_bits(mask, pos, n) if use_mask else 1)
        check_equal(want, got[:n], "mask_row", seed=seed, use_mask=use_mask, **ctx)
        check_equal([np.int8(SENTINEL8)], [got[n]], "mask_row wrote past n", seed=seed, use_mask=use_mask, **ctx)


@pytest.mark.parametrize("seed", range(3))
def test_axpy_s8(km, seed):
    rng = np.random.default_rng(100 + seed)
    for case in range(80):
        n = int(rng.integers(0, 101))
        woff = int(rng.integers(0, 4))
        w = rand_i8(rng, n, ["full", "extreme", "weights"][case % 3])
        e = int(rng.choice([-128, 127, -1, 0, 1])) if case % 4 == 0 else int(rng.integers(-128, 128))
        dst = rng.integers(-(1 << 24), 1 << 24, n).astype(np.int32)
        pos = int(rng.integers(0, 300))
        use_mask = case % 2 == 1
        mask = random_mask(rng, pos + n, ["random", "ones", "zeros", "sparse"][case % 4])
        wa = put(km, "h_w", w, woff)
        da = put(km, "h_out32", np.concatenate([dst, [SENTINEL32]]).astype(np.int32))
        ma = put(km, "h_mask", mask) if use_mask else 0
        keep = keep_bits(mask, pos, n) if use_mask else np.ones(n, np.int64)
        want = fits_int32(dst.astype(np.int64) + e * w.astype(np.int64) * keep)
        km.call("axpy_s8", da, e, wa, n, ma, pos)
        got = km.read(da, np.int32, n + 1)
        ctx = dict(seed=seed, case=case, n=n, woff=woff, e=e, pos=pos, masked=use_mask)
        check_equal(want, got[:n], "axpy_s8", **ctx)
        check_equal([SENTINEL32], [got[n]], "axpy_s8 wrote past n", **ctx)


# --- conv3x3.c -----------------------------------------------------------------------------------------------
def conv_case(rng, case):
    h, w = int(rng.integers(2, 11)), int(rng.integers(2, 11))
    cin = int(rng.choice([1, 2, 3, 8]))
    cout = int(rng.choice([1, 4, 8]))
    xkind = ["full", "neg", "extreme", "sparse"][case % 4]
    x = rand_i8(rng, (h, w, cin), xkind)
    wt = rand_i8(rng, (cout, 3, 3, cin), "weights" if case % 3 else "extreme")
    wt = np.clip(wt, -127, 127).astype(np.int8)  # weights live in [-127, 127]
    nbits = wt.size
    pos = int(rng.integers(0, 100))
    mkind = ["random", "ones", "sparse", "zeros", "random"][case % 5]
    mask = random_mask(rng, pos + nbits, mkind)
    use_mask = case % 2 == 0
    return h, w, cin, cout, x, wt, pos, mask, use_mask, dict(h=h, w=w, cin=cin, cout=cout, x=xkind, mask=mkind,
                                                              use_mask=use_mask, pos=pos)


def masked_wflat(wt, mask, pos, use_mask):
    wflat = wt.astype(np.int64).reshape(len(wt), -1)
    if use_mask:
        wflat = wflat * keep_bits(mask, pos, wflat.size).reshape(wflat.shape)
    return wflat


def load_conv(km, h, w, cin, cout, x, wt, mask, use_mask):
    put(km, "h_dims", np.array([h, w, cin, cout], np.int32))
    xa, wa = put(km, "h_x", x), put(km, "h_w", wt)
    ma = put(km, "h_mask", mask) if use_mask else 0
    return xa, wa, ma


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("seed", range(3))
def test_conv3x3_forward(km, seed, dynamic):
    rng = np.random.default_rng(200 + seed)
    for case in range(36):
        h, w, cin, cout, x, wt, pos, mask, use_mask, ctx = conv_case(rng, case)
        sat_heavy = case % 3 == 2
        if sat_heavy:  # large bias, small shift: most outputs clip at -128 / 127
            bias = rng.choice([-1, 1], cout) * rng.integers(1 << 14, 1 << 20, cout)
            shift = int(rng.integers(0, 4))
        else:
            bias = rng.integers(-(1 << 12), 1 << 12, cout)
            shift = int(rng.integers(0, 13))
        bias = bias.astype(np.int32)
        xa, wa, ma = load_conv(km, h, w, cin, cout, x, wt, mask, use_mask)
        ba = put(km, "h_bias", bias)
        fill(km, "h_col", 16384, 0x7F)  # scratch starts as garbage
        fill(km, "h_row", 1024, 0x81)
        wflat = masked_wflat(wt, mask, pos, use_mask)
        acc = fits_int32(ops.conv_fwd(x[None].astype(np.int64), wflat)[0][0] + bias.astype(np.int64))
        nout = h * w * cout
        # bands of output rows: one (the firmware), a few (a last band shorter than the others), all
        col_bytes = [1, int(rng.integers(1, h + 1)), h + 3][case % 3] * w * row_bytes(cin)
        ctx.update(seed=seed, case=case, shift=shift, sat_heavy=sat_heavy, col_bytes=col_bytes)
        if dynamic:
            fill(km, "h_out32", 4 * (nout + 1))
            km.call("conv3x3_forward", xa, addr(km, "h_dims"), wa, ma, pos, ba, shift, 0, addr(km, "h_out32"),
                    addr(km, "h_col"), col_bytes, addr(km, "h_row"))
            got = km.read("h_out32", np.int32, nout + 1)
            check_equal(acc, got[:nout].reshape(acc.shape), "conv3x3_forward out32", **ctx)
        else:
            fill(km, "h_out8", nout + 1)
            km.call("conv3x3_forward", xa, addr(km, "h_dims"), wa, ma, pos, ba, shift, addr(km, "h_out8"), 0,
                    addr(km, "h_col"), col_bytes, addr(km, "h_row"))
            got = km.read("h_out8", np.int8, nout + 1)
            check_equal(intmath.requant8(acc, shift), got[:nout].reshape(acc.shape), "conv3x3_forward out8",
                        **ctx)
            if sat_heavy:
                assert np.isin(got[:nout], [-128, 127]).any()
        check_equal([SENTINEL8], [int(km.read("h_out8" if not dynamic else "h_out32", np.uint8,
                                                  nout * (1 if not dynamic else 4) + 1)[-1])],
                    "conv3x3_forward wrote past its output", **ctx)


@pytest.mark.parametrize("seed", range(3))
def test_conv3x3_backward_input(km, seed):
    rng = np.random.default_rng(300 + seed)
    for case in range(24):
        h, w, cin, cout, x, wt, pos, mask, use_mask, ctx = conv_case(rng, case)
        err = rand_i8(rng, (h, w, cout), ["sparse", "full", "extreme", "neg"][case % 4])
        _, wa, ma = load_conv(km, h, w, cin, cout, x, wt, mask, use_mask)
        ea = put(km, "h_err", err)
        wflat = masked_wflat(wt, mask, pos, use_mask)
        want = fits_int32(ops.conv_bwd_input(err[None].astype(np.int64), wflat, cin)[0])
        n = h * w * cin
        fill(km, "h_out32", 4 * (n + 1))
        fill(km, "h_row", 1024, 0x7F)  # scratch starts as garbage
        km.call("conv3x3_backward_input", ea, addr(km, "h_dims"), wa, ma, pos, addr(km, "h_out32"),
                addr(km, "h_row"))
        got = km.read("h_out32", np.int32, n + 1)
        ctx.update(seed=seed, case=case)
        check_equal(want, got[:n].reshape(want.shape), "conv3x3_backward_input dx", **ctx)
        check_equal([SENTINEL32], [got[n]], "conv3x3_backward_input wrote past dx", **ctx)


def row_bytes(cin):
    """conv3x3_row_bytes: 9*cin rounded up to a word."""
    return (9 * cin + 3) & ~3


def padded_cols(x):
    """ops.im2col of one HWC image as the kernels lay it out: [h*w, row_bytes(cin)], zero tail."""
    h, w, cin = x.shape
    cols = ops.im2col(x[None].astype(np.int64))[0].reshape(h * w, 9 * cin)
    out = np.zeros((h * w, row_bytes(cin)), np.int64)
    out[:, :9 * cin] = cols
    return out


@pytest.mark.parametrize("seed", range(3))
def test_conv3x3_im2col(km, seed):
    rng = np.random.default_rng(350 + seed)
    for case in range(24):
        h, w, cin, cout, x, *_, ctx = conv_case(rng, case)
        xa, _, _ = load_conv(km, h, w, cin, cout, x, x, np.zeros(1, np.uint8), False)
        want = padded_cols(x)
        fill(km, "h_col", want.size + 4)  # garbage: the zero padding and tails must be written
        km.call("conv3x3_im2col", xa, addr(km, "h_dims"), addr(km, "h_col"))
        got = km.read("h_col", np.int8, want.size + 1)
        check_equal(want, got[:-1].reshape(want.shape), "conv3x3_im2col", seed=seed, case=case, **ctx)
        check_equal([np.int8(SENTINEL8)], [got[-1]], "conv3x3_im2col wrote past col", seed=seed, case=case, **ctx)


@pytest.mark.parametrize("seed", range(3))
def test_conv3x3_channel_grad(km, seed):
    rng = np.random.default_rng(400 + seed)
    for case in range(16):
        h, w, cin, cout, x, wt, pos, mask, use_mask, ctx = conv_case(rng, case)
        err = rand_i8(rng, (h, w, cout), ["sparse", "full", "extreme", "neg"][case % 4])
        xa, _, _ = load_conv(km, h, w, cin, cout, x, wt, mask, False)
        ea = put(km, "h_err", err)
        want = fits_int32(ops.conv_bwd_weight(err[None].astype(np.int64), ops.im2col(x[None].astype(np.int64)))[0])
        ctx.update(seed=seed, case=case)
        for co in range(cout):
            fill(km, "h_out32", 4 * (9 * cin + 1))
            km.call("conv3x3_channel_grad", ea, xa, addr(km, "h_dims"), co, addr(km, "h_out32"))
            got = km.read("h_out32", np.int32, 9 * cin + 1)
            check_equal(want[co], got[:9 * cin], "conv3x3_channel_grad", co=co, **ctx)
            check_equal([SENTINEL32], [got[9 * cin]], "conv3x3_channel_grad wrote past g", co=co, **ctx)


# --- dense.c -------------------------------------------------------------------------------------------------
def dense_case(rng, case):
    cin = int(rng.choice([1, 3, 4, 7, 8, 16, 33, 64, 100, 255, 392]))
    cout = int(rng.integers(1, min(32, 16384 // cin) + 1))
    xkind = ["full", "neg", "extreme", "sparse"][case % 4]
    x = rand_i8(rng, cin, xkind)
    wt = rand_i8(rng, (cout, cin), "weights")
    pos = int(rng.integers(0, 64)) * 8 if case % 3 == 0 else int(rng.integers(0, 500))
    mkind = ["random", "ones", "sparse", "zeros", "random"][case % 5]
    mask = random_mask(rng, pos + wt.size, mkind)
    use_mask = case % 2 == 0
    return cin, cout, x, wt, pos, mask, use_mask, dict(cin=cin, cout=cout, x=xkind, mask=mkind, use_mask=use_mask,
                                                       pos=pos)


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("seed", range(3))
def test_dense_forward(km, seed, dynamic):
    rng = np.random.default_rng(500 + seed)
    for case in range(30):
        cin, cout, x, wt, pos, mask, use_mask, ctx = dense_case(rng, case)
        xoff = int(rng.integers(0, 4)) if case % 2 else 0
        sat_heavy = case % 3 == 2
        if sat_heavy:
            bias = rng.choice([-1, 1], cout) * rng.integers(1 << 14, 1 << 20, cout)
            shift = int(rng.integers(0, 4))
        else:
            bias = rng.integers(-(1 << 12), 1 << 12, cout)
            shift = int(rng.integers(0, 16))
        bias = bias.astype(np.int32)
        xa, wa, ba = put(km, "h_x", x, xoff), put(km, "h_w", wt), put(km, "h_bias", bias)
        ma = put(km, "h_mask", mask) if use_mask else 0
        wflat = masked_wflat(wt, mask, pos, use_mask)
        acc = fits_int32(wflat @ x.astype(np.int64) + bias)
        ctx.update(seed=seed, case=case, xoff=xoff, shift=shift)
        if dynamic:
            fill(km, "h_out32", 4 * (cout + 1))
            fill(km, "h_row", 1024, 0x7F)
            km.call("dense_forward", xa, cin, cout, wa, ma, pos, ba, shift, 0, addr(km, "h_out32"),
                    addr(km, "h_row"))
            got = km.read("h_out32", np.int32, cout + 1)
            check_equal(acc, got[:cout], "dense_forward out32", **ctx)
            check_equal([SENTINEL32], [got[cout]], "dense_forward wrote past out32", **ctx)
        else:
            fill(km, "h_out8", cout + 1)
            fill(km, "h_row", 1024, 0x81)
            km.call("dense_forward", xa, cin, cout, wa, ma, pos, ba, shift, addr(km, "h_out8"), 0,
                    addr(km, "h_row"))
            got = km.read("h_out8", np.int8, cout + 1)
            check_equal(intmath.requant8(acc, shift), got[:cout], "dense_forward out8", **ctx)
            check_equal([np.int8(SENTINEL8)], [got[cout]], "dense_forward wrote past out8", **ctx)


@pytest.mark.parametrize("seed", range(3))
def test_dense_backward_input(km, seed):
    rng = np.random.default_rng(600 + seed)
    for case in range(30):
        cin, cout, x, wt, pos, mask, use_mask, ctx = dense_case(rng, case)
        err = rand_i8(rng, cout, ["sparse", "full", "extreme", "neg"][case % 4])
        ea, wa = put(km, "h_err", err), put(km, "h_w", wt)
        ma = put(km, "h_mask", mask) if use_mask else 0
        wflat = masked_wflat(wt, mask, pos, use_mask)
        want = fits_int32(err.astype(np.int64) @ wflat)
        fill(km, "h_out32", 4 * (cin + 1))
        km.call("dense_backward_input", ea, cin, cout, wa, ma, pos, addr(km, "h_out32"))
        got = km.read("h_out32", np.int32, cin + 1)
        ctx.update(seed=seed, case=case)
        check_equal(want, got[:cin], "dense_backward_input dx", **ctx)
        check_equal([SENTINEL32], [got[cin]], "dense_backward_input wrote past dx", **ctx)


# --- pool_relu.c ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_relu(km, seed):
    rng = np.random.default_rng(700 + seed)
    for case in range(20):
        n = int(rng.integers(0, 2000))
        x = rand_i8(rng, n, ["full", "neg", "extreme", "sparse"][case % 4])
        err = rand_i8(rng, n, "full")
        off = case % 4  # word-at-a-time where aligned, bytes elsewhere: every offset and tail
        ctx = dict(seed=seed, case=case, n=n, off=off)
        xa = put(km, "h_x", np.concatenate([x, [np.int8(-5)]]).astype(np.int8), off)
        km.call("relu_forward", xa, n)
        got = km.read(xa, np.int8, n + 1)
        check_equal(np.maximum(x, 0), got[:n], "relu_forward", **ctx)
        check_equal([-5], [got[n]], "relu_forward wrote past n", **ctx)
        # backward against the pre-ReLU activation (post > 0 iff pre > 0) and against the post-ReLU one
        for act in (x, np.maximum(x, 0).astype(np.int8)):
            aa, ea = put(km, "h_x", act, off), put(km, "h_err", err, off // 2)
            km.call("relu_backward", ea, aa, n)
            check_equal(np.where(x > 0, err, 0), km.read(ea, np.int8, n), "relu_backward", **ctx)


@pytest.mark.parametrize("seed", range(3))
def test_maxpool2(km, seed):
    rng = np.random.default_rng(800 + seed)
    for case in range(24):
        h, w = 2 * int(rng.integers(1, 8)), 2 * int(rng.integers(1, 8))
        if case % 6 == 5:  # odd sizes: the last row/column is outside every window (floor, as h/2 in C)
            h, w = h + 1, w + int(rng.integers(0, 2))
        c = int(rng.choice([1, 2, 3, 4, 8, 16]))
        kind = case % 4
        if kind == 0:  # many ties: equal maxima in most windows
            x = rng.choice(np.array([-128, -3, 0, 5], np.int8), (h, w, c))
        elif kind == 1:  # all negative, ties too
            x = rng.choice(np.array([-128, -127, -2, -1], np.int8), (h, w, c))
        elif kind == 2:
            x = rand_i8(rng, (h, w, c), "full")
        else:  # constant windows: the first element must win
            x = np.full((h, w, c), int(rng.integers(-128, 128)), np.int8)
        h2, w2 = h // 2, w // 2
        err = rand_i8(rng, (h2, w2, c), "full")
        err = np.where(err == 0, 1, err).astype(np.int8)  # nonzero so routing is visible
        ctx = dict(seed=seed, case=case, h=h, w=w, c=c, kind=kind)
        crop = x[None, :2 * h2, :2 * w2]
        want_y, arg = ops.maxpool_fwd(crop)
        xa = put(km, "h_x", x)
        fill(km, "h_out8", h2 * w2 * c + 1)
        km.call("maxpool2_forward", xa, h, w, c, addr(km, "h_out8"))
        got = km.read("h_out8", np.int8, h2 * w2 * c + 1)
        check_equal(want_y[0], got[:-1].reshape(h2, w2, c), "maxpool2_forward", **ctx)
        check_equal([np.int8(SENTINEL8)], [got[-1]], "maxpool2_forward wrote past out", **ctx)
        want_e = np.zeros((h, w, c), np.int64)
        want_e[:2 * h2, :2 * w2] = ops.maxpool_bwd(err[None].astype(np.int64), arg)[0]
        ea = put(km, "h_err", err)
        fill(km, "h_out8", h * w * c + 1)
        km.call("maxpool2_backward", ea, xa, h, w, c, addr(km, "h_out8"))
        got = km.read("h_out8", np.int8, h * w * c + 1)
        check_equal(want_e, got[:-1].reshape(h, w, c), "maxpool2_backward", **ctx)
        check_equal([np.int8(SENTINEL8)], [got[-1]], "maxpool2_backward wrote past err_in", **ctx)


# --- softmax_xent.c ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("logit_exp", [0, 2, 4, 5, 7])
def test_softmax_xent_grad(km, logit_exp):
    rng = np.random.default_rng(900 + logit_exp)
    table = ref.exp_table(logit_exp)
    qm = types.SimpleNamespace(exp_table=None, logit_exp=object())  # never equal: loss_grad uses exp_table(e)
    ta = put(km, "h_table", table.astype(np.int32))
    for case in range(40):
        n = int(rng.choice([1, 2, 3, 10, 17, 64]))
        kind = case % 5
        if kind == 0:
            z = np.full(n, int(rng.integers(-128, 128)), np.int8)  # all equal
        elif kind == 1:
            z = rng.choice(np.array([-128, 127], np.int8), n)  # extremes: max - z = 255
        elif kind == 2:
            z = rng.choice(np.array([-128, -127, 0, 126, 127], np.int8), n)
        else:
            z = rand_i8(rng, n, "full")
        label = int(rng.integers(0, n))
        want = ref.loss_grad(qm, z[None], [label], logit_exp)[0]
        za = put(km, "h_x", z)
        fill(km, "h_out8", n + 1)
        km.call("softmax_xent_grad", za, n, label, ta, addr(km, "h_out8"))
        got = km.read("h_out8", np.int8, n + 1)
        ctx = dict(logit_exp=logit_exp, case=case, n=n, label=label, z=z.tolist() if n <= 17 else "...")
        check_equal(want, got[:n], "softmax_xent_grad", **ctx)
        check_equal([np.int8(SENTINEL8)], [got[n]], "softmax_xent_grad wrote past err", **ctx)


@pytest.mark.parametrize("seed", range(3))
def test_softmax_xent_grad_custom_tables(km, seed):
    """Arbitrary positive tables (the kernel takes any): small sums hit exact rounding boundaries of p."""
    rng = np.random.default_rng(950 + seed)
    for case in range(40):
        hi = int(rng.choice([4, 64, 300, 1 << 14, 1 << 20]))
        table = rng.integers(1, hi + 1, 256).astype(np.int32)
        qm = types.SimpleNamespace(exp_table=table, logit_exp=None)
        ta = put(km, "h_table", table)
        n = int(rng.integers(1, 12))
        z = rand_i8(rng, n, "full") if case % 2 else rng.integers(-2, 3, n).astype(np.int8)
        label = int(rng.integers(0, n))
        want = ref.loss_grad(qm, z[None], [label])[0]
        za = put(km, "h_x", z)
        fill(km, "h_out8", n + 1)
        km.call("softmax_xent_grad", za, n, label, ta, addr(km, "h_out8"))
        got = km.read("h_out8", np.int8, n + 1)
        check_equal(want, got[:n], "softmax_xent_grad (custom table)", seed=seed, case=case, n=n, label=label,
                    z=z.tolist(), table_head=table[:8].tolist())


# --- topk.c --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_topk_threshold(km, seed):
    rng = np.random.default_rng(1000 + seed)
    for case in range(30):
        n = int(rng.choice([2, 3, 10, 257, 1000, 4096, 16384])) if case % 5 else int(rng.integers(2, 600))
        kind = case % 6
        if kind == 0:  # few distinct values: many ties at the threshold
            vals = rng.integers(-32768, 32768, int(rng.integers(1, 6)))
            s = rng.choice(vals, n)
        elif kind == 1:
            s = rng.choice(np.array([-32768, 32767, -32768, 0]), n)
        elif kind == 2:  # ties within one high-byte bin, differing low bytes
            s = int(rng.integers(-128, 127)) * 256 + rng.integers(0, 256, n) // 16 * 16
        elif kind == 3:
            s = np.full(n, int(rng.choice([-32768, 32767, 0, -1])))
        else:
            s = rng.integers(-32768, 32768, n)
        s = np.asarray(s).astype(np.int16)
        ks = {1, n - 1, int(rng.integers(1, n)), max(1, n // 2)}
        put(km, "h_scores", s)
        for k in sorted(ks):
            t, n_eq = topk.threshold(s, k)
            km.call("h_topk", n, k)
            got_t = int(km.read("h_t", np.uint32, 1)[0])
            got_eq = int(km.read("h_n_eq", np.int32, 1)[0])
            ctx = dict(seed=seed, case=case, n=n, k=k, kind=kind)
            check_equal([t, n_eq], [got_t, got_eq], "topk_threshold (t, n_eq)", **ctx)
            # and the mask it implies keeps exactly the sorted top-k
            key = s.astype(np.int32) + 32768
            eq = key == got_t
            mask = (key > got_t) | (eq & (np.cumsum(eq) <= got_eq))
            check_equal(topk.topk_mask_sorted(s, k), mask, "topk mask from the C threshold", **ctx)


# --- requant.h -----------------------------------------------------------------------------------------------
def test_rshift_round_and_requant8(km):
    rng = np.random.default_rng(1100)
    for s in range(0, 32):
        half = 1 << (s - 1) if s else 0
        k = rng.integers(-(1 << max(0, 29 - s)), 1 << max(0, 29 - s), 64)
        ties = (k << s) + half if s else k  # exact halves: round toward +inf
        x = np.concatenate([
            ties, -ties, ties - 1, ties + 1,
            rng.integers(-(1 << 30) + 1, 1 << 30, 128),
            [0, 1, -1, 2, -2, 3, -3, half, -half, (1 << 30) - 1, -(1 << 30) + 1, 127, 128, -128, -129],
        ]).astype(np.int64)
        x = x[np.abs(x) < (1 << 30)]  # the documented range
        n = len(x)
        put(km, "h_out32", x.astype(np.int32))
        km.call("h_rshift_round_vec", n, s)
        check_equal(intmath.rshift_round(x, s), km.read("h_out32", np.int32, n), "rshift_round", s=s)
        put(km, "h_out32", x.astype(np.int32))
        km.call("h_requant8_vec", n, s)
        check_equal(intmath.requant8(x, s), km.read("h_out8", np.int8, n), "requant8", s=s)
    # scalar wrappers, hand-picked: ties, negatives, both saturation ends, s = 0
    cases = [(5, 1, 3), (-5, 1, -2), (3, 1, 2), (-3, 1, -1), (-1, 1, 0), (1, 1, 1), (-2, 2, 0), (2, 2, 1),
             (-6, 2, -1), (6, 2, 2), (-7, 0, -7), (7, 0, 7), (-(1 << 29), 30, 0), ((1 << 29), 30, 1)]
    for x, s, want in cases:
        check_equal([want], [s32(km.call("h_rshift_round", x, s))], "rshift_round", x=x, s=s)
    for x, s in [(127, 0), (128, 0), (-128, 0), (-129, 0), (255, 1), (256, 1), (-257, 1), (-258, 1), (-259, 1),
                 (1 << 29, 3), (-(1 << 29), 3), (32767 * 128, 7), (-32768 * 128, 7), (254, 1), (-256, 1)]:
        check_equal(intmath.requant8([x], s), [s32(km.call("h_requant8", x, s))], "requant8", x=x, s=s)
    for x in [-(1 << 31), -32769, -32768, -129, -128, -127, -1, 0, 127, 128, 32767, 32768, (1 << 31) - 1]:
        check_equal(intmath.sat8([x]), [s32(km.call("h_sat8", x))], "sat8", x=x)
        check_equal(intmath.sat_w8([x]), [s32(km.call("h_sat_w8", x))], "sat_w8", x=x)
        check_equal(intmath.sat16([x]), [s32(km.call("h_sat16", x))], "sat16", x=x)


def test_bitlen_dynamic_shift_align(km):
    rng = np.random.default_rng(1200)
    for m in [0, 1, 2, 3, 127, 128, 255, 256, (1 << 30) - 1, 1 << 30, (1 << 31) - 1, 1 << 31, M32,
              *rng.integers(0, 1 << 32, 20, dtype=np.uint64).tolist()]:
        check_equal([intmath.bitlen(m)], [km.call("h_bitlen", m)], "bitlen", m=m)
        for bits in (7, 15):
            if m < (1 << 31):
                want = intmath.dynamic_shift(np.array([m]), bits)
                check_equal([want], [km.call("h_dynamic_shift_of", m, bits)], "dynamic_shift_of", m=m, bits=bits)
    for x in [0, 1, -1, 5, -5, 6, -6, 12345, -12345, 1 << 20, -(1 << 20)]:
        for d in range(-12, 9):
            check_equal(intmath.align([x], d), [s32(km.call("h_align_exp", x, d))], "align_exp", x=x, d=d)


def test_lowbias32(km):
    rng = np.random.default_rng(1300)
    x = np.concatenate([[0, 1, 2, 0x7FFFFFFF, 0x80000000, M32, 0xDEADBEEF],
                        rng.integers(0, 1 << 32, 500, dtype=np.uint64)]).astype(np.uint64)
    n = len(x)
    put(km, "h_out32", x.astype(np.uint32))
    km.call("h_lowbias32_vec", n)
    check_equal(intmath.lowbias32(x), km.read("h_out32", np.uint32, n), "lowbias32 (vector)")
    for v in x[:20]:
        check_equal([int(intmath.lowbias32(int(v)))], [km.call("h_lowbias32", int(v))], "lowbias32", x=int(v))


@pytest.mark.parametrize("seed", range(3))
def test_sround(km, seed):
    rng = np.random.default_rng(1400 + seed)
    for s in [0, 1, 2, 3, 5, 7, 8, 13, 16, 24, 30]:
        seed_v, counter = int(rng.integers(0, 1 << 32)), int(rng.integers(0, 1 << 32))
        n = 300
        x = rng.integers(-(1 << 30), 1 << 30, n)
        x[:8] = [0, 1, -1, (1 << 30) - 1, -(1 << 30), 1 << max(s - 1, 0), -(1 << max(s - 1, 0)), (1 << s) - 1]
        want = intmath.sround(x, s, seed_v, counter)
        base = int(intmath.lowbias32((seed_v ^ counter) & M32))
        put(km, "h_out32", x.astype(np.int32))
        km.call("h_sround_vec", n, s, base)
        ctx = dict(seed=seed, s=s, rseed=seed_v, counter=counter)
        check_equal(want, km.read("h_out32", np.int32, n), "sround (vector, index = flat position)", **ctx)
        # scalar form at arbitrary indices (base + index wraps around 2^32)
        for _ in range(5):
            xi, idx = int(rng.integers(-(1 << 30), 1 << 30)), int(rng.integers(0, 1 << 32))
            r = int(intmath.lowbias32((base + idx) & M32)) & ((1 << s) - 1)
            check_equal([(xi + r) >> s], [s32(km.call("h_sround", xi, s, base, idx))], "sround", x=xi, index=idx,
                        **ctx)


def test_update_roundings_floor_pstoshift_niti(km):
    """The baselines' C update rules (requant.h) against priot.intmath on edge values and random ones."""
    rng = np.random.default_rng(1500)
    for s in [1, 2, 3, 4, 5, 8, 13, 24]:
        n = 400
        x = rng.integers(-(1 << 30), 1 << 30, n)
        small = np.arange(-100, 100)
        x[:200] = small  # every small value, negative ones included: where floor, psto and nearest differ
        x[200:206] = [(1 << 30) - 1, -(1 << 30), (1 << s) - 1, -((1 << s) - 1), 1 << (s - 1), -(1 << (s - 1))]
        for rule, want in ((0, intmath.floor_shift(x, s)), (1, intmath.psto_shift(x, s)),
                           (2, np.clip(intmath.psto_shift(x, s), -127, 127))):
            put(km, "h_out32", x.astype(np.int32))
            km.call("h_update_vec", n, s, rule)
            check_equal(want, km.read("h_out32", np.int32, n), "update rounding", rule=rule, s=s)
    x = np.arange(-50, 50)  # NITI's step with shift <= 0 (the accumulator itself, clipped)
    put(km, "h_out32", (x * 3).astype(np.int32))
    km.call("h_update_vec", 100, 0, 2)
    check_equal(np.clip(x * 3, -127, 127), km.read("h_out32", np.int32, 100), "niti step, no shift")
    m = np.concatenate([np.arange(0, 300), [2 ** 20, 2 ** 20 + 1, 2 ** 31 - 1]])
    put(km, "h_out32", m.astype(np.uint32))
    km.call("h_update_vec", len(m), 0, 3)
    check_equal([intmath.ceil_log2(v) for v in m], km.read("h_out32", np.int32, len(m)), "ceil_log2")
