"""`python -m priot.backbones`: check the shipped backbones; `--regenerate`: pretrain them again here."""

import sys

from priot import backbones, quant
from priot.errors import PriotError
from priot.recipe import default_backbones


def main(argv) -> int:
    try:
        if argv == ["--regenerate"]:
            backbones.regenerate(default_backbones())
            return 0
        if argv:
            print("usage: python -m priot.backbones [--regenerate]", file=sys.stderr)
            return 2
        for name, entry in backbones.manifest().items():
            qm = backbones.find(entry["config"])
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
