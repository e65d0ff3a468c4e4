"""PRIOT on both cores of the Pico: the two-core firmware splits the heavy layer loops between the cores and
stays bit-exact with the numpy model; its SRAM is budgeted before linking; the CLI reports the speedup."""

import json

import pytest

from m0sim.loader import load_program
from priot import methods, ref
from priot.device import firmware, fit
from priot.device.layout import header, make_layout
from priot.device.runner import open_device
from priot.errors import ConfigError
from priot.models import get_model, tiny_cnn



def make(name, qm):
    """A method with steps large enough that every rule moves its state within four steps."""
    return methods.make(name, qm, lr_shift={"sgd-all": 8, "niti-dynamic": 3}.get(name, 3), seed=5, keep=0.7,
                        frac=0.25, init_shift=2, layers=None)


@pytest.mark.parametrize("name", ["priot-s", "sgd-all", "niti-dynamic"])
def test_two_core_steps_are_bit_exact_and_faster(rotated, name):
    """Each step on both cores leaves the training state the host model has, and takes fewer elapsed cycles
    than the same step on one core (core 1 executes part of it: its own instruction count)."""
    qm, adapt, _ = rotated
    x = ref.to_input(adapt.images)
    method = make(name, qm)
    one, two = open_device(make(name, qm)), open_device(method, cores=2)
    assert two.machine.program.path.name.startswith(firmware.variant_name(qm.model, method.variant) + "-2cores-")
    two.compare("after init")
    for i in range(4):
        r1 = one.step(x[i], int(adapt.labels[i]))
        r2 = two.step(x[i], int(adapt.labels[i]))
        method.step(x[i], int(adapt.labels[i]))
        assert r1.predicted == r2.predicted
        two.compare(f"step {i}")
        core0, core1 = r2.stats.cores
        assert core1.instructions > 0.3 * core0.instructions
        assert r2.stats.cycles < 0.8 * r1.stats.cycles
    two.infer(x[5])
    two.compare_logits(x[5], "inference on both cores")


@pytest.mark.parametrize("knobs", [{"rounding": "stochastic", "ranking": "magnitude", "select": "random"},
                                   {"select": "smallest"}])
def test_two_core_priot_knobs_are_bit_exact(rotated, knobs):
    """The split keep mask (each core a byte-aligned range of rows) and score rows under every score knob."""
    qm, adapt, _ = rotated
    x = ref.to_input(adapt.images)
    method = methods.make("priot-s", qm, keep=0.7, lr_shift=3, init_shift=2, frac=0.25, seed=5, **knobs)
    dev = open_device(method, cores=2)
    for i in range(3):
        dev.step(x[i], int(adapt.labels[i]))
        method.step(x[i], int(adapt.labels[i]))
        dev.compare(f"step {i}")


def test_one_core_header_and_name_are_unchanged():
    """cores=1 is the firmware as before: no PRIOT_CORES in its header, no suffix in its name; cores=2 adds
    exactly the two-core defines."""
    model, v = tiny_cnn(), methods.variant("priot-s", 0.25)
    one, two = header(make_layout(model), v), header(make_layout(model), v.on_cores(2))
    assert "PRIOT_CORES" not in one and v.on_cores(1) == v
    assert "#define PRIOT_CORES 2" in two and "PRIOT_CORE1_STACK_BYTES" in two
    assert firmware.variant_name(model, v) == "priot-tiny_cnn-priot-s-p0.25"
    assert firmware.variant_name(model, v.on_cores(2)) == "priot-tiny_cnn-priot-s-p0.25-2cores"
    with pytest.raises(ConfigError, match="cores must be one of 1, 2"):
        v.on_cores(3)


@pytest.mark.parametrize("method,frac,splits", [("priot-s", 0.25, 1), ("sgd-all", 1.0, 1), ("niti-dynamic", 1.0, 0)])
def test_the_split_update_rule_is_one_header_constant(method, frac, splits):
    """Whether two cores split the update rows too is decided once (layout.splits_update) and reaches the firmware
    as PRIOT_SPLITS_UPDATE (the fit check reads the same constant); a one-core header does not name it."""
    layout, v = make_layout(tiny_cnn()), methods.variant(method, frac)
    assert f"#define PRIOT_SPLITS_UPDATE {splits}" in header(layout, v.on_cores(2))
    assert "PRIOT_SPLITS_UPDATE" not in header(layout, v)


@pytest.mark.parametrize("model,method,frac", [("tiny_cnn", "priot-s", 0.25), ("tiny_cnn", "niti-dynamic", 1.0),
                                               ("vgg11_x0.125", "priot-s", 0.1), ("vgg11_x0.125", "sgd-all", 1.0),
                                               ("vgg11_x0.125", "sgd-last", 1.0)])
def test_two_core_budget_is_what_the_linker_allocates(tmp_path, model, method, frac):
    """The fit check adds what the two-core firmware needs (core 1's stack and scratch); the linked two-core ELF's
    static RAM is exactly its parts, and the budget grows by exactly that part."""
    model = get_model(model)
    v = methods.variant(method, frac).on_cores(2)
    b, one = fit.budget(model, v), fit.budget(model, v.on_cores(1))
    fp = load_program(firmware.build(model, v, tmp_path)).footprint()
    assert fp["static_ram"] == b.sram_total - b.sram["stack reserve"]
    assert abs(fp["flash"] - b.flash_total) <= 64
    assert "two cores" not in one.sram and b.sram["two cores"] >= 1024  # core 1's stack at least
    assert b.sram_total - one.sram_total == b.sram["two cores"]


def test_run_with_two_cores_reports_speedup(cli, tmp_path):
    out = tmp_path / "report.json"
    proc = cli("run", "priot-s", "--cores", "2", "--epochs", "1", "--samples", "8", "--test", "6", "--pretrain", "600",
               "--validate-every", "2", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "two cores against one" in proc.stdout and "both cores" in proc.stdout
    report = json.loads(out.read_text())
    s, gain = report["summary"], report["summary"]["two_cores"]
    assert s["bit_exact"] and s["steps"] == 8 and report["config"]["cores"] == 2
    assert gain["speedup"]["step"] > 1.3 and gain["speedup"]["forward"] > 1.3
    assert gain["one_core"]["step"] > gain["two_cores"]["step"]


def test_cost_with_two_cores(cli, tmp_path):
    out = tmp_path / "cost.json"
    proc = cli("run", "cost", "--cores", "2", "--steps", "1", "--warmup", "1", "--json", out)
    assert proc.returncode == 0, proc.stderr
    assert "two cores against one" in proc.stdout and "extra SRAM B" in proc.stdout
    rows = {r["method"]: r for r in json.loads(out.read_text())["two_cores"]}
    assert set(rows) == {"none", "sgd-last", "sgd-all", "niti-last", "niti-all", "niti-dynamic", "priot", "priot-s"}
    for r in rows.values():
        assert r["speedup"]["step"] > 1.2 and r["speedup"]["forward"] > 1.3 and r["extra_sram"] > 1024


@pytest.mark.parametrize("args", [["run", "priot-s", "--cores", "3"], ["run", "cost", "--cores", "0"]])
def test_bad_core_count_is_one_line(cli, args):
    proc = cli(*args)
    assert proc.returncode == 2 and "--cores" in proc.stderr and "Traceback" not in proc.stderr
