import numpy as np

from priot import quant, ref
from priot.models import tiny_cnn


def test_weight_quantization_power_of_two():
    w = np.array([0.5, -0.25, 0.0031, -0.49], np.float32)
    q, e = quant.quantize_weights(w)
    assert e == 7  # 0.5 * 2^7 = 64 <= 127 < 0.5 * 2^8
    assert q.dtype == np.int8 and q.tolist() == [64, -32, 0, -63]
    q, e = quant.quantize_weights(np.array([-3.0, 1.0]))
    assert e == 5 and q.tolist() == [-96, 32]


def test_exp_table():
    t = ref.exp_table(2)
    assert t[0] == 16384 and t[4] == round(16384 * np.exp(-1)) and t.dtype == np.int32
    assert (np.diff(t) <= 0).all()


def test_integer_softmax_and_loss_grad(small_qm):
    z = np.array([[10, 10, -128, 127, 0, 0, 0, 0, 0, 0], [0] * 10], np.int8)
    p = ref.softmax_q7(small_qm, z)
    assert p.dtype == np.int32 and (p[1] == 13).all()  # 128/10 = 12.8 -> 13
    assert p[0, 3] == p[0].max() and p[0, 2] == 0
    g = ref.loss_grad(small_qm, z, [3, 0])
    assert g.dtype == np.int8 and g[0, 3] == p[0, 3] - 128 and g[1, 0] == 13 - 128


def test_backbone_is_cached_and_bit_reproducible(small_splits, tmp_path, monkeypatch):
    pre = small_splits[0].subset(np.arange(100))
    cfg = {"model": "tiny_cnn", "dataset": "t", "seed": 3, "epochs": 1, "n_pretrain": 100, "n_calib": 50}
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path / "a"))
    a = quant.backbone(pre, cfg, 9)
    assert len(list((tmp_path / "a").glob("backbone-*.npz"))) == 1
    assert len(list((tmp_path / "a").glob("float-backbone-*.npz"))) == 1  # its float parameters beside it
    b = quant.backbone(pre, cfg, 9)           # from the cache
    monkeypatch.setenv("M0SIM_CACHE", str(tmp_path / "b"))
    c = quant.backbone(pre, cfg, 9)           # rebuilt from scratch
    for x in (b, c):
        for k, v in a.arrays().items():
            assert (x.arrays()[k] == v).all() and x.arrays()[k].dtype == v.dtype, k
    # the float parameters: the same bits from the cache and from a fresh pretraining
    (tmp_path / "b" / next((tmp_path / "b").glob("float-*.npz")).name).unlink()
    fresh, cached = c.pretrained(), b.pretrained()
    assert all((f == g).all() for fp, gp in zip(fresh, cached) for f, g in zip(fp, gp))
    assert all((quant.quantize_weights(w)[0] == q).all() for (w, _), q in zip(cached, a.weights))


def test_quantized_model_tracks_float(small_qm, small_splits):
    pre = small_splits[0]
    qm = small_qm
    assert all(w.dtype == np.int8 and np.abs(w.astype(int)).max() <= 127 for w in qm.weights)
    assert all(b.dtype == np.int32 for b in qm.biases)
    assert all(s >= 0 for s in qm.out_shift + qm.bwd_shift + qm.grad_shift)
    logits = ref.predict(qm, ref.to_input(pre.images))
    assert logits.dtype == np.int8
    assert (logits.argmax(1) == pre.labels).mean() > 0.6  # 1 epoch on 300 digits, upright training data
    assert qm.model == tiny_cnn()
