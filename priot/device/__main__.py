"""`python -m priot.device` (`make kernels`): build the default firmware variants and the MAC harness of
`m0sim run cost` into the cache."""

from priot.device.firmware import build_defaults
from priot.device.macs import harness

if __name__ == "__main__":
    for elf in [*build_defaults(), harness()]:
        print(f"firmware {elf}")
