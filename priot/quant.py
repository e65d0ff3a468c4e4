"""Static int8 quantization with power-of-two scales, calibration of every shift, and the cache.

Weights: symmetric int8 in [-127, 127] with exponent ``w_exp = floor(log2(127 / max|W|))``
(value = q * 2^-w_exp), round to nearest even. Bias: int32 at exponent ``w_exp + act_exp``.
Input: exponent 7 (x = pixel >> 1). Each layer's output exponent is
``floor(log2(127 / max|y|))`` over the float model's outputs on the calibration set, and
``out_shift = w_exp + act_exp - out_exp`` (at least 0). Backward shifts ``bwd_shift`` are the
smallest that fit the largest input-gradient accumulator of an integer backward pass over the
calibration set into int8, and ``grad_shift`` brings the largest per-sample weight-gradient
accumulator into int16 (so gradient * weight fits int32 with room: 2^15 * 2^7 = 2^22).
Calibration uses upright (pre-training) images only: the device never sees rotated data first.
The float parameters a backbone was quantized from are cached beside it (``float-<backbone file>``),
for the float fine-tuning reference; a backbone knows how to get them (``QuantModel.pretrained``).
"""

import functools
import hashlib
import io
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m0sim import cache, cachefile
from priot import pretrain, ref
from priot.errors import ConfigError, DataError, PriotError
from priot.intmath import INT32_MAX, bitlen, sat_w8
from priot.models import get_model

FORMAT_VERSION = 1
IN_EXP = 7


@dataclass
class QuantModel:
    """An int8 backbone: frozen weights, biases, exponents and every static shift."""

    model: object
    weights: list      # int8 [Cout, ...] per parameter layer
    biases: list       # int32 [Cout]
    w_exp: list        # int: weight exponents
    act_exp: list      # int: static exponent of each parameter layer's input
    out_shift: list    # int: forward requantization shift per parameter layer
    bwd_shift: list    # int: input-gradient shift per parameter layer (layer 0 unused: 0)
    grad_shift: list   # int: weight-gradient accumulator -> int16 shift per parameter layer
    logit_exp: int
    exp_table: np.ndarray  # int32 [256], Q14

    in_exp: int = IN_EXP
    pretrained: object = None  # () -> the float params [(W, b)] this backbone came from (None: unknown)

    def arrays(self):
        """Every integer constant by name (what the device image holds)."""
        out = {"exp_table": self.exp_table}
        for j, (w, b) in enumerate(zip(self.weights, self.biases)):
            out[f"w{j}"], out[f"b{j}"] = w, b
        for k in ("w_exp", "act_exp", "out_shift", "bwd_shift", "grad_shift"):
            out[k] = np.asarray(getattr(self, k), dtype=np.int32)
        out["logit_exp"] = np.asarray([self.logit_exp], dtype=np.int32)
        return out


def quantize_weights(w):
    """float W -> (int8 q, exponent) with the largest |W| mapped to at most 127."""
    m = float(np.abs(w).max())
    if m == 0:
        return np.zeros(w.shape, np.int8), 0
    e = int(np.floor(np.log2(127.0 / m)))
    return sat_w8(np.rint(w.astype(np.float64) * 2.0 ** e)), e


def _exponent_for(m, bits=7):
    """Largest e with m * 2^e <= 2^bits - 1 (power-of-two scale for a calibrated maximum)."""
    return int(np.floor(np.log2((2 ** bits - 1) / m))) if m > 0 else 0


def quantize(model, params, calib_images, calib_labels):
    """Quantize float params and calibrate every shift on upright calibration images."""
    taps = []
    pretrain.forward(model, params, pretrain.input_float(calib_images), taps=taps)
    ws, bs, wexp, aexp, oshift = [], [], [], [], []
    f = IN_EXP
    for j, ((w, b), y) in enumerate(zip(params, taps)):
        q, e = quantize_weights(w)
        bq = np.rint(b.astype(np.float64) * 2.0 ** (e + f))
        if np.abs(bq).max(initial=0) > INT32_MAX:
            raise ConfigError(f"bias of layer {j} does not fit int32 at exponent {e + f}")
        fy = min(_exponent_for(float(np.abs(y).max())), e + f)
        ws.append(q), bs.append(bq.astype(np.int32)), wexp.append(e), aexp.append(f)
        oshift.append(e + f - fy)
        f = fy
    n = len(ws)
    qm = QuantModel(model, ws, bs, wexp, aexp, oshift, [0] * n, [0] * n, f, ref.exp_table(f))
    # backward: a dynamic pass over the whole calibration batch picks each stage's static shift
    logits, tr = ref.forward(qm, ref.to_input(calib_images))
    grads, shifts, _ = ref.backward(qm, tr, ref.loss_grad(qm, logits, calib_labels), dynamic=True)
    qm.bwd_shift = [s or 0 for s in shifts]
    qm.grad_shift = [max(0, bitlen(int(np.abs(g.astype(np.int64)).max())) - 15) for g in grads]
    return qm


def cache_dir():
    """$M0SIM_CACHE, else ~/.cache/m0sim (m0sim.cache: one rule for every cached file)."""
    return cache.root()


def _key(cfg):
    """Stable file name for a backbone configuration."""
    h = hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]
    return f"backbone-{cfg['model']}-{cfg['dataset']}-s{cfg['seed']}-{h}.npz"


def save(qm, path, cfg):
    """Write the quantized backbone (integer arrays + config JSON) atomically: a unique temporary file in the
    cache directory, then a rename (concurrent writers never share a file; TMPDIR plays no part)."""
    _save_npz(path, cfg, qm.arrays())


