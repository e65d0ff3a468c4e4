"""Model definitions as data: a list of layer specs plus the input shape.

Layout is HWC everywhere (activations [H, W, C], batch first when batched). Parameter shapes:
conv3x3 weights [Cout, 3, 3, Cin] (OHWI, as CMSIS-NN), stride 1, zero padding 1 ('same');
dense weights [Cout, Cin] where the input is the HWC tensor flattened row-major (h, w, c).
maxpool is 2x2 stride 2. Adding a network is adding a factory to ``MODELS`` (the tiny CNN, VGG11).

Every factory takes a width factor that multiplies its channel counts; a model's name carries the width
(``tiny_cnn``, ``tiny_cnn_x2``, ``vgg11_x0.25``), so a name alone rebuilds the model (caches, firmware names).
"""

from dataclasses import dataclass

from priot.errors import ConfigError


@dataclass(frozen=True)
class Conv3x3:
    cin: int
    cout: int


@dataclass(frozen=True)
class ReLU:
    pass


@dataclass(frozen=True)
class MaxPool2:
    pass


@dataclass(frozen=True)
class Dense:
    cin: int
    cout: int


PARAM_LAYERS = (Conv3x3, Dense)


@dataclass(frozen=True)
class ModelDef:
    """A named stack of layers over an input of shape (H, W, C)."""

    name: str
    input_shape: tuple
    layers: tuple

    def param_indices(self):
        """Positions of the layers that own weights, in order."""
        return [i for i, l in enumerate(self.layers) if isinstance(l, PARAM_LAYERS)]

    def shapes(self):
        """Activation shape (H, W, C) after every layer; raises on inconsistent definitions."""
        h, w, c = self.input_shape
        out = []
        for l in self.layers:
            if isinstance(l, Conv3x3):
                if l.cin != c:
                    raise ConfigError(f"{self.name}: conv expects {l.cin} channels, gets {c}")
                c = l.cout
            elif isinstance(l, MaxPool2):
                if h % 2 or w % 2:
                    raise ConfigError(f"{self.name}: maxpool on odd size {h}x{w}")
                h, w = h // 2, w // 2
            elif isinstance(l, Dense):
                if l.cin != h * w * c:
                    raise ConfigError(f"{self.name}: dense expects {l.cin} inputs, gets {h * w * c}")
                h, w, c = 1, 1, l.cout
            out.append((h, w, c))
        return out


def weight_shape(layer):
    """Weight array shape of a parameter layer."""
    if isinstance(layer, Conv3x3):
        return (layer.cout, 3, 3, layer.cin)
    return (layer.cout, layer.cin)


def channels(base: int, width: float) -> int:
    """A channel count scaled by the width factor (at least one channel)."""
    return max(1, int(round(base * width)))


def model_name(base: str, width: float) -> str:
    """``base`` at width 1, else ``base_x<width>``: the name that keys caches and firmware files."""
    return base if width == 1 else f"{base}_x{width:g}"


def tiny_cnn(width: float = 1):
    """28x28x1 -> 10: conv 1->8, pool, conv 8->16, pool, dense 784->10 (9,064 weights at width 1).

    Small enough that int8 weights (9 KB), int16 scores (18 KB) and the int8 activations kept
    for the backward pass (~8 KB) fit a Pico's 264 KB SRAM with room to spare, and the float
    probe in DESIGN.md shows it reaches 95% upright. ``width`` scales both conv layers' channels.
    """
    c1, c2 = channels(8, width), channels(16, width)
    return ModelDef(model_name("tiny_cnn", width), (28, 28, 1), (
        Conv3x3(1, c1), ReLU(), MaxPool2(),
        Conv3x3(c1, c2), ReLU(), MaxPool2(),
        Dense(7 * 7 * c2, 10),
    ))


VGG11_PLAN = (64, "pool", 128, "pool", 256, 256, "pool", 512, 512, "pool", 512, 512, "pool")


def vgg11(width: float = 1):
    """32x32x3 -> 10, VGG11 in its CIFAR form: 8 conv3x3+ReLU, 5 max-pools down to 1x1, dense 512->10.

    Channels 64-128-256-256-512-512-512-512 times ``width`` (9.23 M weights at width 1; the Pico-sized
    width is computed from the flash budget in ``priot.device.fit``). Grayscale data is fed as three
    equal channels (``priot.data.fit_to``), so one definition serves CIFAR-10 and Fashion-MNIST.
    """
    layers, c = [], 3
    for item in VGG11_PLAN:
        if item == "pool":
            layers.append(MaxPool2())
            continue
        co = channels(item, width)
        layers += [Conv3x3(c, co), ReLU()]
        c = co
    return ModelDef(model_name("vgg11", width), (32, 32, 3), tuple(layers) + (Dense(c, 10),))


MODELS = {"tiny_cnn": tiny_cnn, "vgg11": vgg11}


def split_name(name):
    """(registry name, width or None) of a model name: ``vgg11_x0.25`` -> ("vgg11", 0.25), ``vgg11`` -> ("vgg11", None)."""
    if name not in MODELS and "_x" in name:
        base, _, tail = name.rpartition("_x")
        try:
            return base, float(tail)
        except ValueError:
            pass
    return name, None


def get_model(name, width=None):
    """Model definition by registry name and width, or by a full name such as ``tiny_cnn_x2``."""
    base, w = split_name(name)
    w = 1.0 if w is None else w
    if base not in MODELS:
        raise ConfigError(f"unknown model {name!r} (have {', '.join(MODELS)})")
    w = w if width is None else float(width)
    if not (w > 0 and w < 1e3):
        raise ConfigError(f"model width must be a positive number, got {w!r}")
    return MODELS[base](w)
