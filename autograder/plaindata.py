"""Plain-data codec between the student's kernel and the trusted grader (no pickle, no dill).

Only these values cross the boundary, as JSON text:

    None, bool, int, float (nan/inf included), str          -> JSON natives (floats tagged when non-finite)
    list                                                     -> JSON array
    tuple                                                    -> {"__tuple__": [...]}
    set / frozenset (of hashable plain values)               -> {"__set__": [...]} / {"__frozenset__": [...]}
    dict with str keys                                       -> {"__dict__": [[key, value], ...]}
    numpy array / numpy scalar / torch tensor                -> {"__ndarray__": [dtype, shape, base64 bytes]}
    pandas Series / DataFrame (plain columns)                -> {"__series__": [name, index, values]},
                                                                {"__frame__": [columns, index, [values, ...]]}

The decoder rebuilds nothing but those types, checks every dtype against a whitelist of plain numeric kinds
(never object dtype), checks that shape and byte count agree, and enforces caps on payload size and
nesting depth. It never imports, evaluates or unpickles anything.

This file must stay self-contained (standard library + numpy): its source is also sent into the student's
kernel, where it encodes return values. Whatever the kernel sends back is still only data: a tampered
encoder can produce wrong values, never code or objects that lie in comparisons.
"""
from __future__ import annotations

import base64
import json
import math

import numpy as np

MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # a result larger than this is refused (plenty for problem-set sizes)
MAX_DEPTH = 32
# Plain numeric dtype kinds: bool, signed/unsigned int, float, complex. Never "O" (object), "V", "U", "S", "M".
ALLOWED_KINDS = frozenset("biufc")


class PlainDataError(ValueError):
    """The value cannot be sent as plain data, or a payload is malformed or too large."""


def _encode(obj, depth):
    if depth > MAX_DEPTH:
        raise PlainDataError(f"value is nested more than {MAX_DEPTH} levels deep")
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int) and type(obj) in (int,):
        return obj
    if type(obj) is float:
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if type(obj) is list:
        return [_encode(v, depth + 1) for v in obj]
    if type(obj) is tuple:
        return {"__tuple__": [_encode(v, depth + 1) for v in obj]}
    if type(obj) in (set, frozenset):
        tag = "__set__" if type(obj) is set else "__frozenset__"
        return {tag: [_encode(v, depth + 1) for v in sorted(obj, key=repr)]}
    if type(obj) is dict:
        items = []
        for k, v in obj.items():
            if type(k) is not str:
                raise PlainDataError(f"dict keys must be strings, got {type(k).__name__}")
            items.append([k, _encode(v, depth + 1)])
        return {"__dict__": items}
    if type(obj).__module__.startswith("pandas") and type(obj).__name__ in ("Series", "DataFrame"):
        return _encode_pandas(obj, depth)
    if type(obj).__name__ == "Tensor" and hasattr(obj, "detach"):  # torch tensor -> numpy, no torch import needed
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
        obj = np.asarray(obj)
    if type(obj) is np.ndarray:
        if obj.dtype.kind not in ALLOWED_KINDS:
            raise PlainDataError(f"array dtype {obj.dtype} is not a plain numeric type")
        arr = obj if obj.flags.c_contiguous else obj.copy(order="C")  # (ascontiguousarray turns 0-d into 1-d)
        return {"__ndarray__": [arr.dtype.str, list(arr.shape), base64.b64encode(arr.tobytes()).decode("ascii")]}
    raise PlainDataError(
        f"cannot send a value of type {type(obj).__name__}; return numbers, strings, lists, tuples, "
        "dicts with string keys, or numpy arrays"
    )


def _column(values, depth):
    """A pandas column or index: a numeric array as an array, anything else as a list of plain scalars."""
    arr = np.asarray(values)
    if arr.dtype.kind in ALLOWED_KINDS:
        return _encode(arr, depth + 1)
    return [_encode(v.item() if isinstance(v, np.generic) else v, depth + 1) for v in list(values)]


def _encode_pandas(obj, depth):
    # Without importing pandas: only the data travels (values, index, names); the trusted side rebuilds it.
    index = _column(obj.index, depth)
    if type(obj).__name__ == "Series":
        return {"__series__": [_encode(obj.name, depth + 1), index, _column(obj.to_numpy(), depth)]}
    columns = [_encode(c, depth + 1) for c in list(obj.columns)]
    return {"__frame__": [columns, index, [_column(obj[c].to_numpy(), depth) for c in obj.columns]]}


