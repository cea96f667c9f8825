"""Reference solution of ps3_qlearning.ipynb, generated from it (do not edit; regenerate with
`python -m autograder.reference_source solutions/ps3_qlearning/ps3_qlearning.ipynb`). Hidden tests
import it as `import mfdl_reference as ref`; Otter ships it in the autograder only."""
import numpy as np

def mdp_from_table(table, n_states, n_actions):
    """Arrays (P, R, terminal) from a gymnasium-style table {s: {a: [(p, next_state, reward, done), ...]}}."""
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    terminal = np.zeros(n_states, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            for p, s_next, r, done in table[s][a]:
                P[s, a, s_next] += p
                R[s, a] += p * r
                if done:
                    terminal[s_next] = True
    return P, R, terminal

def q_values(P, R, terminal, gamma, V):
    """Q[s, a] = R[s, a] + gamma * sum_t P[s, a, t] V[t] for non-terminal s; Q[s, :] = 0 for terminal s.

    P: (S, A, S), R: (S, A), terminal: (S,) bool, gamma: float, V: (S,) with V = 0 at terminal states.
    Returns Q, of shape (S, A).
    """
    Q = R + gamma * (P @ V)
    return np.where(terminal[:, None], 0.0, Q)


def bellman_optimality(P, R, terminal, gamma, V):
    """(T V)(s) = max_a Q[s, a] (0 at terminal states). Returns an array of shape (S,)."""
    return q_values(P, R, terminal, gamma, V).max(axis=1)


def greedy_policy(P, R, terminal, gamma, V):
    """The greedy policy of V: argmax_a Q[s, a] in every state (lowest index among ties), integers of shape (S,)."""
    return np.argmax(q_values(P, R, terminal, gamma, V), axis=1)


def bellman_optimality_q(P, R, terminal, gamma, Q):
    """(T Q)(s, a) = R[s, a] + gamma * sum_t P[s, a, t] max_a' Q[t, a'] for non-terminal s; (T Q)(s, :) = 0 for
    terminal s. Q: (S, A), 0 at terminal states. Returns T Q, of shape (S, A)."""
    TQ = R + gamma * (P @ Q.max(axis=1))
    return np.where(terminal[:, None], 0.0, TQ)

def value_iteration(P, R, terminal, gamma, eps):
    """Value iteration from V_0 = 0 until ||V_(k+1) - V_k||_inf < eps (1 - gamma) / (2 gamma).

    Returns (V, policy, n_backups): V = V_(k+1), its greedy policy (ints, shape (S,)), and k + 1.
    """
    threshold = eps * (1 - gamma) / (2 * gamma)
    V = np.zeros_like(R[:, 0])
    n_backups = 0
    while True:
        V_new = bellman_optimality(P, R, terminal, gamma, V)
        n_backups += 1
        if np.max(np.abs(V_new - V)) < threshold:
            break
        V = V_new
    return V_new, greedy_policy(P, R, terminal, gamma, V_new), n_backups

def policy_evaluation(P, R, terminal, gamma, policy):
    """V^pi for a stochastic policy (S, A) by solving (I - gamma P_pi) V = R_pi on the non-terminal states.

    Returns V of shape (S,), 0 at terminal states.
    """
    live = ~terminal
    P_pi = np.einsum("sa,sat->st", policy, P)
    R_pi = np.sum(policy * R, axis=1)
    A = np.eye(int(live.sum())) - gamma * P_pi[np.ix_(live, live)]
    V = np.zeros(R.shape[0])
    V[live] = np.linalg.solve(A, R_pi[live])
    return V

def policy_iteration(P, R, terminal, gamma, policy0, tol=1e-9):
    """Policy iteration from the deterministic policy policy0 (ints, shape (S,)).

    Switch a state's action only if the greedy one is better by more than tol; stop when nothing switches.
    Returns (V, policy): the value of the final policy (shape (S,)) and the policy (ints, shape (S,)).
    """
    n_states, n_actions = R.shape
    states = np.arange(n_states)
    policy = np.array(policy0, dtype=int)
    while True:
        V = policy_evaluation(P, R, terminal, gamma, np.eye(n_actions)[policy])
        Q = q_values(P, R, terminal, gamma, V)
        best = np.argmax(Q, axis=1)
        switch = Q[states, best] > Q[states, policy] + tol
        if not np.any(switch):
            return V, policy
        policy = np.where(switch, best, policy)

def epsilon_greedy(Q, states, eps, seed):
    """One epsilon-greedy action per entry of states: argmax_a Q[s, a] with probability 1 - eps, a uniformly random
    action (out of all A) with probability eps. Uses np.random.default_rng(seed); returns ints shaped like states.
    """
    rng = np.random.default_rng(seed)
    states = np.asarray(states)
    n_actions = Q.shape[1]
    greedy = np.argmax(Q[states], axis=-1)
    explore = rng.random(states.shape) < eps
    random_actions = rng.integers(n_actions, size=states.shape)
    return np.where(explore, random_actions, greedy)

def q_update(Q, s, a, r, s_next, done, alpha, gamma):
    """One Q-learning update of entry (s, a); returns a new table (Q is left unchanged).

    Target: r if done, else r + gamma * max_a' Q[s_next, a']. New value: (1 - alpha) Q[s, a] + alpha * target.
    """
    target = r if done else r + gamma * np.max(Q[s_next])
    new = np.array(Q, copy=True)
    new[s, a] = new[s, a] + alpha * (target - new[s, a])
    return new


def q_learning_replay(Q0, states, actions, rewards, next_states, dones, gamma, alpha):
    """Replay transitions in order with q_update; transition t uses alpha(n), n = number of updates of its own
    pair (s, a) so far, this one included. Returns the final table."""
    Q = np.array(Q0, copy=True)
    counts = np.zeros(Q.shape, dtype=int)
    for s, a, r, s_next, done in zip(states, actions, rewards, next_states, dones):
        counts[s, a] += 1
        Q = q_update(Q, s, a, r, s_next, done, alpha(counts[s, a]), gamma)
    return Q

def q_learning_sync(P, R, terminal, gamma, n_iterations, alpha, seed):
    """Synchronous Q-learning: T = n_iterations sweeps, each updating every non-terminal pair from a sampled next
    state, with step size alpha(k) at sweep k = 1..T. Q_0 = 0; rows of terminal states stay 0.
    Randomness from np.random.default_rng(seed). Returns Q_T of shape (S, A)."""
    rng = np.random.default_rng(seed)
    n_states, n_actions = R.shape
    cdf = np.cumsum(P, axis=2)
    live = ~np.asarray(terminal)[:, None]
    Q = np.zeros((n_states, n_actions))
    for k in range(1, n_iterations + 1):
        u = rng.random((n_states, n_actions, 1))
        s_next = np.minimum(np.sum(cdf <= u, axis=2), n_states - 1)   # first t with cdf > u
        target = R + gamma * Q.max(axis=1)[s_next]
        Q = np.where(live, Q + alpha(k) * (target - Q), 0.0)
    return Q
