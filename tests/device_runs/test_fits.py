"""``fit.fits``: the study report's fits-the-Pico column, from the same budget the fit check refuses with."""

from priot.device import fit
from priot.methods import variant
from priot.models import get_model


def test_fits_says_yes_with_the_breakdown_and_no_with_the_reason():
    model = get_model("vgg11_x0.25")
    ok, why = fit.fits(model, variant("sgd-last"))
    assert ok and why == fit.budget(model, variant("sgd-last")).describe() and "training state 1,2" in why
    ok, why = fit.fits(model, variant("sgd-all"))  # whole-network int8 weights: 578 KB of SRAM state
    assert not ok and why.startswith("SRAM 690,8") and "of 270,336 bytes" in why
    assert fit.fits(get_model("vgg11_x0.125"), variant("sgd-all"))[0]  # at half the width it fits
    assert fit.fits(model, variant("float-all")) == (False, "float-all has no firmware variant (host only)")


def test_fits_agrees_with_the_check_for_every_method_at_both_study_widths():
    for width in (0.125, 0.25):
        model = get_model("vgg11", width)
        for name in ("none", "sgd-all", "sgd-last", "niti-all", "priot", "priot-s"):
            v = variant(name, 0.2)
            try:
                fit.check(model, v)
                refused = False
            except fit.DoesNotFit:
                refused = True
            assert fit.fits(model, v)[0] is not refused, (model.name, name)
