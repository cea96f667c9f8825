"""Reference solution of ps2_optimizers.ipynb, generated from it (do not edit; regenerate with
`python -m autograder.reference_source solutions/ps2_optimizers/ps2_optimizers.ipynb`). Hidden tests
import it as `import mfdl_reference as ref`; Otter ships it in the autograder only."""
import numpy as np

def gradient_descent(A, b, x0, lr, num_steps):
    """Gradient descent on f(x) = 1/2 x^T A x - b^T x with a constant step size.

    A: (d, d) symmetric positive definite, b: (d,), x0: (d,) starting point, lr: step size eta,
    num_steps: number of steps K. Returns the iterates x_0, x_1, ..., x_K as an array of shape (K + 1, d),
    where x_{k+1} = x_k - lr * (A x_k - b).
    """
    x = np.array(x0, dtype=float)
    path = [x]
    for _ in range(num_steps):
        grad = A @ x - b
        x = x - lr * grad
        path.append(x)
    return np.stack(path)

def heavy_ball(A, b, x0, lr, momentum, num_steps):
    """Polyak's heavy-ball method on f(x) = 1/2 x^T A x - b^T x.

    x_{k+1} = x_k - lr * grad f(x_k) + momentum * (x_k - x_{k-1}), with x_{-1} = x_0 (the first step is a
    plain gradient step, as torch.optim.SGD(lr, momentum) does). Returns x_0..x_K, shape (K + 1, d).
    """
    x = np.array(x0, dtype=float)
    x_prev = x.copy()  # x_{-1} = x_0: the first step is a plain gradient step
    iterates = [x]
    for _ in range(num_steps):
        x_next = x - lr * (A @ x - b) + momentum * (x - x_prev)
        x_prev, x = x, x_next
        iterates.append(x)
    return np.stack(iterates)

def nesterov(A, b, x0, lr, momentum, num_steps):
    """Nesterov's accelerated gradient (constant momentum) on f(x) = 1/2 x^T A x - b^T x.

    y_k = x_k + momentum * (x_k - x_{k-1}),  x_{k+1} = y_k - lr * grad f(y_k),  with x_{-1} = x_0.
    Returns x_0..x_K (not the y's), shape (K + 1, d).
    """
    x = np.array(x0, dtype=float)
    x_prev = x.copy()
    iterates = [x]
    for _ in range(num_steps):
        y = x + momentum * (x - x_prev)
        x_next = y - lr * (A @ y - b)
        x_prev, x = x, x_next
        iterates.append(x)
    return np.stack(iterates)

def diminishing_lr(theta, num_steps):
    """Step sizes theta / k for the steps k = 1, ..., num_steps (the first step uses theta / 1).
    Returns an array of shape (num_steps,)."""
    k = np.arange(1, num_steps + 1)
    return theta / k


def sgd(A, b, x0, noise, lr):
    """SGD on f(x) = 1/2 x^T A x - b^T x with the additive-noise gradient oracle g_k = A x_k - b + noise_k.

    noise: array of shape (K, d) for one run, or (R, K, d) for R independent runs (vectorise over runs);
    lr: a number (constant step) or an array of K step sizes (lr[k] is used for the step from x_k to x_{k+1}).
    x_{k+1} = x_k - lr_k * (A x_k - b + noise[k]). Returns the iterates x_0..x_K: shape (K + 1, d), or
    (R, K + 1, d) for a batch of runs (every run starts at x0).
    """
    noise = np.asarray(noise, dtype=float)
    num_steps, d = noise.shape[-2], noise.shape[-1]
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (num_steps,))
    x = np.broadcast_to(np.asarray(x0, dtype=float), noise.shape[:-2] + (d,)).copy()
    iterates = [x]
    for k in range(num_steps):
        grad = x @ A.T - b + noise[..., k, :]
        x = x - steps[k] * grad
        iterates.append(x)
    return np.stack(iterates, axis=-2)

