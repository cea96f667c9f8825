"""autograder.mfdl_checks.pinn_models: closed-form network derivatives (vs torch autograd and central differences) and the
validation of submitted network files."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from autograder.mfdl_checks.pinn_models import MLP, ModelError, dump_mlp, load_mlp

U64 = np.finfo(np.float64).eps / 2  # unit roundoff of float64


def random_params(widths, seed):
    """Random tanh-MLP parameters with O(1) pre-activations (non-zero biases, so no symmetry hides a bug)."""
    rng = np.random.default_rng(seed)
    params = {}
    for k, (m, n) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        params[f"W{k}"] = rng.normal(0.0, 1.5 / math.sqrt(m), size=(m, n))
        params[f"b{k}"] = rng.normal(0.0, 0.5, size=n)
    return params


def build(widths, seed, inputs):
    return load_mlp(json.loads(json.dumps(dump_mlp(random_params(widths, seed), inputs))), inputs)


def torch_jet(params, X):
    """Value and derivatives by torch autograd (float64), in the order MLP.jet returns them."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    cols = [torch.tensor(X[:, i:i + 1], dtype=torch.float64, requires_grad=True) for i in range(X.shape[1])]
    h = torch.cat(cols, dim=1)
    L = len(params) // 2
    for k in range(1, L + 1):
        h = h @ torch.tensor(params[f"W{k}"]) + torch.tensor(params[f"b{k}"])
        if k < L:
            h = torch.tanh(h)
    d = lambda y, x: torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)[0]
    v_x = d(h, cols[0])
    v_xx = d(v_x, cols[0])
    out = [h, v_x] + ([d(h, cols[1])] if len(cols) == 2 else []) + [v_xx]
    return [o.detach().numpy()[:, 0] for o in out]