def _decode_pandas(tag, body, depth, allow_code):
    try:
        import pandas as pd
    except ImportError:
        raise PlainDataError("a pandas value arrived, but pandas is not installed here") from None
    if not isinstance(body, list) or len(body) != 3:
        raise PlainDataError("malformed pandas value")
    first, index, values = (_decode(v, depth + 1, allow_code) for v in body)
    if first is not None and not isinstance(first, (str, int, float, list)):
        raise PlainDataError("malformed pandas value")
    try:
        if tag == "__series__":
            return pd.Series(values, index=index, name=first)
        if not isinstance(values, list) or not isinstance(first, list) or len(first) != len(values):
            raise PlainDataError("malformed pandas frame")
        return pd.DataFrame(dict(zip(first, values)), index=index, columns=first)
    except (TypeError, ValueError) as exc:
        raise PlainDataError(f"malformed pandas value: {exc}") from None


def encode(obj) -> str:
    """Encode a plain value as JSON text. Raises PlainDataError for anything else."""
    text = json.dumps(_encode(obj, 0), allow_nan=False, separators=(",", ":"))
    if len(text) > MAX_PAYLOAD_BYTES:
        raise PlainDataError(f"value is too large to send ({len(text)} bytes > {MAX_PAYLOAD_BYTES})")
    return text


def _decode_array(spec):
    if not (isinstance(spec, list) and len(spec) == 3):
        raise PlainDataError("malformed array")
    dtype_str, shape, data = spec
    if not isinstance(dtype_str, str) or not isinstance(data, str) or not isinstance(shape, list):
        raise PlainDataError("malformed array")
    try:
        dtype = np.dtype(dtype_str)
    except TypeError as exc:
        raise PlainDataError(f"unknown dtype {dtype_str!r}") from exc
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise PlainDataError(f"dtype {dtype_str!r} is not a plain numeric type")
    if len(shape) > MAX_DEPTH or not all(type(n) is int and n >= 0 for n in shape):
        raise PlainDataError("malformed array shape")
    raw = base64.b64decode(data.encode("ascii"), validate=True)
    count = math.prod(shape)
    if count * dtype.itemsize != len(raw):
        raise PlainDataError("array byte count does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def _decode(node, depth, allow_code):
    if depth > MAX_DEPTH:
        raise PlainDataError(f"value is nested more than {MAX_DEPTH} levels deep")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, depth + 1, allow_code) for v in node]
    if isinstance(node, dict) and len(node) == 1:
        (tag, body), = node.items()
        if tag == "__float__" and body in ("nan", "inf", "-inf"):
            return float(body)
        if tag == "__tuple__" and isinstance(body, list):
            return tuple(_decode(v, depth + 1, allow_code) for v in body)
        if tag in ("__set__", "__frozenset__") and isinstance(body, list):
            items = [_decode(v, depth + 1, allow_code) for v in body]
            try:
                return set(items) if tag == "__set__" else frozenset(items)
            except TypeError:  # unhashable members (lists, arrays): not a set anyone could have built
                raise PlainDataError("malformed set") from None
        if tag == "__dict__" and isinstance(body, list):
            out = {}
            for item in body:
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                    raise PlainDataError("malformed dict")
                out[item[0]] = _decode(item[1], depth + 1, allow_code)
            return out
        if tag == "__ndarray__":
            return _decode_array(body)
        if tag in ("__series__", "__frame__"):
            return _decode_pandas(tag, body, depth, allow_code)
        if tag == "__code__" and allow_code and isinstance(body, str):
            return RemoteCode(body)
    raise PlainDataError("malformed payload")


def decode(text, *, allow_code=False):
    """Decode JSON text made by `encode`. `allow_code` is only ever true inside the student's kernel, where
    the trusted grader sends small lambdas (e.g. the function a gradient checker must differentiate)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    if not isinstance(text, str):
        raise PlainDataError("payload is not text")
    if len(text) > MAX_PAYLOAD_BYTES:
        raise PlainDataError(f"payload too large ({len(text)} bytes > {MAX_PAYLOAD_BYTES})")
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PlainDataError(f"payload is not valid JSON: {exc}") from None
    return _decode(tree, 0, allow_code)


class RemoteCode:
    """Source text of a small callable written by the instructor, built inside the student's kernel.

    The trusted side wraps e.g. ``RemoteCode("lambda x: np.sum(np.sin(x))")`` as an argument; the kernel
    evaluates it with numpy available. Only data ever comes back."""

    def __init__(self, source: str):
        self.source = source

    def __repr__(self):
        return f"RemoteCode({self.source!r})"


def encode_call_args(args, kwargs) -> str:
    """Arguments of a call into the kernel: like `encode`, plus RemoteCode values."""
    def enc(v, depth):
        if isinstance(v, RemoteCode):
            return {"__code__": v.source}
        if type(v) in (list, tuple):
            body = [enc(x, depth + 1) for x in v]
            return body if type(v) is list else {"__tuple__": body}
        if type(v) is dict:
            return {"__dict__": [[k, enc(x, depth + 1)] for k, x in v.items()]}
        return _encode(v, depth)
    return json.dumps({"__tuple__": [enc(list(args), 0), enc(dict(kwargs), 0)]}, allow_nan=False)
