"""VGG11 on the host: the model entry, exact float64 integer products, data fitted to 32x32x3, model defaults."""

import pickle

import numpy as np
import pytest

from priot import data, ops, ref, rotate
from priot.errors import ConfigError, DataError
from priot.recipe import model_defaults
from priot.models import Conv3x3, Dense, MaxPool2, get_model, split_name, weight_shape


def n_weights(model):
    return sum(int(np.prod(weight_shape(model.layers[i]))) for i in model.param_indices())


def test_vgg11_cifar_form_and_width():
    m = get_model("vgg11")
    convs = [l for l in m.layers if isinstance(l, Conv3x3)]
    assert [c.cout for c in convs] == [64, 128, 256, 256, 512, 512, 512, 512]
    assert sum(isinstance(l, MaxPool2) for l in m.layers) == 5
    assert m.shapes()[-2] == (1, 1, 512) and m.layers[-1] == Dense(512, 10)
    assert n_weights(m) == 9_222_848
    q = get_model("vgg11_x0.25")
    assert q.name == "vgg11_x0.25" and [c.cout for c in q.layers if isinstance(c, Conv3x3)][:2] == [16, 32]
    assert n_weights(q) == 577_712
    assert split_name("vgg11_x0.25") == ("vgg11", 0.25) and split_name("vgg11") == ("vgg11", None)
    with pytest.raises(ConfigError, match="unknown model 'vgg12'.*tiny_cnn, vgg11"):
        get_model("vgg12")


def test_float64_matmul_is_the_integer_product():
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (3, 5, 4608), dtype=np.int64).astype(np.int8)
    b = rng.integers(-127, 128, (4608, 7)).astype(np.int64)
    want = np.einsum("nik,kj->nij", a.astype(np.int64), b)
    got = ops.matmul(a, b)
    assert got.dtype == np.int64 and np.array_equal(got, want)
    # beyond 2^53 the float path would round: the exact int64 product is used instead
    big = np.full((1, 4), 2 ** 40, np.int64)
    assert ops.matmul(big, np.full((4, 1), 2 ** 11 + 1, np.int64))[0, 0] == 4 * 2 ** 40 * (2 ** 11 + 1)
    # float operands are plain products (the float pretraining)
    f = rng.standard_normal((4, 3)).astype(np.float32)
    assert np.allclose(ops.matmul(f, f.T), f @ f.T)


def test_vgg11_integer_step_through_blas_equals_int64(monkeypatch):
    """A whole integer forward/backward at VGG11 shapes: the float64 products give the int64 results."""
    from priot import quant

    m = get_model("vgg11_x0.125")
    rng = np.random.default_rng(1)
    ws = [rng.integers(-127, 128, weight_shape(m.layers[i])).astype(np.int8) for i in m.param_indices()]
    n = len(ws)
    qm = quant.QuantModel(m, ws, [rng.integers(-999, 999, len(w)).astype(np.int32) for w in ws], [7] * n, [7] * n,
                          [10] * n, [9] * n, [0] * n, 7, ref.exp_table(7))
    x = rng.integers(0, 128, (2, 32, 32, 3)).astype(np.int8)

    def step():
        logits, tr = ref.forward(qm, x)
        grads, _, _ = ref.backward(qm, tr, ref.loss_grad(qm, logits, [3, 4]))
        return logits, grads

    fast = step()
    monkeypatch.setattr(ops, "EXACT_F64", 0)  # every product through numpy's int64 matmul
    slow = step()
    assert np.array_equal(fast[0], slow[0]) and np.abs(fast[0]).max() > 0
    for g, h in zip(fast[1], slow[1]):
        assert g.dtype == np.int32 and np.array_equal(g, h)
    assert any(np.abs(g).max() > 0 for g in fast[1])


def test_fit_to_pads_and_repeats_channels():
    imgs = np.arange(2 * 28 * 28, dtype=np.uint64).reshape(2, 28, 28, 1).astype(np.uint8)
    ds = data.Dataset(imgs, np.array([1, 2], np.uint8), "f")
    out = data.fit_to(ds, (32, 32, 3))
    assert out.images.shape == (2, 32, 32, 3)
    assert (out.images[:, 2:30, 2:30, 0] == imgs[..., 0]).all() and (out.images[..., 0] == out.images[..., 2]).all()
    assert out.images[:, :2].sum() == 0 and out.images[:, :, 30:].sum() == 0
    assert data.fit_to(out, (32, 32, 3)) is out
    with pytest.raises(DataError, match="do not fit the model input 28x28x1"):
        data.fit_to(out, (28, 28, 1))


def test_splits_fitted_before_rotation():
    imgs = np.zeros((30, 28, 28, 1), np.uint8)
    imgs[:, 0, :] = 200  # a bar on the top row, turned 90 degrees lands on the padded left border
    ds = data.Dataset(imgs, np.arange(30, dtype=np.uint8) % 10, "f")
    pre, adapt, test = rotate.make_splits(ds, 10, 10, 10, np.random.default_rng(0), angle=90, shape=(32, 32, 3))
    assert pre.images.shape[1:] == (32, 32, 3) and (pre.images[:, 2, 2:30] == 200).all()
    assert (adapt.images[:, 2:30, 2] == 200).all()


def test_fashion_missing_names_the_package(tmp_path):
    with pytest.raises(DataError, match="nowhere: file not found.*dataset-fashion-mnist"):
        data.load_dataset("fashion", tmp_path / "nowhere")


def test_cifar_batches_fit_vgg11_unchanged(tmp_path):
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        x = rng.integers(0, 256, (2, 3072), dtype=np.uint8)
        (tmp_path / name).write_bytes(pickle.dumps({b"data": x, b"labels": [1, 2]}, protocol=2))
    ds = data.load_dataset("cifar10", tmp_path)
    assert data.fit_to(ds, get_model("vgg11").input_shape) is ds
    assert ds.images.shape == (10, 32, 32, 3) and tuple(ds.images[-2, 0, 0]) == tuple(x[0, [0, 1024, 2048]])


def test_model_defaults():
    assert model_defaults("vgg11_x0.25").dataset == "fashion"
    assert model_defaults("tiny_cnn").score_layers == (1, 2)
    with pytest.raises(ConfigError, match="unknown model"):
        model_defaults("resnet")
