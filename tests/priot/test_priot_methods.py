import numpy as np
import pytest

from priot import methods, ref, train
from priot.errors import ConfigError
from priot.methods.priot import Priot


def run(name, qm, split, **kw):
    m = methods.make(name, qm, **kw)
    orders = train.epoch_orders(len(split), 1, np.random.default_rng(0))
    train.train(m, split.images[:30], split.labels[:30], [o[o < 30] for o in orders])
    return m


@pytest.mark.parametrize("name", methods.METHODS)
def test_every_method_runs_end_to_end_with_integer_state(name, small_qm, small_splits):
    _, ad, te = small_splits
    lr = None if name == "none" else {"sgd-all": 10, "sgd-last": 8, "rtn-all": 10, "rtn-last": 8, "floor-all": 10,
                                      "floor-last": 8, "niti-dynamic": 2, "niti-all": 4, "niti-last": 4}.get(name, 5)
    m = run(name, small_qm, ad, lr_shift=lr)
    acc = train.accuracy(m, te.images, te.labels)
    assert 0.0 <= acc <= 1.0
    logits = m.predict(ref.to_input(te.images[:3]))
    integer = methods.spec(name).integer
    assert logits.shape == (3, 10) and (logits.dtype == np.int8) == integer
    st = m.state()
    assert all((a.dtype.kind in "iu") == integer for a in st.values())
    assert m.state_bytes() == sum(a.nbytes for a in st.values())
    if integer:
        assert all(w.dtype == np.int8 for w in m.effective_weights())
    if name != "none":
        # deterministic: a second run from scratch gives the same state bit for bit
        st2 = run(name, small_qm, ad, lr_shift=lr).state()
        assert all((st2[k] == v).all() for k, v in st.items())


@pytest.mark.parametrize("name", ["sgd-all", "priot", "niti-dynamic", "niti-all", "niti-last", "floor-all", "rtn-last",
                                  "float-all"])
def test_training_changes_state(name, small_qm, small_splits):
    m = methods.make(name, small_qm, lr_shift={"sgd-all": 8, "priot": 3, "niti-dynamic": 3, "niti-all": 5, "niti-last": 5,
                                               "floor-all": 8, "rtn-last": 4, "float-all": 5}[name])
    before = {k: v.copy() for k, v in m.state().items()}
    x = ref.to_input(small_splits[1].images)
    for i in range(5):
        m.step(x[i], int(small_splits[1].labels[i]))
    assert any((m.state()[k] != v).any() for k, v in before.items() if k != "rng_counter")


def test_every_training_intermediate_is_integer(small_qm, small_splits):
    x = ref.to_input(small_splits[1].images[:1])
    for dyn in (False, True):
        logits, tr = ref.forward(small_qm, x, dynamic=dyn)
        err = ref.loss_grad(small_qm, logits, [3], tr.out_exp)
        grads, shifts, exps = ref.backward(small_qm, tr, err, dynamic=dyn)
        arrays = [logits, err] + grads + [a for a in tr.saved if isinstance(a, np.ndarray)]
        assert all(a.dtype.kind in "iub" for a in arrays), [a.dtype for a in arrays]
        assert all(isinstance(s, int) for s in shifts[1:] + tr.shifts + exps)
    with pytest.raises(TypeError):
        ref.forward(small_qm, x.astype(np.float32))


