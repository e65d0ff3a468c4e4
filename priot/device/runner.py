"""Run a PRIOT method on the emulated Pico, in lockstep with its numpy twin.

The host method object (priot.methods) is the specification: its backbone and parameters are exported into
the firmware (frozen weights, biases and exp tables into flash; parameters and the initial training state into
SRAM), then samples are fed as a sensor would (write the input buffer, call the training step). After a step
the device state can be compared bit for bit with the host's; the first difference is an error naming the
method, the array (layer), the index and both values.
"""

from dataclasses import dataclass

import numpy as np

from m0sim import memmap
from m0sim.errors import FirmwareFault, InputError
from m0sim.machine import Machine
from priot import ref
from priot.device.firmware import locate
from priot.device.layout import METHODS, N_EXP_TABLES, make_layout, params_dtype, trained_layers
from priot.methods import REGISTRY, Variant

STEP_BUDGET_CYCLES = 2_000_000_000  # a step that runs longer than 16 s of Pico time is a bug


class Mismatch(FirmwareFault):
    """The device and the numpy model disagree."""


@dataclass
class StepResult:
    predicted: int
    stats: object  # m0sim RunStats of the call


def variant_of(method) -> Variant:
    """The firmware variant of a host method (``priot.methods.make`` gives it one); host-only methods are refused."""
    v = method.variant
    if v is None:
        raise InputError(f"{method.name}: build the method with priot.methods.make (its registry entry names its "
                         f"firmware)")
    spec = REGISTRY[v.method]
    if not spec.device or v.method not in METHODS:
        what = "not an integer method" if not spec.integer else "no firmware variant"
        raise InputError(f"{v.method} runs on the host only ({what}); device methods: {', '.join(METHODS)}")
    return v


