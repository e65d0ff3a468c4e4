import gzip
import pickle
import struct

import numpy as np
import pytest

from priot import data
from priot.errors import DataError


def write_idx(path, arr, magic_type=0x08):
    raw = struct.pack(">HBB", 0, magic_type, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def make_idx_dir(d, n=5, gz=False, prefix="train"):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n, dtype=np.uint8)
    ext = ".gz" if gz else ""
    write_idx(d / f"{prefix}-images-idx3-ubyte{ext}", x)
    write_idx(d / f"{prefix}-labels-idx1-ubyte{ext}", y)
    return x, y


@pytest.mark.parametrize("gz", [False, True])
def test_idx_reader_plain_and_gz(tmp_path, gz):
    x, y = make_idx_dir(tmp_path, gz=gz)
    ds = data.load_dataset("fashion", tmp_path)
    assert ds.images.shape == (5, 28, 28, 1) and ds.images.dtype == np.uint8
    assert (ds.images[..., 0] == x).all() and (ds.labels == y).all()
    t = make_idx_dir(tmp_path, n=3, prefix="t10k")
    assert (data.load_dataset("mnist", tmp_path, split="test").labels == t[1]).all()


def test_idx_truncated_names_file(tmp_path):
    make_idx_dir(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*expected 3920 data bytes"):
        data.load_dataset("fashion", tmp_path)


def test_idx_bad_magic_and_label_count(tmp_path):
    make_idx_dir(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((5, 28, 28), np.uint8), magic_type=0x0D)
    with pytest.raises(DataError, match="not an IDX ubyte file"):
        data.load_dataset("fashion", tmp_path)
    make_idx_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="4 labels for 5 images"):
        data.load_dataset("fashion", tmp_path)


def test_missing_files_and_bad_gzip(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        data.load_dataset("fashion", tmp_path / "nowhere")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"")
    with pytest.raises(DataError, match="cannot read"):
        data.load_dataset("fashion", tmp_path)
    with pytest.raises(DataError, match="give the path"):
        data.load_dataset("cifar10")
    with pytest.raises(DataError, match="unknown dataset"):
        data.load_dataset("svhn")


def test_mnist_npz(tmp_path):
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=np.ones((4, 28, 28), np.uint8), y_train=np.arange(4, dtype=np.uint8),
             x_test=np.zeros((2, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    ds = data.load_dataset("mnist", p)
    assert ds.images.shape == (4, 28, 28, 1) and ds.labels.tolist() == [0, 1, 2, 3]
    np.savez(p, x_train=np.ones((4, 27, 28), np.uint8), y_train=np.arange(4))
    with pytest.raises(DataError, match=r"mnist.npz: expected x_train \[N,28,28\]"):
        data.load_dataset("mnist", p)


def write_cifar(d, n_per=3, bad=None):
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (n_per, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n_per).tolist()
        batches[name] = (x, y)
        obj = {b"data": x if name != bad else x[:, :100], b"labels": y}
        (d / name).write_bytes(pickle.dumps(obj))
    return batches


def test_cifar_reader_layout(tmp_path):
    b = write_cifar(tmp_path)
    ds = data.load_dataset("cifar10", tmp_path)
    assert ds.images.shape == (15, 32, 32, 3)
    x0 = b["data_batch_1"][0][0]
    # HWC: pixel (r, c) channel k comes from x0[k * 1024 + r * 32 + c]
    assert ds.images[0, 2, 5, 1] == x0[1024 + 2 * 32 + 5]
    te = data.load_dataset("cifar10", tmp_path, split="test")
    assert te.labels.tolist() == b["test_batch"][1]


def test_cifar_reader_rejects_bad_batches(tmp_path):
    write_cifar(tmp_path, bad="data_batch_3")
    with pytest.raises(DataError, match=r"data_batch_3: expected data uint8 \[N,3072\]"):
        data.load_dataset("cifar10", tmp_path)
    (tmp_path / "data_batch_3").write_bytes(b"\x80\x04garbage")
    with pytest.raises(DataError, match="data_batch_3: not a CIFAR-10 python batch"):
        data.load_dataset("cifar10", tmp_path)


def test_embedded_mnist5k(mnist5k):
    assert mnist5k.images.shape == (5000, 28, 28, 1)
    assert np.bincount(mnist5k.labels).tolist() == [500] * 10
    assert mnist5k.images.max() == 255


def test_csv_wrong_columns(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="m.csv: expected rows of 785 columns"):
        data.load_mnist_csv(p)