def test_priot_masks_and_priot_s_memory(small_qm):
    p = Priot(small_qm, keep=0.7, frac=1.0, layers=[0, 1, 2])
    s = Priot(small_qm, keep=0.5, frac=0.25, layers=[0, 1, 2])
    assert p.name == "priot" and s.name == "priot-s"
    for j, w in enumerate(small_qm.weights):
        assert p.masks[j].sum() == int(np.floor(0.7 * w.size + 0.5))
        # PRIOT-S: unscored edges always kept, scored edges are exactly |w| >= T
        scored = np.abs(w.astype(int)) >= s.thresholds[j]
        assert (s.masks[j][~scored] == 1).all()
        assert scored.sum() == len(s.scores[j]) <= 0.25 * w.size
        assert s.scores[j].dtype == np.int16
    assert s.state_bytes() <= p.state_bytes() / 4
    # first mask is magnitude pruning: every kept edge is at least as large as every pruned one
    w = np.abs(small_qm.weights[2].astype(int))
    assert w[p.masks[2] == 1].min() >= w[p.masks[2] == 0].max()


def test_priot_default_leaves_first_layer_whole(small_qm):
    p = Priot(small_qm)
    assert p.thresholds[0] == 128 and len(p.scores[0]) == 0 and (p.masks[0] == 1).all()
    assert len(p.scores[1]) == small_qm.weights[1].size
    assert p.state_bytes() == 2 * (small_qm.weights[1].size + small_qm.weights[2].size)


def test_bad_method_arguments(small_qm):
    with pytest.raises(ConfigError):
        methods.make("adam", small_qm)
    with pytest.raises(ConfigError):
        methods.make("priot", small_qm, init_shift=9)
    with pytest.raises(ConfigError, match="indices 0..2"):
        methods.make("priot", small_qm, layers=[3])
    with pytest.raises(ConfigError):
        methods.make("sgd-all", small_qm).step(np.zeros((28, 28, 1), np.uint8), 1)


def test_registry_step_grids_are_consecutive_and_families_known():
    from priot.methods import registry

    tuned = [s for s in methods.REGISTRY.values() if s.grid]
    # the baselines' grids: 8 steps, 10 for the last-layer ones (their VGG11 choices sat at the 8-point edges)
    assert tuned and all(len(s.grid) == (10 if s.layers == "last" else methods.GRID_POINTS)
                         for s in tuned if s.family != "priot")
    assert all(list(s.grid) == list(range(s.grid[0], s.grid[-1] + 1)) for s in tuned)
    assert all(s.default_step in s.grid for s in tuned)
    assert set(methods.names(family="priot")) == {"priot", "priot-s"}
    with pytest.raises(ConfigError, match="unknown method family"):
        methods.names(family="magic")
    with pytest.raises(ConfigError, match="grid"):
        registry.MethodSpec("x", "naive", None, (1, 3))
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        methods.make("nope", None)


def test_the_registry_normalises_a_variant_once(small_qm):
    """Knobs a method does not have are dropped, so equal variants name the same firmware."""
    assert methods.variant("priot", 0.1, [2, 1, 2]) == methods.Variant("priot", 1.0, (1, 2), selection="every")
    s = methods.variant("priot-s")
    assert (s.fraction, s.score_layers, s.trains, s.sized) == (methods.DEFAULTS.frac, None, "scores", True)
    assert methods.variant("sgd-last", 0.1, [1]) == methods.variant("sgd-last")
    w = methods.variant("niti-dynamic")
    assert (w.trains, w.update, w.weight_layers, w.random_update) == ("weights", "dynamic", "all", True)
    assert methods.variant("none").trains == "none"
    # make() gives every method its variant, with the layers the method actually scores
    assert methods.make("priot-s", small_qm, frac=0.3).variant == methods.variant("priot-s", 0.3, [1, 2])
    assert methods.make("rtn-last", small_qm).variant.update == "nearest"
    with pytest.raises(ConfigError, match="unknown method 'priot-x'"):
        methods.variant("priot-x")


def test_the_device_takes_a_method_by_its_variant(small_qm):
    from m0sim.errors import InputError
    from priot.device.runner import variant_of

    assert variant_of(methods.make("priot", small_qm)) == methods.variant("priot", None, [1, 2])
    with pytest.raises(InputError, match="build the method with priot.methods.make"):
        variant_of(Priot(small_qm))  # no registry entry named: no firmware to choose
