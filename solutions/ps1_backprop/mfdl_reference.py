"""Reference solution of ps1_backprop.ipynb, generated from it (do not edit; regenerate with
`python -m autograder.reference_source solutions/ps1_backprop/ps1_backprop.ipynb`). Hidden tests
import it as `import mfdl_reference as ref`; Otter ships it in the autograder only."""
import numpy as np

def affine_forward(x, w, b):
    """Affine (fully connected) layer.

    x: (N, D) batch of inputs, w: (D, M) weights, b: (M,) bias.
    Returns out = x @ w + b, of shape (N, M).
    """
    out = x @ w + b
    return out


def affine_backward(dout, x, w, b):
    """Backward pass of the affine layer.

    dout: (N, M) upstream gradient dL/dout; x, w, b: the inputs of the forward pass.
    Returns (dx, dw, db), with the shapes of x, w and b.
    """
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db

def relu_forward(x):
    """Elementwise ReLU: out = max(x, 0), same shape as x."""
    return np.maximum(x, 0)


def relu_backward(dout, x):
    """Gradient of ReLU with respect to its input x, given dout = dL/dout; relu'(0) = 0."""
    return dout * (x > 0)

def softmax_cross_entropy(scores, y):
    """Mean softmax cross-entropy loss over a batch and its gradient.

    scores: (N, C) class scores, y: (N,) integer labels in 0..C-1.
    Returns (loss, dscores): loss = -(1/N) sum_i log softmax(scores_i)[y_i] (a float) and
    dscores = dloss/dscores, of shape (N, C).
    """
    n = scores.shape[0]
    rows = np.arange(n)
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.mean(log_probs[rows, y])
    dscores = np.exp(log_probs)
    dscores[rows, y] -= 1
    dscores /= n
    return loss, dscores

def two_layer_net(X, y, W1, b1, W2, b2, reg):
    """Loss and gradients of the network affine - ReLU - affine - softmax cross-entropy.

    X: (N, D) inputs, y: (N,) labels, W1: (D, H), b1: (H,), W2: (H, C), b2: (C,), reg: float.
    loss = mean cross-entropy + 0.5 * reg * (sum(W1**2) + sum(W2**2)).
    Returns (loss, grads) where grads is a dict with keys "W1", "b1", "W2", "b2".
    """
    z1 = affine_forward(X, W1, b1)
    h1 = relu_forward(z1)
    scores = affine_forward(h1, W2, b2)
    data_loss, dscores = softmax_cross_entropy(scores, y)
    loss = data_loss + 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dh1, dW2, db2 = affine_backward(dscores, h1, W2, b2)
    dz1 = relu_backward(dh1, z1)
    _, dW1, db1 = affine_backward(dz1, X, W1, b1)
    dW1 = dW1 + reg * W1
    dW2 = dW2 + reg * W2
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Batch normalisation, training mode (statistics of the current batch).

    x: (N, D); gamma, beta: (D,). Per feature j: mu = mean of x[:, j], var = biased variance (divide by N),
    xhat = (x - mu) / sqrt(var + eps), out = gamma * xhat + beta. Returns out, of shape (N, D).
    """
    mu = np.mean(x, axis=0)
    var = np.mean((x - mu) ** 2, axis=0)
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma * xhat + beta


def batchnorm_backward(dout, x, gamma, beta, eps=1e-5):
    """Backward pass of batchnorm_forward (training mode).

    dout: (N, D) upstream gradient; x, gamma, beta, eps: the inputs of the forward pass.
    Returns (dx, dgamma, dbeta), with the shapes of x, gamma and beta.
    """
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    std = np.sqrt(np.mean(centred * centred, axis=0) + eps)
    xhat = centred / std
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * np.sum(dxhat * xhat, axis=0)) / (n * std)
    return dx, dgamma, dbeta

def dropout_mask(shape, p, seed):
    """Boolean keep-mask for inverted dropout: each entry is True (kept) with probability 1 - p.

    shape: tuple or list of ints; p: drop probability in [0, 1); seed: int for np.random.default_rng.
    Equal seeds must give equal masks. Returns a bool array of the given shape.
    """
    rng = np.random.default_rng(seed)
    return rng.random(tuple(shape)) >= p


def dropout_forward(x, p, mask):
    """Inverted dropout in training mode: out = x * mask / (1 - p), mask a bool array shaped like x."""
    return x * mask / (1 - p)


def dropout_backward(dout, p, mask):
    """Gradient of dropout_forward with respect to x, given dout = dL/dout."""
    return dout * mask / (1 - p)


def dropout_layer(x, p, mode, seed):
    """Dropout as a layer: mode "train" applies dropout_forward with dropout_mask(x.shape, p, seed); mode "eval"
    returns x unchanged (inverted dropout needs no rescaling at test time); any other mode raises ValueError."""
    if mode == "train":
        return dropout_forward(x, p, dropout_mask(x.shape, p, seed))
    if mode == "eval":
        return x
    raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")

def numerical_gradient(f, x, h=1e-5):
    """Central-difference gradient of a scalar function f at the array x.

    grad[i] = (f(x + h e_i) - f(x - h e_i)) / (2 h) for every index i of x (any shape).
    The caller's x must be left unchanged. Returns a float64 array shaped like x.
    """
    x = np.array(x, dtype=np.float64)  # private copy: the caller's array is never written to
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        f_plus = f(x)
        x[i] = old - h
        f_minus = f(x)
        x[i] = old  # restore the entry before moving on
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad
