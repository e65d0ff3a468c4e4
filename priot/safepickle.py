"""A pickle reader for data files that can never run code.

CIFAR-10's python batches are pickles, and an ordinary unpickler calls whatever global a file names (a crafted
batch could run any command). This reader resolves only the handful of globals numpy writes when it pickles a
plain numeric array (numpy 1.x ``numpy.core`` and 2.x ``numpy._core`` paths, pickle protocols 2 to 5) and checks
their arguments, so it builds nothing but dicts, lists, tuples, bytes, str, numbers and numeric ndarrays.
It is the pure-Python unpickler on purpose: its memo is a dict, so a ``LONG_BINPUT 0xffffffff`` cannot make it
allocate gigabytes as the C unpickler's memo array would.
"""

import io
import pickle

import numpy as np

NUMERIC_KINDS = "biuf"  # booleans, signed/unsigned integers, floats: never objects, strings or structures


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names a global or argument that a plain numeric batch never holds."""


def _numeric_dtype(spec, align=False, copy=True):
    """``numpy.dtype(spec, align, copy)`` for a plain numeric type only, always a fresh copy (the pickle's
    ``__setstate__`` then changes that copy, never numpy's shared builtin descriptor)."""
    if isinstance(spec, bytes):
        spec = spec.decode("ascii", "replace")
    if not isinstance(spec, str) or len(spec) > 8:
        raise UnsafePickle(f"dtype {spec!r:.40} is not a plain numeric type")
    try:
        dt = np.dtype(spec, False, True)
    except TypeError:
        raise UnsafePickle(f"dtype {spec!r:.40} is not a numpy type") from None
    if dt.kind not in NUMERIC_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise UnsafePickle(f"dtype {spec!r:.40} is not a plain numeric type")
    return dt


def _empty_array(cls, shape, typecode):
    """``numpy.core.multiarray._reconstruct``: numpy always writes an empty 1-D array that ``__setstate__`` fills."""
    if cls is not np.ndarray or tuple(shape) != (0,) or typecode not in ("b", b"b"):
        raise UnsafePickle(f"array reconstruction with {cls!r:.40}, shape {shape!r:.40}, type {typecode!r:.40}")
    return np.empty(0, np.uint8)


def _array_from_buffer(buf, dtype, shape, order="C"):
    """``numpy.core.numeric._frombuffer`` (protocol 5): an in-band buffer viewed with a checked dtype and shape."""
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype) or dtype.kind not in NUMERIC_KINDS:
        raise UnsafePickle("array buffer that is not plain bytes of a numeric type")
    if not isinstance(shape, tuple) or not all(type(n) is int for n in shape) or order not in ("C", "F"):
        raise UnsafePickle(f"array shape {shape!r:.40} or order {order!r:.40}")
    return np.frombuffer(bytes(buf), dtype).reshape(shape, order=order)


def _latin1_bytes(text, encoding):
    """``_codecs.encode(text, 'latin1')``: how Python 3 writes bytes at protocol 2 (numpy's raw data)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickle(f"_codecs.encode with {type(text).__name__} and {encoding!r:.40}")
    return text.encode("latin1")


ALLOWED_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _numeric_dtype,
    ("numpy.core.multiarray", "_reconstruct"): _empty_array,
    ("numpy._core.multiarray", "_reconstruct"): _empty_array,
    ("numpy.core.numeric", "_frombuffer"): _array_from_buffer,
    ("numpy._core.numeric", "_frombuffer"): _array_from_buffer,
    ("_codecs", "encode"): _latin1_bytes,
}


class _DataUnpickler(pickle._Unpickler):  # the pure-Python one: dict memo, no C-level allocation by index
    def find_class(self, module, name):
        found = ALLOWED_GLOBALS.get((module, name))
        if found is None:
            raise UnsafePickle(f"refused global {module + '.' + name!r:.80} (a data file must not name code)")
        return found

    def persistent_load(self, pid):
        raise UnsafePickle("refused persistent id")


def loads(raw: bytes):
    """The object in ``raw``, read as Python 2 pickles are (``encoding='bytes'``), running no code."""
    return _DataUnpickler(io.BytesIO(raw), encoding="bytes").load()
