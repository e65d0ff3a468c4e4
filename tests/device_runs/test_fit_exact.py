"""The fit check is the linker's figure: for every registered device method at every model width, the SRAM it
adds up before linking equals the linked ELF's static RAM byte for byte (the firmware builds are cached)."""

import pytest

from m0sim.loader import load_program
from priot import methods
from priot.device import firmware, fit
from priot.models import get_model

DEVICE_METHODS = methods.names(device=True)
QUICK_MODELS = ("tiny_cnn", "vgg11_x0.125")  # every method at one width per model in the default suite
SLOW_MODELS = ("tiny_cnn_x2", "tiny_cnn_x4", "vgg11_pico")


def _model(name):
    return get_model("vgg11", fit.pico_width("vgg11")) if name == "vgg11_pico" else get_model(name)


def _variant(model, method, **knobs):
    """The method's default variant; PRIOT-S on VGG11 at the largest scored fraction that fits (its extreme)."""
    frac = fit.largest_fraction(model) if method == "priot-s" and model.name.startswith("vgg11") else None
    return methods.variant(method, frac, **knobs)


def _assert_fit_is_the_elf(model, v):
    b = fit.budget(model, v)
    if not b.fits:  # refused before linking, with the breakdown
        with pytest.raises(fit.DoesNotFit, match="does not fit the Pico: SRAM"):
            fit.check(model, v)
        return
    fp = load_program(firmware.build(model, v)).footprint()
    assert fp["static_ram"] == b.sram_total - b.sram["stack reserve"], (model.name, v)
    # flash: the compiler specialises a few dozen bytes of code per model
    assert abs(fp["flash"] - b.flash_total) <= 64


CASES = [pytest.param(m, n, id=f"{m}-{n}") for m in QUICK_MODELS for n in DEVICE_METHODS]
CASES += [pytest.param(m, n, id=f"{m}-{n}", marks=pytest.mark.slow) for m in SLOW_MODELS for n in DEVICE_METHODS]


@pytest.mark.parametrize("model_name, method", CASES)
def test_fit_equals_the_linked_static_ram(model_name, method):
    model = _model(model_name)
    _assert_fit_is_the_elf(model, _variant(model, method))


def test_every_device_method_is_covered():
    assert set(DEVICE_METHODS) == {n for n, s in methods.REGISTRY.items() if s.device} and len(DEVICE_METHODS) > 2


def test_a_fitting_vgg11_variant_of_each_kind_exists():
    """The quick width links a weight-training, a score-training and a last-layer NITI firmware (the cases above
    would pass vacuously if nothing fitted)."""
    model = _model("vgg11_x0.125")
    assert all(fit.budget(model, _variant(model, n)).fits for n in ("sgd-all", "niti-last", "priot-s", "none"))


def test_a_non_default_knob_variant_at_vgg11():
    """PRIOT-S's knobs have their own state (the rounding counter and base, the random rule's hash bases)."""
    model = _model("vgg11_x0.125")
    _assert_fit_is_the_elf(model, _variant(model, "priot-s", rounding="stochastic", select="random"))
