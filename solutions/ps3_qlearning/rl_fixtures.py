"""Fixtures for problem set 3 (value iteration and Q-learning): MDPs as arrays, and their exact solutions in
rational arithmetic. Shipped with the notebook (`files` of its ASSIGNMENT CONFIG, so stock Otter has it too);
the tests import it as `import rl_fixtures` (numpy and the standard library only).

An MDP is three arrays: `P` of shape (S, A, S) with P[s, a, s'] the probability of moving from s to s' under
action a, `R` of shape (S, A) with the expected immediate reward, and a boolean `terminal` of shape (S,).
Terminal states are absorbing and worth 0; their rows of P and R are never read.

Exactness. Every float is a rational number, so the exact solution of the float data that a student receives
can be computed with `fractions.Fraction`: no rounding separates it from the truth. The gymnasium tables are
first rationalised (gymnasium stores the slippery probabilities as 0.33333333333333337, 0.3333333333333333,
0.33333333333333337, whose sum is 1 + 2^-54 and whose order depends on the action, which breaks the symmetric
ties); the arrays here hold the nearest floats of the intended rationals (1/3), identical across actions.

Optimal values are *certified*: a float64 policy iteration proposes a policy, then exact policy iteration in
rational arithmetic runs from it until no action improves any state exactly. At that point V^pi is a fixed
point of the Bellman optimality operator T, and
  * gamma < 1: T is a gamma-contraction in the max norm, so its fixed point is unique and equals V*
    (Puterman 1994, Thm 6.2.3; Banach fixed-point theorem);
  * gamma = 1, all rewards >= 0 (a "positive" model such as FrozenLake: V* is the maximal probability of
    reaching the goal): value iteration from 0 increases to V* (Puterman 1994, §7.2, positive bounded models), so
    every nonnegative fixed point W satisfies W = T^n W >= T^n 0 -> V*; and V^pi <= V* for any policy. Hence
    V^pi = V*. Exact policy iteration started from a proper policy (one that reaches a terminal state with
    probability 1) stays proper: a closed class of non-terminal states of the new policy would need a strict
    improvement inside it, which a stationary-distribution average rules out;
  * gamma = 1, every non-terminal reward < 0 (a stochastic shortest path problem such as CliffWalking): every
    improper policy has value -infinity somewhere, so starting from a proper policy, policy iteration keeps
    policies proper and the Bellman equation has the unique solution V* (Bertsekas & Tsitsiklis 1991, Math.
    Oper. Res. 16(3), Prop. 2; Bertsekas & Tsitsiklis, Neuro-Dynamic Programming 1996, §2.2).
At gamma = 1 the caller must therefore give a proper starting policy; `proper` checks it exactly.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

# gymnasium's FrozenLake action order, used for every grid world here: 0 LEFT, 1 DOWN, 2 RIGHT, 3 UP
LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
_MOVES = {LEFT: (0, -1), DOWN: (1, 0), RIGHT: (0, 1), UP: (-1, 0)}


# ----------------------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------------------
def _from_table(table: dict, n_states: int, n_actions: int, denominator: int = 10 ** 6):
    """Arrays from a gymnasium-style table {s: {a: [(p, s', r, done), ...]}}."""
    P = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    terminal = np.zeros(n_states, dtype=bool)
    for s in range(n_states):
        for a in range(n_actions):
            probs: dict = {}
            reward = Fraction(0)
            for p, s_next, r, done in table[s][a]:
                p = Fraction(p).limit_denominator(denominator)
                probs[int(s_next)] = probs.get(int(s_next), Fraction(0)) + p
                reward += p * Fraction(r)
                if done:
                    terminal[int(s_next)] = True
            if sum(probs.values()) != 1:
                raise ValueError(f"transition probabilities of ({s}, {a}) do not sum to 1")
            for s_next, p in probs.items():
                P[s, a, s_next] = float(p)
            R[s, a] = float(reward)
    return P, R, terminal


def gymnasium_mdp(env_id: str, **kwargs):
    """(P, R, terminal, start) from a gymnasium toy-text environment's transition table `env.unwrapped.P`."""
    import gymnasium

    env = gymnasium.make(env_id, **kwargs).unwrapped
    n_states, n_actions = env.observation_space.n, env.action_space.n
    P, R, terminal = _from_table(env.P, n_states, n_actions)
    start = int(np.argmax(env.initial_state_distrib))
    env.close()
    return P, R, terminal, start


def frozen_lake(map_name: str = "4x4", slippery: bool = True):
    return gymnasium_mdp("FrozenLake-v1", map_name=map_name, is_slippery=slippery)


def cliff_walking():
    return gymnasium_mdp("CliffWalking-v1")


def _grid(rows: int, cols: int, step):
    """Deterministic grid world: step(r, c, action) -> (r', c', reward)."""
    S = rows * cols
    P = np.zeros((S, 4, S))
    R = np.zeros((S, 4))
    for r in range(rows):
        for c in range(cols):
            for a in range(4):
                r2, c2, reward = step(r, c, a)
                P[r * cols + c, a, r2 * cols + c2] = 1.0
                R[r * cols + c, a] = reward
    return P, R


def sutton_barto_gridworld():
    """Sutton & Barto (2018), Example 3.5 / 3.8: 5x5 grid, moves off the grid cost 1 and stay; every action in
    A = (0, 1) earns +10 and jumps to A' = (4, 1), every action in B = (0, 3) earns +5 and jumps to B' = (2, 3).
    No terminal states (a continuing task; the book uses gamma = 0.9). Returns (P, R, terminal)."""
    def step(r, c, a):
        if (r, c) == (0, 1):
            return 4, 1, 10.0
        if (r, c) == (0, 3):
            return 2, 3, 5.0
        dr, dc = _MOVES[a]
        if 0 <= r + dr < 5 and 0 <= c + dc < 5:
            return r + dr, c + dc, 0.0
        return r, c, -1.0
    P, R = _grid(5, 5, step)
    return P, R, np.zeros(25, dtype=bool)


def sutton_barto_example_4_1():
    """Sutton & Barto (2018), Example 4.1: 4x4 grid, reward -1 on every step, the two shaded corners (states 0
    and 15) terminal, moves off the grid stay. Undiscounted. Returns (P, R, terminal)."""
    def step(r, c, a):
        dr, dc = _MOVES[a]
        if 0 <= r + dr < 4 and 0 <= c + dc < 4:
            return r + dr, c + dc, -1.0
        return r, c, -1.0
    P, R = _grid(4, 4, step)
    terminal = np.zeros(16, dtype=bool)
    terminal[[0, 15]] = True
    return P, R, terminal


def skewed_branching(n_sources: int = 8, n_actions: int = 4, p_high: Fraction = Fraction(7, 8)):
    """A fixture that makes Q-learning count its own next-state draws (problem set 3, question 7).

    States 0 .. n_sources - 1 are *sources*: reward 0, and every action moves to the *high sink* (state
    n_sources + 1) with probability p_high and to the *low sink* (state n_sources) otherwise. Every action of the
    high sink earns 1 and of the low sink 0, and enters the terminal state n_sources + 2. p_high = 7/8 is dyadic,
    so P and its cumulative sums are exact in float32 and float64: a correct inverse-CDF sampler draws the high
    sink with probability exactly 7/8 from uniforms on any binary grid. Drawing uniformly among the possible next
    states gives 1/2 instead, uniformly among all states far less.

    With alpha_k = 1/k and Q_0 = 0, synchronous Q-learning gives exactly: Q_k(high sink, .) = 1 and
    Q_k(low sink, .) = 0 for k >= 1, so the target of a source pair at sweep k >= 2 is gamma * 1[s'_k = high
    sink] (at sweep 1 it is 0), and Q_T is the running mean of the targets:
        Q_T(s, a) = gamma C(s, a) / T,   C(s, a) = #{k = 2..T : s'_k = high sink} ~ Binomial(T - 1, p_high),
    independent over source pairs. Returns (P, R, terminal, sources) with sources = np.arange(n_sources)."""
    low, high, end = n_sources, n_sources + 1, n_sources + 2
    S = n_sources + 3
    P = np.zeros((S, n_actions, S))
    R = np.zeros((S, n_actions))
    P[:n_sources, :, high] = float(p_high)
    P[:n_sources, :, low] = float(1 - p_high)
    P[[low, high, end], :, end] = 1.0
    R[high] = 1.0
    terminal = np.zeros(S, dtype=bool)
    terminal[end] = True
    return P, R, terminal, np.arange(n_sources)


# ----------------------------------------------------------------------------------------------------------
# Exact arithmetic
# ----------------------------------------------------------------------------------------------------------
def _fr(x) -> Fraction:
    return x if isinstance(x, Fraction) else Fraction(float(x))


def solve_exact(A: list, b: list) -> list:
    """Solve A x = b in rational arithmetic (Gauss-Jordan elimination; rows of Fractions). Raises
    ZeroDivisionError if A is singular."""
    n = len(A)
    M = [list(row) + [bi] for row, bi in zip(A, b)]
    for col in range(n):
        piv = next((r for r in range(col, n) if M[r][col] != 0), None)
        if piv is None:
            raise ZeroDivisionError("singular system")
        M[col], M[piv] = M[piv], M[col]
        inv = 1 / M[col][col]
        pivot_row = [v * inv if v else v for v in M[col]]
        M[col] = pivot_row
        nz = [j for j, v in enumerate(pivot_row) if v]
        for r in range(n):
            f = M[r][col]
            if r != col and f:
                row = M[r]
                for j in nz:
                    row[j] -= f * pivot_row[j]
    return [M[r][n] for r in range(n)]


class ExactMDP:
    """The float arrays (P, R, terminal, gamma) as exact rationals, with sparse transition lists."""

    def __init__(self, P, R, terminal, gamma, denominator=None):
        """`denominator`: if given, read every probability and reward as the nearest rational with at most this
        denominator (e.g. 1/3 instead of its float), to solve the intended model rather than the float data."""
        P, R = np.asarray(P, dtype=np.float64), np.asarray(R, dtype=np.float64)
        self.S, self.A = R.shape
        self.terminal = np.asarray(terminal, dtype=bool)
        self.gamma = _fr(gamma)
        rat = _fr if denominator is None else (lambda x: _fr(x).limit_denominator(denominator))
        self.R = [[rat(R[s, a]) for a in range(self.A)] for s in range(self.S)]
        self.P = [[[(int(t), rat(P[s, a, t])) for t in np.flatnonzero(P[s, a])] for a in range(self.A)]
                  for s in range(self.S)]
        self.live = [s for s in range(self.S) if not self.terminal[s]]

    def _policy_matrix(self, policy):
        pol = np.asarray(policy)
        if pol.ndim == 1:
            return [[Fraction(int(pol[s] == a)) for a in range(self.A)] for s in range(self.S)]
        return [[_fr(pol[s, a]) for a in range(self.A)] for s in range(self.S)]

    def policy_value(self, policy) -> list:
        """V^pi exactly (Fractions, 0 at terminal states); policy: (S,) actions or (S, A) probabilities."""
        pi = self._policy_matrix(policy)
        index = {s: i for i, s in enumerate(self.live)}
        n = len(self.live)
        A = [[Fraction(0)] * n for _ in range(n)]
        b = [Fraction(0)] * n
        for i, s in enumerate(self.live):
            A[i][i] += 1
            for a in range(self.A):
                w = pi[s][a]
                if not w:
                    continue
                b[i] += w * self.R[s][a]
                for t, p in self.P[s][a]:
                    if t in index:
                        A[i][index[t]] -= self.gamma * w * p
        x = solve_exact(A, b)
        V = [Fraction(0)] * self.S
        for i, s in enumerate(self.live):
            V[s] = x[i]
        return V

    def q_values(self, V) -> list:
        """Q(s, a) = R(s, a) + gamma sum_s' P(s'|s, a) V(s') exactly, 0 at terminal states (V read only at
        non-terminal states)."""
        V = [_fr(v) for v in V]
        Q = []
        for s in range(self.S):
            if self.terminal[s]:
                Q.append([Fraction(0)] * self.A)
                continue
            Q.append([self.R[s][a] + self.gamma * sum((p * V[t] for t, p in self.P[s][a] if not self.terminal[t]),
                                                      Fraction(0)) for a in range(self.A)])
        return Q

    def proper(self, policy) -> bool:
        """Does the deterministic policy reach a terminal state with probability 1 from every state?"""
        pol = np.asarray(policy)
        reach = set(np.flatnonzero(self.terminal).tolist())
        changed = True
        while changed:
            changed = False
            for s in self.live:
                if s not in reach and any(t in reach for t, _ in self.P[s][int(pol[s])]):
                    reach.add(s)
                    changed = True
        return len(reach) == self.S

    def optimal(self, policy0=None):
        """(V*, Q*, pi*) exactly, certified as explained in the module docstring."""
        if self.gamma > 1 or self.gamma < 0:
            raise ValueError("gamma must lie in [0, 1]")
        if self.gamma == 1:
            rewards = [self.R[s][a] for s in self.live for a in range(self.A)]
            if not (all(r >= 0 for r in rewards) or all(r < 0 for r in rewards)):
                raise ValueError("gamma = 1 needs a positive model or a stochastic shortest path problem")
            if policy0 is None or not self.proper(policy0):
                raise ValueError("gamma = 1 needs a proper starting policy")
            pi = [int(a) for a in policy0]
        else:
            pi = list(float_policy_iteration(self)) if policy0 is None else [int(a) for a in policy0]
        while True:
            V = self.policy_value(pi)
            Q = self.q_values(V)
            changed = False
            for s in self.live:
                best = max(Q[s])
                if Q[s][pi[s]] < best:
                    pi[s] = Q[s].index(best)
                    changed = True
            if not changed:
                return V, Q, pi


def float_policy_iteration(mdp: ExactMDP, max_iter: int = 1000) -> np.ndarray:
    """A float64 policy iteration (gamma < 1) that proposes the policy exact policy iteration starts from."""
    S, A = mdp.S, mdp.A
    P = np.zeros((S, A, S))
    R = np.array([[float(r) for r in row] for row in mdp.R])
    for s in range(S):
        for a in range(A):
            for t, p in mdp.P[s][a]:
                P[s, a, t] = float(p)
    live = ~mdp.terminal
    P[:, :, ~live] = 0.0
    gamma = float(mdp.gamma)
    pi = np.zeros(S, dtype=int)
    for _ in range(max_iter):
        Ppi = P[np.arange(S), pi][np.ix_(live, live)]
        V = np.zeros(S)
        V[live] = np.linalg.solve(np.eye(int(live.sum())) - gamma * Ppi, R[np.arange(S), pi][live])
        Q = R + gamma * P @ V
        Q[~live] = 0.0
        new = np.where(Q[np.arange(S), pi] + 1e-12 * (1 + np.abs(V)) < Q.max(axis=1), Q.argmax(axis=1), pi)
        if np.array_equal(new, pi):
            break
        pi = new
    return pi


def optimal_action_sets(Q) -> list:
    """For each state the set of actions a with Q(s, a) = max_b Q(s, b), exactly."""
    return [{a for a, q in enumerate(row) if q == max(row)} for row in Q]


def action_gaps(Q, terminal) -> np.ndarray:
    """gap(s) = max_a Q(s, a) - max over the NON-optimal actions of Q(s, a), exactly, as a float (inf when all
    actions are optimal, and at terminal states). A greedy policy of any Q' with max|Q' - Q| < gap(s)/2 at s
    picks an optimal action at s. This is the set-based gap: two tied best actions (FrozenLake's state 6,
    LEFT and RIGHT) both count as optimal, so a tie does not make the gap 0."""
    gaps = np.full(len(Q), np.inf)
    for s, row in enumerate(Q):
        if terminal[s]:
            continue
        best = max(row)
        others = [q for q in row if q < best]
        if others:
            gaps[s] = float(best - max(others))
    return gaps


def to_float(values) -> np.ndarray:
    return np.array([[float(v) for v in row] for row in values]) if values and isinstance(values[0], list) \
        else np.array([float(v) for v in values])
