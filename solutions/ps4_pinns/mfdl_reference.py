"""Reference solution of ps4_pinns.ipynb, generated from it (do not edit; regenerate with
`python -m autograder.reference_source solutions/ps4_pinns/ps4_pinns.ipynb`). Hidden tests
import it as `import mfdl_reference as ref`; Otter ships it in the autograder only."""
import json

import numpy as np
import torch

torch.set_num_threads(1)   # tiny networks: one thread is fastest, and fair on a shared machine
DTYPE = torch.float64      # the dtype of every tensor in this notebook


def as_points(x):
    """Points as a (N, 1) tensor of DTYPE that requires grad: a fresh leaf of the autograd graph.

    Accepts a numpy array, a list or a tensor (which is detached first). Differentiate with respect to the
    tensor this returns, and evaluate your functions at it."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
    else:
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
    return x.to(DTYPE).reshape(-1, 1).clone().requires_grad_(True)


def save_model(params, path, inputs=("x", "t")):
    """Save a trained network {"W1", "b1", ...} (tensors or arrays) as the JSON file the grader reads.

    Plain numbers only (no pickle): the grader rebuilds the network from them in float64."""
    data = {"format": "mfdl-mlp", "inputs": list(inputs),
            "params": {k: torch.as_tensor(v).detach().to(torch.float64).tolist() for k, v in params.items()}}
    with open(path, "w") as fh:
        json.dump(data, fh)


def load_model(path):
    """The parameters saved by save_model, as float64 tensors (e.g. to plot or evaluate your network again)."""
    with open(path) as fh:
        data = json.load(fh)
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in data["params"].items()}

def derivative(y, x):
    """Pointwise derivative dy/dx of y = g(x); y and x are (N, 1) tensors, x requires grad.

    The result has shape (N, 1) and is itself differentiable (derivative can be applied to it again)."""
    return torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), create_graph=True)[0]


def poisson_residual(u, f, x):
    """Residual r = -u''(x) - f(x) of the Poisson equation at the points x, shape (N, 1).

    u, f: functions of a (N, 1) tensor; x: (N, 1) array or tensor of points."""
    x = as_points(x)
    ux = derivative(u(x), x)
    uxx = derivative(ux, x)
    return -uxx - f(x)

def heat_residual(u, x, t, a):
    """Residual r = u_t - a u_xx of the heat equation at the points (x, t), shape (N, 1)."""
    x, t = as_points(x), as_points(t)
    values = u(x, t)
    u_t = derivative(values, t)
    u_xx = derivative(derivative(values, x), x)
    return u_t - a * u_xx

def burgers_residual(u, x, t, nu):
    """Residual r = u_t + u u_x - nu u_xx of viscous Burgers at the points (x, t), shape (N, 1)."""
    x, t = as_points(x), as_points(t)
    uval = u(x, t)
    ut = derivative(uval, t)
    ux = derivative(uval, x)
    uxx = derivative(ux, x)
    return ut + uval * ux - nu * uxx

def pinn_loss_soft(u, f, x_int, alpha, beta):
    """Mean squared Poisson residual at x_int plus the mean squared boundary error at x = 0 and x = 1."""
    r = poisson_residual(u, f, x_int)
    ends = u(torch.tensor([[0.0], [1.0]], dtype=DTYPE))
    boundary = ((ends[0, 0] - alpha) ** 2 + (ends[1, 0] - beta) ** 2) / 2
    return torch.mean(r ** 2) + boundary


def hard_ansatz(N, x, alpha, beta):
    """v(x) = alpha (1 - x) + beta x + x (1 - x) N(x), shape (N, 1); keeps x's graph if x is a tensor."""
    x = torch.as_tensor(x, dtype=DTYPE)
    return alpha * (1 - x) + beta * x + x * (1 - x) * N(x)


def pinn_loss_hard(N, f, x_int, alpha, beta):
    """Mean squared Poisson residual of the hard-constraint ansatz v at the interior points x_int."""
    r = poisson_residual(lambda z: hard_ansatz(N, z, alpha, beta), f, x_int)
    return torch.mean(r ** 2)