def magnitude(params, X):
    """|v|, |v_x|, |v_t|, |v_xx| bounds for the rounding tolerance: the same forward-mode recursion run on
    absolute values (|W|, |b|, tanh -> |h| <= 1, sech^2 <= 1), which dominates every partial sum (Higham §3.5)."""
    Ws = [np.abs(params[f"W{k}"]) for k in range(1, len(params) // 2 + 1)]
    bs = [np.abs(params[f"b{k}"]) for k in range(1, len(params) // 2 + 1)]
    m = np.abs(X) @ Ws[0] + bs[0]
    m1 = np.broadcast_to(Ws[0].max(axis=0), m.shape)
    m2 = np.zeros_like(m)
    for W, b in zip(Ws[1:], bs[1:]):
        # |h| <= 1, |h_x| <= |z_x|, |h_xx| <= |z_xx| + 2 |z_x|^2
        m, m1, m2 = np.ones_like(m) @ W + b, m1 @ W, (m2 + 2 * m1 ** 2) @ W
    return m[:, 0], m1[:, 0], m2[:, 0]


@pytest.mark.parametrize("widths, inputs", [([2, 16, 12, 9, 1], ["x", "t"]), ([1, 20, 20, 1], ["x"])])
def test_jet_matches_torch_autograd(widths, inputs):
    params = random_params(widths, 1)
    net = load_mlp(dump_mlp(params, inputs), inputs)
    X = np.random.default_rng(2).uniform(-1.0, 2.0, size=(300, len(inputs)))
    ours = net.jet(X, chunk=64)  # several chunks, the last one partial
    ref = torch_jet(params, X)
    assert len(ours) == len(ref) == (4 if len(inputs) == 2 else 3)
    # Both sides evaluate the same algebra in a different order. Each layer is a dot product of length
    # n <= 20 plus tanh (a few ulps) and the derivative recursion (<= 4 roundings), so each side's error is
    # <= gamma_n(u) times the magnitude M of the computation on absolute values per layer (Higham Lemma 3.1,
    # §3.5); over L layers and two implementations that is <= 2 * L * (n + 8) * u * M. Measured: <= 5e-3 of it.
    # A wrong formula (missing factor 2, sign, s^2 instead of s) changes values by O(M), ~1e13 times more.
    m0, m1, m2 = magnitude(params, X)
    scale = [m0, m1] + ([m1] if len(inputs) == 2 else []) + [m2]  # |v_t| obeys the same bound as |v_x| here
    n_chain = 2 * (len(widths) - 1) * (max(widths) + 8)
    for name, a, b, m in zip(["v", "v_x", "v_t", "v_xx"] if len(inputs) == 2 else ["v", "v_x", "v_xx"],
                             ours, ref, scale):
        tol = n_chain * U64 * (m + 1.0)
        assert np.all(np.abs(a - b) <= tol), (name, np.max(np.abs(a - b) / tol))
    # value and jet do the same operations; BLAS may order the sums differently for different chunk shapes
    assert np.all(np.abs(net.value(X) - ours[0]) <= n_chain * U64 * (m0 + 1.0))


def test_jet_matches_central_differences():
    params = random_params([2, 24, 24, 1], 3)
    net = load_mlp(dump_mlp(params, ["x", "t"]), ["x", "t"])
    X = np.random.default_rng(4).uniform(0.0, 1.0, size=(200, 2))
    v, v_x, v_t, v_xx = net.jet(X)
    ex, et = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    # Central differences (Nocedal & Wright §8.1): |D_h f - f'| <= h^2 M3/6 + delta/h and for the second
    # difference |D2_h f - f''| <= h^2 M4/12 + 4 delta/h^2, with delta ~ 1e-15 the rounding of v. This net has
    # |v^(k)| = O(1..100) for k <= 4 (weights ~1.5/sqrt(n)), so h = 1e-4 gives <= 2e-7 + 1e-11 and
    # h2 = 1e-3 gives <= 1e-5 + 4e-9. A missing or wrong term is O(1) off.
    h, h2 = 1e-4, 1e-3
    d_x = (net.value(X + h * ex) - net.value(X - h * ex)) / (2 * h)
    d_t = (net.value(X + h * et) - net.value(X - h * et)) / (2 * h)
    d_xx = (net.value(X + h2 * ex) - 2 * v + net.value(X - h2 * ex)) / h2 ** 2
    for name, a, b, tol in (("v_x", v_x, d_x, 1e-6), ("v_t", v_t, d_t, 1e-6), ("v_xx", v_xx, d_xx, 1e-4)):
        assert np.max(np.abs(a - b)) <= tol * (1 + np.max(np.abs(a))), name
        assert np.max(np.abs(a)) > 1e-2, name  # the derivative is not trivially zero


def test_chunking_and_one_input_shapes():
    net = build([1, 7, 1], 5, ["x"])
    x = np.linspace(0, 1, 101)
    full = net.jet(x)
    small = net.jet(x[:, None], chunk=10)
    for a, b in zip(full, small):  # equal up to the summation order BLAS picks for the chunk's shape
        np.testing.assert_allclose(a, b, rtol=0, atol=64 * U64 * (1 + np.max(np.abs(a))))
    assert full[0].shape == (101,) and len(full) == 3
    with pytest.raises(ValueError):
        build([2, 7, 1], 5, ["x", "t"]).value(x)  # two-input net, one column


def test_roundtrip_and_readonly():
    params = random_params([2, 5, 3, 1], 6)
    net = load_mlp(json.loads(json.dumps(dump_mlp(params, ["x", "t"]))), ["x", "t"])
    assert isinstance(net, MLP) and net.inputs == ("x", "t") and net.n_params == 2 * 5 + 5 + 5 * 3 + 3 + 3 + 1
    np.testing.assert_array_equal(net.weights[1], params["W2"])  # JSON floats round-trip exactly
    with pytest.raises(ValueError):
        net.weights[0][0, 0] = 1.0
    assert load_mlp(dump_mlp(params, ["x", "t"]), 2).n_inputs == 2


def good():
    return dump_mlp(random_params([2, 4, 3, 1], 7), ["x", "t"])


def mutate(fn):
    data = copy.deepcopy(good())
    fn(data)
    return data


BAD = {
    "not an object": ([1, 2], "JSON object"),
    "missing params": (mutate(lambda d: d.pop("params")), "'params'"),
    "extra top-level key": (mutate(lambda d: d.update(loss=1e-3)), "loss"),
    "wrong format tag": (mutate(lambda d: d.update(format="pytorch")), "'pytorch'"),
    "wrong input names": (mutate(lambda d: d.update(inputs=["t", "x"])), "['t', 'x']"),
    "wrong input count": (mutate(lambda d: (d.update(inputs=["x"]), d["params"].update(
        W1=d["params"]["W1"][:1]))), "['x']"),
    "inputs not a list": (mutate(lambda d: d.update(inputs="x,t")), "'inputs'"),
    "missing bias": (mutate(lambda d: d["params"].pop("b2")), "b2"),
    "missing layer (gap)": (mutate(lambda d: (d["params"].pop("W2"), d["params"].pop("b2"))), "W2"),
    "unexpected param key": (mutate(lambda d: d["params"].update(scale=[1.0])), "scale"),
    "shapes do not chain": (mutate(lambda d: d["params"].update(W2=[r + [0.0] for r in d["params"]["W2"]],
                                                               b2=d["params"]["b2"] + [0.0])), "W3 has shape 3x1"),
    "bias length": (mutate(lambda d: d["params"]["b1"].append(0.0)), "b1 has 5 entries"),
    "first layer rows": (mutate(lambda d: d["params"]["W1"].append([0.0] * 4)), "W1 has shape 3x4"),
    "two outputs": (mutate(lambda d: d["params"].update(W3=[[1.0, 2.0]] * 3, b3=[0.0, 0.0])), "expected 1"),
    "ragged rows": (mutate(lambda d: d["params"]["W2"][1].pop()), "ragged"),
    "nan entry": (mutate(lambda d: d["params"]["W2"][1].__setitem__(2, float("nan"))), "params['W2'][1][2]"),
    "inf bias": (mutate(lambda d: d["params"]["b1"].__setitem__(0, float("inf"))), "params['b1'][0]"),
    "huge integer": (mutate(lambda d: d["params"]["b1"].__setitem__(0, 10 ** 400)), "finite"),
    "string entry": (mutate(lambda d: d["params"]["W1"][0].__setitem__(0, "0.5")), "a string"),
    "boolean entry": (mutate(lambda d: d["params"]["b3"].__setitem__(0, True)), "a boolean"),
    "nested too deep": (mutate(lambda d: d["params"]["W1"][0].__setitem__(1, [0.1])), "params['W1'][0][1]"),
    "matrix as dict": (mutate(lambda d: d["params"].update(W1={"data": []})), "W1"),
    "bias as number": (mutate(lambda d: d["params"].update(b3=0.0)), "b3"),
    "vector instead of matrix": (mutate(lambda d: d["params"].update(W3=[1.0, 2.0, 3.0])), "list of lists"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_load_mlp_rejects(case):
    data, needle = BAD[case]
    with pytest.raises(ModelError) as info:
        load_mlp(data, ["x", "t"])
    assert needle in str(info.value), str(info.value)


def test_load_mlp_accepts_good_and_integers():
    data = good()
    data["params"]["b1"] = [0, 0, 0, 0]  # integers are numbers
    assert load_mlp(data, ["x", "t"]).n_params == 2 * 4 + 4 + 4 * 3 + 3 + 3 + 1


def test_load_mlp_parameter_cap():
    data = dump_mlp(random_params([2, 300, 300, 1], 8), ["x", "t"])
    net = load_mlp(data, ["x", "t"])
    assert net.n_params == 2 * 300 + 300 + 300 * 300 + 300 + 300 + 1
    with pytest.raises(ModelError, match="more than 50000 parameters"):
        load_mlp(data, ["x", "t"], max_params=50_000)


def test_a_huge_layer_number_is_refused_before_any_work():
    """Checked before the list of missing keys is built (a billion of them would exhaust the grader's memory)."""
    with pytest.raises(ModelError, match="at most 32 layers"):
        load_mlp({"format": "mfdl-mlp", "inputs": ["x"], "params": {"W1": [[1.0]], "b1": [0.0],
                                                                    "W999999999": [[1.0]], "b999999999": [0.0]}}, 1)