def adagrad(grads, x0, lr, eps=1e-10):
    """AdaGrad (diagonal; PyTorch's Adagrad with lr_decay = 0 and initial_accumulator_value = 0) driven by a
    given sequence of gradients.

    grads: (T, d), grads[t-1] is the gradient used at step t; lr: a number or an array of T step sizes.
    s_t = s_{t-1} + g_t^2,  x_t = x_{t-1} - lr_t * g_t / (sqrt(s_t) + eps). Returns x_0..x_T, shape (T + 1, d).
    """
    grads = np.asarray(grads, dtype=float)
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (grads.shape[0],))
    x = np.array(x0, dtype=float)
    sum_sq = np.zeros_like(x)
    iterates = [x]
    for t, g in enumerate(grads):
        sum_sq = sum_sq + g * g
        x = x - steps[t] * g / (np.sqrt(sum_sq) + eps)
        iterates.append(x)
    return np.stack(iterates)

def rmsprop(grads, x0, lr, alpha=0.99, eps=1e-8):
    """RMSProp (PyTorch's RMSprop: no momentum, not centred, no bias correction) driven by given gradients.

    v_t = alpha v_{t-1} + (1 - alpha) g_t^2 with v_0 = 0,  x_t = x_{t-1} - lr_t * g_t / (sqrt(v_t) + eps).
    Returns x_0..x_T, shape (T + 1, d).
    """
    grads = np.asarray(grads, dtype=float)
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (grads.shape[0],))
    x = np.array(x0, dtype=float)
    avg_sq = np.zeros_like(x)
    iterates = [x]
    for t, g in enumerate(grads):
        avg_sq = alpha * avg_sq + (1 - alpha) * g * g
        x = x - steps[t] * g / (np.sqrt(avg_sq) + eps)
        iterates.append(x)
    return np.stack(iterates)

def adam(grads, x0, lr, beta1=0.9, beta2=0.999, eps=1e-8, amsgrad=False, bounds=None):
    """Adam (Kingma & Ba 2015, Algorithm 1 = PyTorch's Adam) driven by given gradients; AMSGrad if amsgrad.

    m_t = beta1 m_{t-1} + (1 - beta1) g_t,  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2  (m_0 = v_0 = 0),
    AMSGrad only: vmax_t = max(vmax_{t-1}, v_t) (running maximum of the raw v, vmax_0 = 0), used instead of v_t,
    x_t = x_{t-1} - lr_t * (m_t / (1 - beta1^t)) / (sqrt(v_t / (1 - beta2^t)) + eps),
    then, if bounds = (lo, hi) is given, x_t is clipped to [lo, hi] (projection onto the box).
    grads: (T, d); lr: a number or an array of T step sizes. Returns x_0..x_T, shape (T + 1, d).
    """
    grads = np.asarray(grads, dtype=float)
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (grads.shape[0],))
    x = np.array(x0, dtype=float)
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    v_max = np.zeros_like(x)
    iterates = [x]
    for t in range(1, grads.shape[0] + 1):
        g = grads[t - 1]
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_used = v_max
        else:
            v_used = v
        m_hat = m / (1 - beta1 ** t)
        v_hat = v_used / (1 - beta2 ** t)
        x = x - steps[t - 1] * m_hat / (np.sqrt(v_hat) + eps)
        if bounds is not None:
            x = np.clip(x, bounds[0], bounds[1])
        iterates.append(x)
    return np.stack(iterates)

def sgd_options(A, b, x0, lr, num_steps, momentum=0.0, dampening=0.0, weight_decay=0.0):
    """torch.optim.SGD on f(x) = 1/2 x^T A x - b^T x: coupled weight decay, momentum with dampening.

    g_k = A x_k - b + weight_decay * x_k; with momentum: buf_0 = g_0, buf_k = momentum buf_{k-1} + (1 - dampening) g_k
    and x_{k+1} = x_k - lr buf_k; without momentum x_{k+1} = x_k - lr g_k. Returns x_0..x_K, shape (K + 1, d).
    """
    x = np.array(x0, dtype=float)
    buf = None
    iterates = [x]
    for _ in range(num_steps):
        g = A @ x - b + weight_decay * x  # coupled L2: the gradient of f(x) + weight_decay / 2 ||x||^2
        if momentum != 0:
            buf = g if buf is None else momentum * buf + (1 - dampening) * g
            g = buf
        x = x - lr * g
        iterates.append(x)
    return np.stack(iterates)