class DeviceMethod:
    """One method's firmware in one emulated Pico, driven step by step."""

    def __init__(self, method, firmware, clock_hz: int = memmap.CLOCK_HZ):
        self.method = method
        self.variant = variant_of(method)
        self.key = self.variant.method
        self.qm = method.qm
        self.layout = make_layout(self.qm.model)
        self.machine = Machine(firmware, clock_hz=clock_hz)
        self._check_fit()
        self._export()
        rc = self.machine.call("priot_init")
        if rc != 0:
            raise Mismatch(f"{self.key}: priot_init returned {rc - (1 << 32) if rc & 0x80000000 else rc}: "
                           f"the device derives a different set of scored edges than the host")
        self.init_stats = self.machine.last_stats

    # --- export ------------------------------------------------------------------------------------------
    def _check_fit(self):
        fp = self.machine.program.footprint()
        stack = self.machine.program.symbols.get("__stack_top")
        limit = self.machine.program.symbols.get("__StackLimit")
        stack_reserve = (stack.addr - limit.addr) if stack and limit else 0
        need_ram = fp["static_ram"] + stack_reserve
        if fp["flash"] > memmap.XIP.size or need_ram > memmap.SRAM.size:
            raise InputError(
                f"{self.key} does not fit the Pico: flash {fp['flash']} of {memmap.XIP.size} bytes "
                f"(text {fp['text']}, rodata {fp['rodata']}, data {fp['data']}); SRAM {need_ram} of "
                f"{memmap.SRAM.size} bytes (data {fp['data']}, bss {fp['bss']} incl. training state, "
                f"stack reserve {stack_reserve})")

    def _params(self):
        qm, m, n = self.qm, self.method, self.layout.n_param
        p = np.zeros(1, params_dtype(n))[0]
        p["lr_shift"] = m.lr_shift or 0
        p["seed"] = m.seed
        p["logit_exp"], p["in_exp"] = qm.logit_exp, qm.in_exp
        p["exp_table_base"] = qm.logit_exp - N_EXP_TABLES // 2
        for k in ("out_shift", "bwd_shift", "grad_shift", "w_exp", "act_exp"):
            p[k] = getattr(qm, k)
        if self.variant.trains == "scores":
            counts = [int(s.sum()) for s in m.scored]
            p["score_t"], p["keep_k"], p["n_scored"] = m.thresholds, m.k, counts
            p["score_off"] = np.concatenate([[0], np.cumsum(counts)[:-1]])
        else:
            p["score_t"] = 128
        trained = trained_layers(self.layout, self.variant)
        sizes = [self.qm.weights[j].size if j in trained else 0 for j in range(n)]
        p["trained"] = [int(j in trained) for j in range(n)]
        p["train_off"] = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return p

    def _export(self):
        m, qm = self.machine, self.qm
        m.write("priot_flash_weights", np.concatenate([w.ravel() for w in qm.weights]).astype(np.int8))
        m.write("priot_flash_bias", np.concatenate(qm.biases).astype("<i4"))
        n_tables = m.program.symbol("priot_exp_tables").size // (256 * 4)
        base = qm.logit_exp - N_EXP_TABLES // 2 if n_tables > 1 else qm.logit_exp
        tables = np.stack([ref.exp_table(base + k) for k in range(n_tables)]) if n_tables > 1 else qm.exp_table[None]
        m.write("priot_exp_tables", tables.astype("<i4"))
        m.write("priot_params", np.array([self._params()]))
        if self.variant.trains == "scores":
            m.write("priot_scores", np.concatenate(self.method.scores + [np.zeros(0, np.int16)]).astype("<i2"))
        if self.variant.random_update:
            m.write("priot_rng_counter", self.method.counter.astype("<u4"))

    def set_lr_shift(self, lr_shift: int):
        """After the host's per-epoch schedule changed the learning rate."""
        p = self.machine.read("priot_params", np.uint8)
        params = np.frombuffer(p.tobytes(), params_dtype(self.layout.n_param)).copy()
        params["lr_shift"] = lr_shift
        self.machine.write("priot_params", params)

    # --- running -----------------------------------------------------------------------------------------
    def _input(self, x):
        x = np.asarray(x)
        if x.dtype != np.int8 or x.shape != tuple(self.qm.model.input_shape):
            raise InputError(f"sample must be int8 {self.qm.model.input_shape}, got {x.dtype} {x.shape}")
        self.machine.write("priot_input", x.ravel())

    def step(self, x, label: int) -> StepResult:
        self._input(x)
        predicted = self.machine.call("priot_train_step", int(label), max_cycles=STEP_BUDGET_CYCLES)
        self._check_status()
        return StepResult(int(predicted), self.machine.last_stats)

    def infer(self, x) -> StepResult:
        self._input(x)
        predicted = self.machine.call("priot_infer", max_cycles=STEP_BUDGET_CYCLES)
        self._check_status()
        return StepResult(int(predicted), self.machine.last_stats)

    def logits(self) -> np.ndarray:
        return self.machine.read("priot_logits", np.int8)

    def _check_status(self):
        if self.machine.read("priot_status", np.int32)[0]:
            raise FirmwareFault(f"{self.key}: a dynamic logit exponent left the {N_EXP_TABLES} exported exp tables")

    # --- state and validation ----------------------------------------------------------------------------
    def device_state(self) -> dict:
        """The device's training state, named and shaped like the host's `state()` (plus masks)."""
        m, out = self.machine, {}
        if self.variant.trains == "scores":
            counts = [int(s.sum()) for s in self.method.scored]
            scores = m.read("priot_scores", np.int16)[:sum(counts)]
            for j, part in enumerate(np.split(scores, np.cumsum(counts)[:-1])):
                out[f"scores{j}"] = part
            for j, w in enumerate(self.qm.weights):  # the device expands one layer's mask at a time
                n = m.call("priot_layer_mask", j)
                bits = np.unpackbits(m.read("priot_mask", np.uint8)[:n], bitorder="little")[:w.size]
                out[f"mask{j}"] = bits if n else np.ones(w.size, np.uint8)
        if self.variant.trains == "weights":
            w = m.read("priot_train_w", np.int8)
            off = 0
            for j in self.method.trained:
                n = self.qm.weights[j].size
                out[f"w{j}"] = w[off:off + n].reshape(self.qm.weights[j].shape)
                off += n
        if self.variant.random_update:  # the SGD baselines' rounding, or PRIOT's stochastic score rounding
            out["rng_counter"] = m.read("priot_rng_counter", np.uint32)
        return out

    def host_state(self) -> dict:
        out = dict(self.method.state())
        if self.variant.trains == "scores":
            for j, mask in enumerate(self.method.masks):
                out[f"mask{j}"] = mask.ravel()
        return out

    def compare(self, where: str):
        """Raise Mismatch at the first element where device and host state differ."""
        dev, host = self.device_state(), self.host_state()
        for name, expected in host.items():
            actual = dev.get(name)
            if actual is None:
                raise Mismatch(f"{self.key}: {where}: the device has no '{name}'")
            e, a = np.asarray(expected).ravel(), np.asarray(actual).ravel()
            if e.shape != a.shape:
                raise Mismatch(f"{self.key}: {where}: '{name}' has {a.size} elements on the device, {e.size} on the host")
            bad = np.flatnonzero(e.astype(np.int64) != a.astype(np.int64))
            if bad.size:
                i = int(bad[0])
                raise Mismatch(f"{self.key}: {where}: first mismatch in '{name}' ({_layer_of(name)}) at index {i}: "
                               f"expected {int(e[i])}, device {int(a[i])} ({bad.size} elements differ)")

    def compare_logits(self, x, where: str):
        expected = self.method.predict(x)[0]
        actual = self.logits()
        bad = np.flatnonzero(expected.astype(np.int64) != actual.astype(np.int64))
        if bad.size:
            i = int(bad[0])
            raise Mismatch(f"{self.key}: {where}: first mismatch in logits at index {i}: expected {int(expected[i])}, "
                           f"device {int(actual[i])}")


def _layer_of(name: str) -> str:
    digits = "".join(ch for ch in name if ch.isdigit())
    return f"layer {digits}" if digits else "method state"


def open_device(method, firmware=None, clock_hz: int = memmap.CLOCK_HZ) -> DeviceMethod:
    """The device twin of a host method, with its firmware: the given ELF (checked), else the cached build."""
    return DeviceMethod(method, locate(method.qm.model, variant_of(method), firmware), clock_hz)
