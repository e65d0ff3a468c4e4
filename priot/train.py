"""The on-device training loop and evaluation, identical for every method."""

from priot import ref


def epoch_orders(n, epochs, rng):
    """Sample order for each epoch (drawn once, so every method sees the same sequence)."""
    return [rng.permutation(n) for _ in range(epochs)]


def train(method, images, labels, orders, decay=True):
    """Run ``method.step`` over the samples in ``orders`` (one array per epoch).

    With ``decay`` the method is told the run's length first (``begin``) and follows its schedule after
    every epoch (``end_epoch``: halve the learning rate; NITI's mu steps). Returns the running training accuracy.
    """
    x = ref.to_input(images)
    if decay:
        method.begin(len(orders))
    correct = total = 0
    for order in orders:
        for i in order:
            correct += method.step(x[i], int(labels[i]))["correct"]
            total += 1
        if decay:
            method.end_epoch()
    return correct / max(total, 1)


def accuracy(method, images, labels):
    """Top-1 accuracy of the method's integer predictions."""
    return float((method.predict(ref.to_input(images)).argmax(1) == labels).mean())