def adamw(grads, x0, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2):
    """AdamW (Loshchilov & Hutter 2019 = torch.optim.AdamW) driven by given gradients: decoupled weight decay.

    x_t = (1 - lr_t weight_decay) x_{t-1} - lr_t m_hat_t / (sqrt(v_hat_t) + eps), with Adam's m_t, v_t and bias
    corrections computed from g_t alone. grads: (T, d); lr: a number or T step sizes. Returns x_0..x_T.
    """
    grads = np.asarray(grads, dtype=float)
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (grads.shape[0],))
    x = np.array(x0, dtype=float)
    mom = np.zeros_like(x)
    sq = np.zeros_like(x)
    iterates = [x]
    for t in range(1, grads.shape[0] + 1):
        g = grads[t - 1]
        x = x * (1 - steps[t - 1] * weight_decay)  # decoupled decay first, as torch.optim.AdamW does
        mom = beta1 * mom + (1 - beta1) * g
        sq = beta2 * sq + (1 - beta2) * g * g
        x = x - steps[t - 1] * (mom / (1 - beta1 ** t)) / (np.sqrt(sq / (1 - beta2 ** t)) + eps)
        iterates.append(x)
    return np.stack(iterates)


def adam_l2(grads, x0, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam with weight_decay: coupled L2, g'_t = g_t + weight_decay x_{t-1} enters m_t and v_t, then
    Adam's step (question 7). grads: (T, d); lr: a number or T step sizes. Returns x_0..x_T, shape (T + 1, d).
    """
    grads = np.asarray(grads, dtype=float)
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (grads.shape[0],))
    x = np.array(x0, dtype=float)
    m1 = np.zeros_like(x)
    m2 = np.zeros_like(x)
    iterates = [x]
    for t in range(1, grads.shape[0] + 1):
        g = grads[t - 1] + weight_decay * x  # coupled L2: the penalty's gradient joins the data gradient
        m1 = beta1 * m1 + (1 - beta1) * g
        m2 = beta2 * m2 + (1 - beta2) * g * g
        x = x - steps[t - 1] * (m1 / (1 - beta1 ** t)) / (np.sqrt(m2 / (1 - beta2 ** t)) + eps)
        iterates.append(x)
    return np.stack(iterates)


def rmsprop_options(grads, x0, lr, alpha=0.99, eps=1e-8, momentum=0.0, centered=False):
    """torch.optim.RMSprop with momentum and centring, driven by given gradients.

    v_t = alpha v_{t-1} + (1 - alpha) g_t^2; centred: gbar_t = alpha gbar_{t-1} + (1 - alpha) g_t and
    denominator sqrt(v_t - gbar_t^2) + eps, else sqrt(v_t) + eps; momentum: b_t = momentum b_{t-1} + g_t / denominator
    (b_0 = 0), x_t = x_{t-1} - lr_t b_t; without momentum x_t = x_{t-1} - lr_t g_t / denominator. Returns x_0..x_T.
    """
    grads = np.asarray(grads, dtype=float)
    steps = np.broadcast_to(np.asarray(lr, dtype=float), (grads.shape[0],))
    x = np.array(x0, dtype=float)
    sq_avg = np.zeros_like(x)
    g_avg = np.zeros_like(x)
    buf = np.zeros_like(x)
    iterates = [x]
    for t, g in enumerate(grads):
        sq_avg = alpha * sq_avg + (1 - alpha) * g ** 2
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            denom = np.sqrt(sq_avg - g_avg ** 2) + eps  # the variance estimate v_t - gbar_t^2
        else:
            denom = np.sqrt(sq_avg) + eps
        if momentum > 0:
            buf = momentum * buf + g / denom
            x = x - steps[t] * buf
        else:
            x = x - steps[t] * g / denom
        iterates.append(x)
    return np.stack(iterates)
