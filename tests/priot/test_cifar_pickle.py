"""CIFAR-10 batches are pickles from strangers: reading one must never run code, and every bad batch is one line."""

import os
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from priot import data, safepickle
from priot.errors import DataError

REPO = Path(__file__).resolve().parents[2]


def py2_batch(x, labels):
    """A batch as Python 2's cPickle wrote the real CIFAR-10 files: str as SHORT_BINSTRING, numpy.core paths."""
    s = lambda b: b"U" + bytes([len(b)]) + b  # noqa: E731
    n, w = x.shape
    out = b"\x80\x02}(" + s(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b") + b"\x87R"
    out += b"(K\x01M" + struct.pack("<H", n) + b"M" + struct.pack("<H", w) + b"\x86"
    out += b"cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R"
    out += b"(K\x03" + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    raw = x.tobytes()
    out += b"\x89T" + struct.pack("<I", len(raw)) + raw + b"tb"
    out += s(b"labels") + b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"eu."
    return out


class CreatesMarker:
    """Unpickling this object runs ``open(marker, 'w')``: the file existing afterwards means code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def write_batches(d, batch_1):
    """A train split whose first batch is ``batch_1`` (bytes) and whose other four are good."""
    rng = np.random.default_rng(0)
    (d / "data_batch_1").write_bytes(batch_1)
    for i in range(2, 6):
        good = {b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8), b"labels": [1, 2]}
        (d / f"data_batch_{i}").write_bytes(pickle.dumps(good, protocol=2))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_batches_of_every_protocol_and_key_kind_read(tmp_path, protocol):
    x = np.random.default_rng(protocol).integers(0, 256, (3, 3072), dtype=np.uint8)
    for data_key, labels_key in ((b"data", b"labels"), ("data", "labels")):  # Python 2 files: bytes keys
        obj = {data_key: x, labels_key: [0, 9, 4]}
        write_batches(tmp_path, pickle.dumps(obj, protocol=protocol))
        ds = data.load_dataset("cifar10", tmp_path)
        assert ds.labels[:3].tolist() == [0, 9, 4] and ds.images[0, 1, 2, 0] == x[0, 34]


def test_batch_as_python2_wrote_it_reads(tmp_path):
    x = np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072)
    write_batches(tmp_path, py2_batch(x, [7, 3]))
    ds = data.load_dataset("cifar10", tmp_path)
    assert ds.labels[:2].tolist() == [7, 3] and ds.images[1, 0, 0, 2] == x[1, 2048]


def test_malicious_batch_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    write_batches(tmp_path, pickle.dumps({b"data": CreatesMarker(marker), b"labels": [0]}))
    with pytest.raises(DataError, match=r"data_batch_1: not a CIFAR-10 python batch: refused global 'io.open'"):
        data.load_dataset("cifar10", tmp_path)
    assert not marker.exists()


def test_malicious_batch_in_the_cli_is_one_line_exit_2(cli, tmp_path):
    marker = tmp_path / "ran"
    write_batches(tmp_path, pickle.dumps({b"data": CreatesMarker(marker), b"labels": [0]}, protocol=2))
    proc = cli("run", "none", "--model", "vgg11_x0.25", "--dataset", "cifar10", "--data-path", tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "refused global 'io.open'" in proc.stderr
    assert not marker.exists()


@pytest.mark.parametrize("labels, says", [
    ([b"\x01", b"\x02"], "label 0 is bytes"),
    (["1", "2"], "label 0 is str"),
    ([None, 1], "label 0 is NoneType"),
    ([1, "2"], "label 1 is str"),
    ([1.0, float("nan")], "label 0 is float"),
    ([True, False], "label 0 is bool"),
    ([3, 10], r"label outside 0..9 \(found 3..10\)"),
    ([-1, 2], "label outside 0..9"),
    (np.array([1.0, np.nan]), "array of float64"),
    (np.array([1, 2, 3]), "2 images but 3 labels"),
    (None, "must be a list of integers 0..9, got NoneType"),
    (b"\x01\x02", "must be a list of integers 0..9, got bytes"),
])
def test_labels_of_the_wrong_kind_are_one_line(tmp_path, labels, says):
    x = np.zeros((2, 3072), np.uint8)
    write_batches(tmp_path, pickle.dumps({b"data": x, b"labels": labels}))
    with pytest.raises(DataError, match=says) as e:
        data.load_dataset("cifar10", tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("obj, says", [
    ([1, 2, 3], "with b'data' and b'labels'"),
    ({b"data": [[0] * 3072], b"labels": [0]}, "expected data uint8 \\[N,3072\\], got list"),
    ({b"data": np.zeros((1, 3072), np.int64), b"labels": [0]}, "got int64"),
])
def test_batches_of_the_wrong_shape_are_one_line(tmp_path, obj, says):
    write_batches(tmp_path, pickle.dumps(obj))
    with pytest.raises(DataError, match=says):
        data.load_dataset("cifar10", tmp_path)


@pytest.mark.parametrize("blob, says", [
    (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n(J\x00\x00\x00\x40tU\x01b\x87R.",
     "array reconstruction"),  # numpy would allocate the claimed 1 GiB shape
    (b"\x80\x02cnumpy\ndtype\nU\x01O\x85R.", "dtype 'O' is not a plain numeric type"),  # object arrays hold code
    (b"\x80\x02c_codecs\nencode\nU\x01aU\x05utf-8\x86R.", "_codecs.encode with bytes"),
    (b"\x80\x02ccopyreg\n_reconstructor\n.", "refused global 'copyreg._reconstructor'"),
    (b"\x80\x02(K\x01Q.", "refused persistent id"),
])
def test_numpy_globals_only_with_the_arguments_numpy_writes(blob, says):
    with pytest.raises(safepickle.UnsafePickle, match=says):
        safepickle.loads(blob)


def test_memo_index_does_not_allocate(tmp_path):
    """``LONG_BINPUT 2**25``: the C unpickler grows its memo array to 2**26 slots (512 MB touched); this one not."""
    blob = b"\x80\x02]r" + struct.pack("<I", 2 ** 25) + b"."
    # VmHWM: this process's peak RSS since its exec (ru_maxrss would carry over the forking pytest's own peak)
    code = ("import re, sys; from priot import safepickle; safepickle.loads(sys.stdin.buffer.read()); "
            "print(re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read())[1])")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, cwd=REPO, check=True)
    assert int(out.stdout) < 200_000, out.stderr  # kB: the interpreter with numpy is ~40 MB


# ---- fuzz: seeded mutations of good batches, with calls to code spliced in -------------------------------------

def _evil_globals(marker):
    """Pickle fragments that would create ``marker`` if any global they name were resolved."""
    m = str(marker).encode()
    return [b"cbuiltins\nopen\n(V" + m + b"\nVw\ntR", b"c__builtin__\nopen\n(V" + m + b"\nVw\ntR",
            b"cos\nsystem\n(Vtouch " + m + b"\ntR", b"\x8c\x08builtins\x8c\x04open\x93V" + m + b"\nVw\n\x86R",
            b"cnumpy\nsave\n(V" + m + b"\nK\x01tR"]


def _mutate(rng, good, evil):
    b = bytearray(good)
    for _ in range(rng.randint(1, 4)):
        op, at = rng.randrange(6), rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(at, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 6)))
        elif op == 2:
            del b[at:at + rng.randint(1, 16)]
        elif op == 3:
            b[at:at] = rng.choice(evil)
        elif op == 4:
            b = b[:at]
        else:  # a length or count field set to something huge
            b[at:at + 4] = struct.pack("<I", rng.choice([0xFFFFFFFF, 2 ** 31, 2 ** 28, 3072 * 50000]))
    return bytes(b)


def _fuzz(tmp_path, cases, seed):
    """Mutate in ``tmp_path`` (the current directory) with a relative marker, so that the cases are the same bytes
    whatever the temporary directory is called."""
    rng = random.Random(seed)
    marker = Path("ran")
    x = np.random.default_rng(seed).integers(0, 256, (2, 3072), dtype=np.uint8)
    goods = [pickle.dumps({b"data": x, b"labels": [1, 2]}, protocol=p) for p in (2, 4, 5)] + [py2_batch(x, [1, 2])]
    goods = [g[:200] + g[-200:] if len(g) > 1000 and i % 2 else g for i, g in enumerate(goods)]
    evil = _evil_globals(marker)
    outcomes = {"read": 0, "refused": 0}
    for _ in range(cases):
        (tmp_path / "test_batch").write_bytes(_mutate(rng, rng.choice(goods), evil))
        try:
            data.load_dataset("cifar10", tmp_path, split="test")
            outcomes["read"] += 1
        except DataError as e:
            assert "\n" not in str(e) and "test_batch" in str(e)
            outcomes["refused"] += 1
        assert not marker.exists()
    return outcomes


def test_fuzzed_batches_give_one_line_and_run_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = _fuzz(tmp_path, 300, seed=19)
    assert out["refused"] > 200


@pytest.mark.slow
def test_fuzzed_batches_many(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = _fuzz(tmp_path, 5000, seed=1919)
    assert out["refused"] > 3000
