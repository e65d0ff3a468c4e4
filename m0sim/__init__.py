"""m0sim: a cycle-approximate Cortex-M0+ / RP2040 (Raspberry Pi Pico) emulator environment."""

from m0sim.errors import M0simError, InputError, FirmwareFault


def __getattr__(name):
    # Machine pulls in unicorn; keep `import m0sim.memmap` and friends light.
    if name == "Machine":
        from m0sim.machine import Machine
        return Machine
    raise AttributeError(name)


__all__ = ["Machine", "M0simError", "InputError", "FirmwareFault"]