def _save_npz(path, cfg, arrays):
    buf = io.BytesIO()
    np.savez(buf, config=np.frombuffer(json.dumps(cfg, sort_keys=True).encode(), np.uint8), **arrays)
    cachefile.write_bytes(path, buf.getvalue())


def load(path):
    """Read a backbone written by ``save``; returns (QuantModel, config). A damaged file raises DataError."""
    try:
        with np.load(path) as z:
            cfg = json.loads(bytes(z["config"]).decode())
            model = get_model(cfg["model"])
            n = len(model.param_indices())
            lists = {k: [int(v) for v in z[k]] for k in ("w_exp", "act_exp", "out_shift", "bwd_shift", "grad_shift")}
            qm = QuantModel(model, [z[f"w{j}"] for j in range(n)], [z[f"b{j}"] for j in range(n)],
                            lists["w_exp"], lists["act_exp"], lists["out_shift"], lists["bwd_shift"],
                            lists["grad_shift"], int(z["logit_exp"][0]), z["exp_table"])
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile,
            UnicodeDecodeError, PriotError) as exc:
        raise DataError(f"{path}: not a readable backbone ({type(exc).__name__}: {exc})") from None
    for j, (w, b) in enumerate(zip(qm.weights, qm.biases)):
        if w.dtype != np.int8 or b.dtype != np.int32 or w.shape[:1] != b.shape:
            raise DataError(f"{path}: layer {j} holds {w.dtype} {w.shape} weights and {b.dtype} {b.shape} biases")
    return qm, cfg


def _float_path(path):
    return path.with_name("float-" + path.name)


def _pretrain(pre, cfg, rng_seed):
    """Float pretraining for a backbone configuration (deterministic: same cfg and seed, same bits)."""
    return pretrain.pretrain(get_model(cfg["model"]), pre.images, pre.labels, np.random.default_rng(rng_seed),
                             epochs=cfg["epochs"], **({"lr": cfg["lr"]} if "lr" in cfg else {}))


def _save_float(params, path, cfg):
    _save_npz(path, cfg, {f"{k}{j}": a for j, (w, b) in enumerate(params) for k, a in (("w", w), ("b", b))})


def float_params(pre, cfg, rng_seed, cache=None):
    """The float parameters the backbone for ``cfg`` is quantized from: cached beside it (in ``cache``,
    default ``cache_dir()``), else pretrained again (deterministic on one machine) and cached."""
    cfg = full_config(cfg, rng_seed)
    path = _float_path(Path(cache or cache_dir()) / _key(cfg))
    cachefile.refuse_directory(path, "backbone cache file")
    n = len(get_model(cfg["model"]).param_indices())
    if path.is_file():
        try:
            with np.load(path) as z:
                if json.loads(bytes(z["config"]).decode()) == json.loads(json.dumps(cfg, sort_keys=True)):
                    return [[z[f"w{j}"], z[f"b{j}"]] for j in range(n)]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            pass  # unreadable or foreign cache entry: rebuild it below
    params = _pretrain(pre, cfg, rng_seed)
    _save_float(params, path, cfg)
    return params


def fingerprint(qm) -> str:
    """SHA-256 of every integer constant of a backbone (names, dtypes, shapes, bytes): equal iff the same bits."""
    h = hashlib.sha256()
    for name, a in sorted(qm.arrays().items()):
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def full_config(cfg, rng_seed):
    """The configuration that keys a backbone: the recipe with FORMAT_VERSION and the pretraining seed."""
    return dict(cfg, version=FORMAT_VERSION, rng_seed=int(rng_seed))


def pretrained(pre, cfg):
    """Pretrain on upright ``pre`` and quantize, for a full config. The float pretraining's last bits depend on
    the CPU (BLAS and numpy pick kernels by CPU), hence the shipped backbones (priot.backbones)."""
    model = get_model(cfg["model"])
    params = _pretrain(pre, cfg, cfg["rng_seed"])
    calib = pre.subset(np.arange(min(cfg["n_calib"], len(pre))))
    return quantize(model, params, calib.images, calib.labels)


def float_source(pre, cfg, rng_seed):
    """A backbone's ``pretrained``: its float parameters on demand (``float_params``, cached)."""
    return functools.partial(float_params, pre, dict(cfg), rng_seed, cache_dir())


def backbone(pre, cfg, rng_seed):
    """The quantized backbone for ``cfg``: the cached one, else pretrained on upright ``pre`` and cached
    (``priot.backbones.backbone`` first looks among the shipped ones).

    ``cfg`` holds model, dataset, seed, epochs, n_pretrain, n_calib (and lr when not pretrain's default); it keys
    the cache together with FORMAT_VERSION, so a changed recipe never reuses a stale file.
    """
    source = float_source(pre, cfg, rng_seed)
    cfg = full_config(cfg, rng_seed)
    path = cache_dir() / _key(cfg)
    for entry in (path, _float_path(path)):  # before pretraining, not at the rename after it
        cachefile.refuse_directory(entry, "backbone cache file")
    if path.is_file():
        try:
            qm = load(path)[0]
            qm.pretrained = source
            return qm
        except DataError as exc:  # damaged cache entry (a crash, a full disk): rebuild it below
            print(f"priot: {exc}; rebuilding it", file=sys.stderr)
    model = get_model(cfg["model"])
    params = _pretrain(pre, cfg, rng_seed)
    calib = pre.subset(np.arange(min(cfg["n_calib"], len(pre))))
    qm = quantize(model, params, calib.images, calib.labels)
    save(qm, path, cfg)
    _save_float(params, _float_path(path), cfg)
    qm.pretrained = source
    return qm
