"""The default backbones, shipped as data: the same int8 bits on every machine.

Float pretraining is not bit-reproducible across CPUs (OpenBLAS and numpy choose their kernels by CPU), so the
quantized backbones of the default experiments are generated once and shipped here, each file listed in
`manifest.json` with its SHA-256 and the fingerprint of its integer arrays.  `backbone` uses a shipped file
whenever the requested configuration is exactly one of these (else `quant.backbone`: cached or pretrained);
`python -m priot.backbones --regenerate` pretrains them again (on this machine's CPU) and rewrites the files
and the manifest.
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
    """file name -> {"sha256": of the file, "fingerprint": of its arrays, "config": the full config}."""
    if not MANIFEST.is_file():
        return {}
    try:
        return json.loads(MANIFEST.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{MANIFEST}: unreadable ({exc}); reinstall, or run `{REGENERATE}`") from None


def find(cfg):
    """The shipped QuantModel for a full config (`quant.full_config`), or None when it is not a default."""
    name = quant._key(cfg)
    entry = manifest().get(name)
    if entry is None or entry.get("config") != json.loads(json.dumps(cfg)):
        return None
    path = HERE / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise DataError(f"{path}: shipped backbone missing ({exc.strerror}); reinstall, or run `{REGENERATE}`") \
            from None
    if digest != entry["sha256"]:
        raise DataError(f"{path}: shipped backbone damaged (SHA-256 {digest[:12]}..., manifest "
                        f"{entry['sha256'][:12]}...); reinstall, or run `{REGENERATE}`")
    return quant.load(path)[0]


def backbone(pre, cfg, rng_seed):
    """The quantized backbone for ``cfg`` (``quant.backbone``'s arguments): the shipped one when it is a default
    (the same bits on every machine), else ``quant.backbone`` (cached, or pretrained on upright ``pre``)."""
    shipped = find(quant.full_config(cfg, rng_seed))
    if shipped is None:
        return quant.backbone(pre, cfg, rng_seed)
    shipped.pretrained = quant.float_source(pre, cfg, rng_seed)  # pretrained here: its last bits vary by CPU
    return shipped


def regenerate(defaults, echo=print) -> dict:
    """Pretrain every default backbone, ``defaults`` = [(full config, upright pretraining split)], on this
    machine and rewrite the shipped files and the manifest."""
    entries = {}
    for cfg, pre in defaults:
        name = quant._key(cfg)
        qm = quant.pretrained(pre, cfg)
        quant.save(qm, HERE / name, cfg)
        entries[name] = {"sha256": hashlib.sha256((HERE / name).read_bytes()).hexdigest(),
                         "fingerprint": quant.fingerprint(qm), "config": cfg}
        echo(f"{name}: fingerprint {entries[name]['fingerprint']}")
    cachefile.write_text(MANIFEST, json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return entries
