"""VGG11 on the emulated Pico: the fit check before linking, the layer kernels at VGG11's shapes in lockstep
with the numpy model, and the command line's refusals."""

import pickle

import numpy as np
import pytest

from m0sim import memmap
from m0sim.loader import load_program
from priot import methods, pretrain, quant, ref
from priot.device import firmware, fit
from priot.device.runner import open_device
from priot.methods import variant
from priot.models import get_model


@pytest.fixture(scope="module")
def pico():
    return get_model("vgg11", fit.pico_width("vgg11"))


def test_pico_width_is_the_widest_whose_weights_fit_the_flash(pico):
    w = fit.pico_width("vgg11")
    assert fit.budget(pico, variant("none")).flash_total <= memmap.XIP.size
    wider = [get_model("vgg11", k / 64) for k in range(int(w * 64) + 1, 65)]
    for m in wider:  # every wider width either overflows the flash or has a layout the kernels refuse
        try:
            over = fit.budget(m, variant("none")).flash_total > memmap.XIP.size
        except Exception as exc:  # noqa: BLE001 (ConfigError: a layer not on a word boundary)
            over = "word boundary" in str(exc)
        assert over, m.name
    assert fit.resolve("vgg11").name == pico.name and fit.resolve("vgg11_x0.25").name == "vgg11_x0.25"


def test_fit_refuses_priot_and_sgd_all_with_the_breakdown(pico):
    for method in ("priot", "sgd-all"):
        with pytest.raises(fit.DoesNotFit) as info:
            fit.check(pico, variant(method))
        msg = str(info.value)
        assert msg.startswith(f"{pico.name} with {method} does not fit the Pico: SRAM ")
        for part in ("static", "training state", "activations kept", "buffers", "stack reserve", "of 270,336",
                     "weights", "of 2,097,152"):
            assert part in msg
        b = fit.budget(pico, variant(method))
        assert b.sram_total > memmap.SRAM.size and f"SRAM {b.sram_total:,} of" in msg
    # PRIOT's int16 score for every scored edge alone is over the SRAM; SGD's SRAM copy of the weights too
    assert fit.budget(pico, variant("priot")).sram["training state"] > memmap.SRAM.size
    assert fit.budget(pico, variant("sgd-all")).sram["training state"] > memmap.SRAM.size


def test_fit_accepts_priot_s_at_the_largest_fraction_that_fits(pico):
    frac = fit.largest_fraction(pico)
    assert frac is not None and 0 < frac < 0.1
    b = fit.check(pico, variant("priot-s", frac))
    assert b.sram_total <= memmap.SRAM.size
    with pytest.raises(fit.DoesNotFit, match="priot-s at scored fraction"):
        fit.check(pico, variant("priot-s", frac + 0.005))
    assert fit.check(pico, variant("none")).fits and fit.check(pico, variant("sgd-last")).fits


@pytest.fixture(scope="module")
def vgg_qm():
    """An untrained VGG11 at width 1/8 (He init), quantized and calibrated on random images: real shapes and
    static shifts without a pretraining run."""
    model = get_model("vgg11_x0.125")
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 24).astype(np.uint8)
    return quant.quantize(model, pretrain.init_params(model, rng), images, labels), images, labels


@pytest.mark.parametrize("name", ["priot-s", "sgd-all"])
def test_vgg11_steps_bit_exact(vgg_qm, name):
    """Every layer kernel at VGG11's shapes (32x32x3 input, multi-channel convs, five pools down to 1x1, dense)
    in the emulator, two training steps in lockstep with the numpy model, every state element compared."""
    qm, images, labels = vgg_qm
    method = methods.make(name, qm, frac=0.1)
    dev = open_device(method)
    dev.compare("after priot_init")
    x = ref.to_input(images)
    for i in range(2):
        r = dev.step(x[i], int(labels[i]))
        method.step(x[i], int(labels[i]))
        dev.compare(f"{name} step {i}")
    assert r.stats.cycles > 10_000_000
    dev.infer(x[5])
    dev.compare_logits(x[5], "inference")


def test_cli_refuses_what_does_not_fit(cli):
    proc = cli("run", "priot", "--model", "vgg11")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not fit the Pico: SRAM" in lines[0] and "training state" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_bad_cifar_batches_one_line(cli, tmp_path):
    for i in range(1, 6):
        x = np.zeros((2, 3072), np.uint8) if i != 4 else np.zeros((2, 3000), np.uint8)  # batch 4: wrong shape
        (tmp_path / f"data_batch_{i}").write_bytes(pickle.dumps({b"data": x, b"labels": [0, 1]}, protocol=2))
    proc = cli("run", "priot-s", "--model", "vgg11_x0.25", "--dataset", "cifar10", "--data-path", tmp_path)
    assert proc.returncode == 2 and "data_batch_4: expected data uint8 [N,3072]" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = cli("run", "none", "--model", "vgg11_x0.25", "--dataset", "cifar10", "--data-path", tmp_path / "no")
    assert proc.returncode == 2 and "data_batch_1: file not found" in proc.stderr
    proc = cli("run", "none", "--model", "resnet")
    assert proc.returncode == 2 and "unknown model 'resnet' (have tiny_cnn, vgg11)" in proc.stderr


@pytest.mark.slow
def test_cli_priot_s_on_the_pico_sized_vgg11(cli, tmp_path):
    """The issue's acceptance run, with a small pretraining so that a fresh cache does not take an hour."""
    proc = cli("run", "priot-s", "--model", "vgg11", "--samples", "20", "--epochs", "1", "--pretrain", "300",
               "--json", tmp_path / "r.json")
    assert proc.returncode == 0, proc.stderr
    assert "bit-exact with the numpy model over 20 steps" in proc.stdout
