"""Trained networks submitted as JSON, rebuilt by the grader in float64 numpy (trusted side; numpy only).

File format (the notebook's `save_mlp` writes it; plain JSON lists, no pickle):

    {"format": "mfdl-mlp", "inputs": ["x", "t"], "params": {"W1": [[...], ...], "b1": [...], ..., "WL": ..., "bL": ...}}

Network convention of the notebook: Wk has shape (n_{k-1}, n_k), bk shape (n_k,), h_0 = input rows,
h_k = tanh(h_{k-1} Wk + bk) for k < L, output v = h_{L-1} WL + bL (linear, n_L = 1).

`load_mlp` validates a parsed JSON object and returns an `MLP`, or raises `ModelError` with a message a student
can act on. `MLP.jet` returns the value and the derivatives a PINN certificate needs, in closed form (forward-mode
propagation, no finite differences, no autograd), so the grader never runs student code to evaluate them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

FORMAT_TAG = "mfdl-mlp"
TOP_LEVEL_KEYS = ("format", "inputs", "params")
_PARAM_KEY = re.compile(r"^([Wb])([1-9][0-9]*)$")
_CHUNK_ELEMENTS = 1 << 20  # rows per chunk * widest layer: bounds each temporary array to ~8 MB


class ModelError(ValueError):
    """The submitted network file is malformed; the message says what is wrong and where."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class MLP:
    """A tanh MLP in float64: weights[k] has shape (n_k, n_{k+1}), biases[k] shape (n_{k+1},) (0-based)."""
    inputs: tuple
    weights: tuple
    biases: tuple

    @property
    def n_inputs(self) -> int:
        return len(self.inputs)

    @property
    def n_params(self) -> int:
        return sum(W.size + b.size for W, b in zip(self.weights, self.biases))

    def _points(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1 and self.n_inputs == 1:
            X = X[:, None]
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"points must have shape (N, {self.n_inputs}), got {X.shape}")
        return X

    def _chunk_rows(self, chunk) -> int:
        if chunk is not None:
            return max(1, int(chunk))
        widest = max(W.shape[1] for W in self.weights)
        return max(1, _CHUNK_ELEMENTS // max(widest, self.n_inputs))

    def value(self, X, *, chunk: int | None = None) -> np.ndarray:
        """The network's output v at the rows of X (shape (N, n_inputs); (N,) allowed for one input): shape (N,)."""
        X = self._points(X)
        out = np.empty(X.shape[0])
        step = self._chunk_rows(chunk)
        last = len(self.weights) - 1
        for s in range(0, X.shape[0], step):
            h = X[s:s + step]
            for k, (W, b) in enumerate(zip(self.weights, self.biases)):
                h = h @ W + b
                if k < last:
                    h = np.tanh(h)
            out[s:s + step] = h[:, 0]
        return out

    def jet(self, X, *, chunk: int | None = None) -> tuple:
        """Value and derivatives of v at the rows of X, each shape (N,):
        one input (x): (v, v_x, v_xx); two inputs (x, t), in that column order: (v, v_x, v_t, v_xx).

        Forward mode, layer by layer. With pre-activation z = h W + b (b constant), derivatives pass linearly:
        z_x = h_x W, z_t = h_t W, z_xx = h_xx W. At the input h = X, h_x = e_x, h_t = e_t, h_xx = 0. Through
        h = tanh(z), with tanh' = 1 - h^2 =: s and tanh'' = -2 h s:
            h_x = s z_x,  h_t = s z_t,  h_xx = s z_xx - 2 h s z_x^2.
        The output layer is linear, so its derivatives are the last z's."""
        X = self._points(X)
        if self.n_inputs not in (1, 2):
            raise ValueError(f"jet supports networks with 1 or 2 inputs, this one has {self.n_inputs}")
        two = self.n_inputs == 2
        n = X.shape[0]
        outs = [np.empty(n) for _ in range(4 if two else 3)]
        step = self._chunk_rows(chunk)
        last = len(self.weights) - 1
        for s in range(0, n, step):
            h = X[s:s + step]
            rows = h.shape[0]
            W, b = self.weights[0], self.biases[0]
            # First layer: the input's derivatives are the unit vectors, so z_x, z_t are rows of W1, z_xx = 0.
            z = h @ W + b
            z_x = np.broadcast_to(W[0], z.shape)
            z_t = np.broadcast_to(W[1], z.shape) if two else None
            z_xx = np.zeros_like(z)
            for k in range(1, last + 1):
                h = np.tanh(z)
                sech2 = 1.0 - h * h
                h_x = sech2 * z_x
                h_xx = sech2 * z_xx - 2.0 * h * sech2 * z_x * z_x
                W, b = self.weights[k], self.biases[k]
                z = h @ W + b
                z_x = h_x @ W
                z_xx = h_xx @ W
                if two:
                    z_t = (sech2 * z_t) @ W
            sl = slice(s, s + rows)
            outs[0][sl] = z[:, 0]
            outs[1][sl] = z_x[:, 0]
            if two:
                outs[2][sl] = z_t[:, 0]
                outs[3][sl] = z_xx[:, 0]
            else:
                outs[2][sl] = z_xx[:, 0]
        return tuple(outs)


def _where(key: str, *index: int) -> str:
    return f"params['{key}']" + "".join(f"[{i}]" for i in index)


def _type_name(v) -> str:
    return {list: "a list", dict: "an object", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(
        type(v), type(v).__name__)


def _check_number(v, where: str):
    # bool is a subclass of int in Python: reject it explicitly (JSON true/false are not numbers).
    if type(v) not in (int, float):
        raise ModelError(f"{where} is {_type_name(v)}, expected a number")
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise ModelError(f"{where} is {repr(v)[:24]}: every parameter must be a finite number "
                         "(did training diverge to nan or inf?)")


def _shape_of(value, key: str, matrix: bool) -> tuple:
    """Shape of a plain list (vector) or list of equally long lists (matrix); element types are checked later."""
    if type(value) is not list:
        kind = "a list of rows (lists of numbers)" if matrix else "a list of numbers"
        raise ModelError(f"{_where(key)} is {_type_name(value)}, expected {kind}; convert arrays with .tolist()")
    if not matrix:
        return (len(value),)
    if not value:
        raise ModelError(f"{_where(key)} is an empty list: a weight matrix needs at least one row")
    for i, row in enumerate(value):
        if type(row) is not list:
            raise ModelError(f"{_where(key, i)} is {_type_name(row)}, expected a row (a list of numbers): "
                             f"{key} must be a list of lists")
        if len(row) != len(value[0]):
            raise ModelError(f"{_where(key)} is ragged: row 0 has {len(value[0])} entries but row {i} has {len(row)}")
    return (len(value), len(value[0]))


def load_mlp(data, inputs, max_params: int = 200_000, max_layers: int = 32) -> MLP:
    """Validate a parsed JSON network file and rebuild it as an `MLP` (float64).

    `inputs`: the expected input names in column order, e.g. ("x", "t"), or just their number. Raises
    `ModelError` naming the first problem found (format tag, input names, missing/unexpected/misnumbered keys,
    non-list values, shapes that do not chain, non-finite entries, too many parameters or layers). The caps bound
    the grader's work on a hostile file (a 5 MB file holds at most ~250k numbers anyway)."""
    if type(data) is not dict:
        raise ModelError(f"the model file must hold a JSON object {{'format', 'inputs', 'params'}}, "
                         f"got {_type_name(data)}")
    missing = [k for k in TOP_LEVEL_KEYS if k not in data]
    if missing:
        raise ModelError(f"the model file has no {', '.join(repr(k) for k in missing)} entry; expected the keys "
                         f"{list(TOP_LEVEL_KEYS)}")
    extra = sorted(str(k) for k in data if k not in TOP_LEVEL_KEYS)
    if extra:
        raise ModelError(f"the model file has unexpected entries {extra}; expected only {list(TOP_LEVEL_KEYS)}")
    if data["format"] != FORMAT_TAG:
        raise ModelError(f"the model file's 'format' is {data['format']!r}, expected {FORMAT_TAG!r}")

    names = data["inputs"]
    if type(names) is not list or not all(type(s) is str for s in names):
        raise ModelError(f"'inputs' must be a list of input names (strings), got {names!r}")
    if isinstance(inputs, (int, np.integer)):
        if len(names) != int(inputs):
            raise ModelError(f"the network has {len(names)} inputs {names}, this problem needs {int(inputs)}")
    else:
        expected = [str(s) for s in inputs]
        if names != expected:
            raise ModelError(f"the network's inputs are {names}, this problem needs {expected} (in this order)")
    n_in = len(names)
    if n_in == 0:
        raise ModelError("'inputs' is empty: the network needs at least one input")

    params = data["params"]
    if type(params) is not dict:
        raise ModelError(f"'params' must be an object {{'W1': ..., 'b1': ..., ...}}, got {_type_name(params)}")
    bad = sorted(str(k) for k in params if not (type(k) is str and _PARAM_KEY.match(k)))
    if bad:
        raise ModelError(f"'params' has unexpected keys {bad}; expected W1, b1, ..., WL, bL")
    if not params:
        raise ModelError("'params' is empty; expected W1, b1, ..., WL, bL")
    n_layers = max(int(_PARAM_KEY.match(k).group(2)) for k in params)
    if n_layers > max_layers:  # checked before anything is built per layer
        raise ModelError(f"'params' names layer {n_layers}; at most {max_layers} layers are accepted")
    absent = [f"{c}{k}" for k in range(1, n_layers + 1) for c in "Wb" if f"{c}{k}" not in params]
    if absent:
        raise ModelError(f"'params' is missing {', '.join(absent)}: the layers must be numbered 1, ..., L "
                         f"without gaps and each Wk needs its bk (found keys up to layer {n_layers})")

    # Shapes first (cheap), so that the parameter count is checked before every entry is looked at.
    total, width = 0, n_in
    shapes = []
    for k in range(1, n_layers + 1):
        wk, bk = f"W{k}", f"b{k}"
        sw = _shape_of(params[wk], wk, matrix=True)
        sb = _shape_of(params[bk], bk, matrix=False)
        if sw[0] != width:
            source = f"the network has {n_in} inputs {names}" if k == 1 else f"W{k - 1} has {width} columns"
            raise ModelError(f"{wk} has shape {sw[0]}x{sw[1]} but {source}, so {wk} needs {width} rows")
        if sb[0] != sw[1]:
            raise ModelError(f"{bk} has {sb[0]} entries but {wk} has {sw[1]} columns; they must agree")
        if sw[1] == 0:
            raise ModelError(f"{wk} has no columns: every layer needs at least one unit")
        total += sw[0] * sw[1] + sb[0]
        if total > max_params:
            raise ModelError(f"the network has more than {max_params} parameters (at least {total} up to layer "
                             f"{k}); use a smaller network")
        shapes.append(sw)
        width = sw[1]
    if width != 1:
        raise ModelError(f"the last layer W{n_layers} has {width} columns, expected 1 (the network has one output)")

    weights, biases = [], []
    for k in range(1, n_layers + 1):
        wk, bk = f"W{k}", f"b{k}"
        for i, row in enumerate(params[wk]):
            for j, v in enumerate(row):
                _check_number(v, _where(wk, i, j))
        for i, v in enumerate(params[bk]):
            _check_number(v, _where(bk, i))
        W = np.array(params[wk], dtype=np.float64).reshape(shapes[k - 1])
        b = np.array(params[bk], dtype=np.float64).reshape(shapes[k - 1][1])
        weights.append(_readonly(W))
        biases.append(_readonly(b))
    return MLP(inputs=tuple(names), weights=tuple(weights), biases=tuple(biases))


def dump_mlp(params: dict, inputs: Sequence[str]) -> dict:
    """The JSON object of `load_mlp`'s format for a dict {"W1", "b1", ...} of arrays (used by the author's tools)."""
    return {"format": FORMAT_TAG, "inputs": list(inputs),
            "params": {k: np.asarray(v, dtype=np.float64).tolist() for k, v in params.items()}}
