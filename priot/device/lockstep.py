"""The device and its numpy twin trained together, one sample at a time, compared bit for bit.

Every on-device training run (``m0sim run NAME``, the study's ``--device`` cells) goes through ``train``: the
method learns the run's length (schedules that depend on it, NITI's mu), then for every sample of every epoch
the device steps and the host model steps; the training state is compared every ``every`` steps and at each
epoch end (``Mismatch`` names the first differing element); after each epoch the host's learning-rate schedule
is mirrored into the device.
"""

import time
from contextlib import nullcontext
from dataclasses import dataclass, field


@dataclass
class Epoch:
    """One epoch of a lockstep run: every step's device result, the samples the device got right, the host
    seconds spent emulating, and how many state comparisons passed so far (the run's running count)."""

    number: int
    results: list = field(default_factory=list)
    correct: int = 0
    emulated_seconds: float = 0.0
    compared: int = 0


def train(dev, x, labels, orders, every: int = 0, where: str = "", progress=None):
    """Train ``dev.method`` and ``dev`` on int8 samples ``x`` in ``orders`` (one index array per epoch); yields
    an ``Epoch`` after each. ``every``: compare state every N steps (0: only at epoch ends); ``where`` prefixes
    the places a mismatch names; ``progress(epoch, order)``: a context manager giving the order to iterate (a
    progress bar)."""
    method = dev.method
    start = method.lr_shift
    method.begin(len(orders))  # before the first step, as priot.train does
    if method.lr_shift is not None and method.lr_shift != start:
        dev.set_lr_shift(method.lr_shift)
    steps = compared = 0
    for e, order in enumerate(orders, 1):
        ep = Epoch(e)
        with (progress(e, order) if progress else nullcontext(order)) as samples:
            for i in samples:
                t0 = time.perf_counter()
                r = dev.step(x[i], int(labels[i]))
                ep.emulated_seconds += time.perf_counter() - t0
                method.step(x[i], int(labels[i]))
                steps += 1
                ep.results.append(r)
                ep.correct += int(r.predicted == labels[i])
                if every and steps % every == 0:
                    dev.compare(f"{where}epoch {e}, step {steps}")
                    compared += 1
        dev.compare(f"{where}end of epoch {e}")
        compared += 1
        method.end_epoch()
        if method.lr_shift is not None:
            dev.set_lr_shift(method.lr_shift)
        ep.compared = compared
        yield ep


def evaluate(dev, x, labels):
    """(device accuracy, host accuracy) on int8 inputs; the last sample's logits are checked element by element."""
    correct = 0
    for i in range(len(x)):
        correct += int(dev.infer(x[i]).predicted == labels[i])
    host = dev.method.predict(x)
    dev.compare_logits(x[-1], "test-set inference")
    return correct / len(x), float((host.argmax(1) == labels).mean())


__all__ = ["Epoch", "train", "evaluate"]
