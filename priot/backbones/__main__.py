"""`python -m priot.backbones`: check the shipped backbones (exit 1 on a mismatch, 2 on an error); `--regenerate`:
pretrain them again here; `--add-missing`: pretrain those of ``priot.recipe.SHIPPED`` the manifest lacks."""

import sys

from priot import backbones, quant
from priot.errors import PriotError
from priot.recipe import default_backbones


def main(argv) -> int:
    try:
        if argv in (["--regenerate"], ["--add-missing"]):
            backbones.regenerate(default_backbones(), missing_only=argv == ["--add-missing"])
            return 0
        if argv:
            print("usage: python -m priot.backbones [--regenerate | --add-missing]", file=sys.stderr)
            return 2
        for name, entry in backbones.manifest().items():
            if "sha256" not in entry:
                print(f"{name}: listed, pretrained on use (fingerprint {entry['fingerprint'][:16]}...)")
                continue
            qm = backbones.find(entry["config"])  # a damaged file or another fingerprint: DataError
            ok = qm is not None and quant.fingerprint(qm) == entry["fingerprint"]
            print(f"{name}: {'ok' if ok else 'MISMATCH'} (fingerprint {entry['fingerprint'][:16]}...)")
            if not ok:
                return 1
        return 0
    except PriotError as exc:
        print(f"priot.backbones: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
