"""The study's backbones, shipped as data: the same int8 bits on every machine.

Float pretraining is not bit-reproducible across CPUs (OpenBLAS and numpy choose their kernels by CPU), and an
exact-integer or fixed-order pretraining would change the shipped tiny CNN's bits; so the quantized backbone of
every seed and width the study and the default runs use (``priot.recipe.default_backbones``) is generated once
and shipped here, each listed in `manifest.json` with its configuration, the fingerprint of its integer arrays
(``quant.fingerprint``) and, when its file is shipped, the file's SHA-256. `backbone` uses a shipped file whenever
the requested configuration is one of these; an entry listed without a file is pretrained here and must come out
with the listed fingerprint. Any mismatch is refused with one line (``DataError``): the numbers would not be the
published ones. `python -m priot.backbones --regenerate` pretrains them again (on this machine's CPU, reusing the
cache) and rewrites the files and the manifest; `--add-missing` pretrains only those the manifest lacks.
"""

import hashlib
import json
from pathlib import Path

from m0sim import cachefile
from priot import quant
from priot.errors import DataError

HERE = Path(__file__).parent
MANIFEST = HERE / "manifest.json"
REGENERATE = "python -m priot.backbones --regenerate"


def manifest() -> dict:
    """file name -> {"fingerprint": of its arrays, "config": the full config, "sha256": of the file when shipped}."""
    if not MANIFEST.is_file():
        return {}
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{MANIFEST}: unreadable ({exc}); reinstall, or run `{REGENERATE}`") from None


def entry(cfg) -> dict | None:
    """The manifest entry of a full config (`quant.full_config`), or None when it is not one of the listed."""
    found = manifest().get(quant._key(cfg))
    if found is None or found.get("config") != json.loads(json.dumps(cfg)):
        return None
    return found


def check(qm, cfg, where) -> None:
    """Refuse a backbone whose integer arrays differ from the manifest's fingerprint for ``cfg`` (if listed)."""
    listed = entry(cfg)
    if listed is None:
        return
    got = quant.fingerprint(qm)
    if got != listed["fingerprint"]:
        raise DataError(f"{where}: backbone fingerprint {got[:12]}... differs from the manifest's "
                        f"{listed['fingerprint'][:12]}... for {quant._key(cfg)} (this CPU's float pretraining gives "
                        f"other bits, or the file changed); reinstall the shipped backbones, or run `{REGENERATE}`")


def find(cfg):
    """The shipped QuantModel for a full config, or None when no file of it is shipped."""
    listed = entry(cfg)
    if listed is None or "sha256" not in listed:
        return None
    path = HERE / quant._key(cfg)
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DataError(f"{path}: shipped backbone missing ({exc.strerror}); reinstall, or run `{REGENERATE}`") \
            from None
    if digest != listed["sha256"]:
        raise DataError(f"{path}: shipped backbone damaged (SHA-256 {digest[:12]}..., manifest "
                        f"{listed['sha256'][:12]}...); reinstall, or run `{REGENERATE}`")
    qm = quant.load(path)[0]
    check(qm, cfg, path)
    return qm


def backbone(pre, cfg, rng_seed):
    """The quantized backbone for ``cfg`` (``quant.backbone``'s arguments): the shipped one when it is a default
    (the same bits on every machine), else ``quant.backbone`` (cached, or pretrained on upright ``pre``), checked
    against the manifest's fingerprint when the configuration is listed there."""
    full = quant.full_config(cfg, rng_seed)
    shipped = find(full)
    if shipped is None:
        qm = quant.backbone(pre, cfg, rng_seed)
        check(qm, full, f"{quant.cache_dir() / quant._key(full)}")
        return qm
    shipped.pretrained = quant.float_source(pre, cfg, rng_seed)  # pretrained here: its last bits vary by CPU
    return shipped


def regenerate(defaults, missing_only=False, echo=print) -> dict:
    """Pretrain the default backbones, ``defaults`` = [(full config, () -> its upright pretraining split)], on this
    machine (the cached one when there is one: pretrained here too), ship their files and rewrite the manifest
    after each (so an interrupted run keeps what it made); the manifest lists defaults only. ``missing_only``:
    only those it does not list yet."""
    names = {quant._key(cfg) for cfg, _ in defaults}
    # --add-missing keeps every listed entry (a subset of defaults must not drop the others' lines)
    entries = {n: e for n, e in manifest().items() if n in names or missing_only}
    for cfg, pre in defaults:
        name = quant._key(cfg)
        if missing_only and entry(cfg) is not None:
            continue
        base = {k: v for k, v in cfg.items() if k not in ("version", "rng_seed")}
        qm = quant.backbone(pre(), base, cfg["rng_seed"])
        quant.save(qm, HERE / name, cfg)
        entries[name] = {"fingerprint": quant.fingerprint(qm), "config": cfg,
                         "sha256": hashlib.sha256((HERE / name).read_bytes()).hexdigest()}
        echo(f"{name}: fingerprint {entries[name]['fingerprint']}")
        cachefile.write_text(MANIFEST, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return entries