def mlp_init(widths, seed):
    """Parameters {"W1", "b1", ..., "WL", "bL"} of a tanh MLP: Xavier-normal weights, zero biases."""
    gen = torch.Generator().manual_seed(int(seed))
    params = {}
    for k, (m, n) in enumerate(zip(widths[:-1], widths[1:]), start=1):
        std = (2.0 / (m + n)) ** 0.5
        weight = std * torch.randn(m, n, generator=gen, dtype=torch.float64)
        params[f"W{k}"] = weight.to(DTYPE).requires_grad_(True)
        params[f"b{k}"] = torch.zeros(n, dtype=DTYPE, requires_grad=True)
    return params


def mlp_forward(params, x):
    """Output (N, 1) of the MLP at the points x (N, 1): tanh hidden layers, linear output layer."""
    n_layers = len(params) // 2
    h = torch.as_tensor(x, dtype=DTYPE)
    for k in range(1, n_layers + 1):
        h = h @ torch.as_tensor(params[f"W{k}"], dtype=DTYPE) + torch.as_tensor(params[f"b{k}"], dtype=DTYPE)
        if k < n_layers:
            h = torch.tanh(h)
    return h


def train_poisson(seed, steps=1000, lr=3e-3):
    """Train a [1, 32, 32, 1] PINN for -u'' = pi^2 sin(pi x), u(0) = u(1) = 0 with Adam (soft boundary loss).

    Returns the trained parameters as a dict of numpy arrays."""
    params = mlp_init([1, 32, 32, 1], seed)
    x_int = as_points(np.linspace(0.0, 1.0, 130)[1:-1])
    f = lambda x: np.pi ** 2 * torch.sin(np.pi * x)
    model = lambda x: mlp_forward(params, x)
    optimizer = torch.optim.Adam(list(params.values()), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = pinn_loss_soft(model, f, x_int, 0.0, 0.0)
        loss.backward()
        optimizer.step()
    return {name: p.detach().numpy() for name, p in params.items()}

def pinn_loss_heat(u, x_int, t_int, x_init, t_bnd, a):
    """Soft-constraint PINN loss for u_t = a u_xx on (0, 1) x (0, 1], u(x, 0) = sin(pi x), u(0, t) = u(1, t) = 0.

    Mean squared residual at the interior points (x_int, t_int) + mean squared initial error
    u(x, 0) - sin(pi x) at x_init + mean squared boundary values u(0, t), u(1, t) at the times t_bnd.
    u: a function of two (N, 1) tensors (x, t)."""
    r = heat_residual(u, x_int, t_int, a)
    x0 = as_points(x_init)
    initial = u(x0, torch.zeros_like(x0)) - torch.sin(np.pi * x0)
    tb = as_points(t_bnd)
    ends = torch.cat([u(torch.zeros_like(tb), tb), u(torch.ones_like(tb), tb)])
    return torch.mean(r ** 2) + torch.mean(initial ** 2) + torch.mean(ends ** 2)




def train_heat(seed, adam_steps=1000, lbfgs_steps=1000, lr=2e-3):
    """Train a [2, 32, 32, 32, 1] PINN for the heat equation with a = 0.4: Adam, then L-BFGS.

    1000 random interior points, 100 initial and 100 boundary times, all drawn from a generator seeded with
    `seed` (as is the initialization), so the same seed gives the same network.
    Returns the trained parameters as a dict of numpy arrays."""
    a = 0.4
    rng = np.random.default_rng(seed)
    x_int, t_int = rng.uniform(0.0, 1.0, 1000), rng.uniform(0.0, 1.0, 1000)
    x_init, t_bnd = rng.uniform(0.0, 1.0, 100), rng.uniform(0.0, 1.0, 100)
    params = mlp_init([2, 32, 32, 32, 1], seed)
    model = lambda x, t: mlp_forward(params, torch.cat([x, t], dim=1))
    loss_fn = lambda: pinn_loss_heat(model, x_int, t_int, x_init, t_bnd, a)

    adam = torch.optim.Adam(list(params.values()), lr=lr)
    for _ in range(adam_steps):
        adam.zero_grad()
        loss = loss_fn()
        loss.backward()
        adam.step()

    if lbfgs_steps > 0:
        lbfgs = torch.optim.LBFGS(list(params.values()), lr=1.0, max_iter=lbfgs_steps, history_size=50,
                                  tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe")

        def closure():
            lbfgs.zero_grad()
            loss = loss_fn()
            loss.backward()
            return loss

        lbfgs.step(closure)
    return {name: p.detach().numpy().copy() for name, p in params.items()}

def train_burgers(seed, adam_steps=1000, lbfgs_steps=3000, n_collocation=5000, n_initial=100, n_boundary=100,
                  hidden=(20,) * 6, lr=1e-3, initial_weight=1.0):
    """Train a tanh PINN for viscous Burgers on [-1, 1] x [0, 1]: Adam, then L-BFGS (Raissi et al. 2019 setup).

    u_t + u u_x = nu u_xx with nu = 0.01 / pi, u(x, 0) = -sin(pi x), u(-1, t) = u(1, t) = 0. The loss is the
    mean squared residual at n_collocation random points plus the mean squared initial and boundary errors at
    n_initial and n_boundary random points (soft constraints; initial_weight multiplies the initial term).
    All points come from a generator seeded with seed, and mlp_init uses the same seed: same seed, same network.
    Returns the trained parameters {"W1", "b1", ...} as numpy float64 arrays; the inputs are rows (x, t)."""
    nu = 0.01 / np.pi
    rng = np.random.default_rng(seed)
    column = lambda values: torch.as_tensor(np.asarray(values, dtype=np.float64).reshape(-1, 1), dtype=DTYPE)
    x_col, t_col = column(rng.uniform(-1, 1, n_collocation)), column(rng.uniform(0, 1, n_collocation))
    x_ini = column(rng.uniform(-1, 1, n_initial))
    t_ini, u_ini = torch.zeros_like(x_ini), -torch.sin(np.pi * x_ini)
    t_bnd = column(rng.uniform(0, 1, n_boundary))
    x_bnd = column(np.where(np.arange(n_boundary) % 2 == 0, -1.0, 1.0))    # alternate between the two ends

    params = mlp_init([2, *hidden, 1], seed)
    u = lambda x, t: mlp_forward(params, torch.cat([x, t], dim=1))

    def loss():
        residual = burgers_residual(u, x_col, t_col, nu)
        initial = torch.mean((u(x_ini, t_ini) - u_ini) ** 2)
        boundary = torch.mean(u(x_bnd, t_bnd) ** 2)
        return torch.mean(residual ** 2) + initial_weight * initial + boundary

    adam = torch.optim.Adam(list(params.values()), lr=lr)
    for _ in range(adam_steps):
        adam.zero_grad()
        loss().backward()
        adam.step()

    if lbfgs_steps > 0:
        lbfgs = torch.optim.LBFGS(list(params.values()), lr=1.0, max_iter=lbfgs_steps, max_eval=2 * lbfgs_steps,
                                  history_size=50, tolerance_grad=1e-12, tolerance_change=0.0,
                                  line_search_fn="strong_wolfe")

        def closure():
            lbfgs.zero_grad()
            value = loss()
            value.backward()
            return value

        lbfgs.step(closure)
    return {name: p.detach().to(torch.float64).numpy().copy() for name, p in params.items()}

def ritz_energy(v, f, n):
    """Midpoint-rule approximation of I(v) = int_0^1 (v'^2 / 2 - f v) dx with n points (i + 1/2) / n."""
    x = as_points((np.arange(n) + 0.5) / n)
    values = v(x)
    slope = derivative(values, x)
    return torch.mean(0.5 * slope ** 2 - f(x) * values)
