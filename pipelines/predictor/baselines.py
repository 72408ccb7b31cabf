"""Baseline forecasters, fitted on the same splits as the transformer.

All work on normalised activity and share one interface: ``rollout(history, n_frames)`` maps
a (B, K, N) context (NaN for absent neurons) to (B, n_frames, N) free-running forecasts.

- :class:`CopyLast`: the last frame, forever.
- :class:`RidgeVAR`: per-worm ridge VAR(1) on changes, d[t+1] = A d[t] + c with
  d[t] = x[t] - x[t-1].
- :class:`SharedAR`: one ridge AR(k) on changes for every neuron of every training worm,
  d[t+1] = sum_j a_j d[t-j] + c (transfers to new worms by construction).

Both model the changes, not the levels: recordings drift (test blocks sit 0.5-1.8 train
standard deviations away from the train mean in Dag 2023), and a model of levels reverts to
the train mean and loses to copy-last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.common import get_logger

from .data import gather, window_origins

log = get_logger(__name__)

LAMBDAS = 10.0 ** np.arange(-1, 6)
"""Ridge penalties tried; the one with the lowest one-step validation error is kept."""


def ridge(features: np.ndarray, targets: np.ndarray, penalty: float):
    """Ridge regression with an unpenalised intercept.

    features (S, P), targets (S, Q) -> (coef (P, Q), intercept (Q,)).
    """
    mean_x, mean_y = features.mean(0), targets.mean(0)
    x, y = features - mean_x, targets - mean_y
    gram = x.T @ x + penalty * np.eye(x.shape[1])
    coef = np.linalg.solve(gram, x.T @ y)
    return coef, mean_y - mean_x @ coef


def select_ridge(train, val, lambdas=LAMBDAS):
    """Fit ridge for each penalty on ``train`` = (X, Y) and keep the best on ``val`` = (X, Y).

    Falls back to the middle penalty when the validation set is empty.
    """
    best = None
    for penalty in lambdas:
        coef, intercept = ridge(*train, penalty)
        if len(val[0]) == 0:
            return coef, intercept, float(lambdas[len(lambdas) // 2])
        error = float(np.mean((val[0] @ coef + intercept - val[1]) ** 2))
        if best is None or error < best[0]:
            best = (error, coef, intercept, float(penalty))
    return best[1], best[2], best[3]


class CopyLast:
    """Forecast = the last observed frame."""

    context = 1
    name = "copy_last"

    def rollout(self, history: np.ndarray, n_frames: int) -> np.ndarray:
        return np.repeat(history[:, -1:, :], n_frames, axis=1)


def iterate(step, history: np.ndarray, n_frames: int) -> np.ndarray:
    """Free-running rollout of a one-step map ``step`` ((B, K, N) -> (B, N))."""
    frames = []
    context = history.shape[1]
    for _ in range(n_frames):
        nxt = step(history)
        frames.append(nxt)
        history = np.concatenate([history, nxt[:, None]], axis=1)[:, -context:]
    return np.stack(frames, axis=1)


@dataclass
class RidgeVAR:
    """Per-worm ridge VAR(1) on changes over that worm's present neurons."""

    coef: np.ndarray  # (n, n) for the present neurons
    intercept: np.ndarray  # (n,)
    present: np.ndarray  # (N,) bool
    penalty: float
    context = 2
    name = "ridge_var"

    @classmethod
    def fit(cls, activity: np.ndarray, present: np.ndarray, train: tuple, val: tuple) -> RidgeVAR:
        """activity (T, N) normalised frames of one worm; train / val = (start, stop) frames."""
        x = activity[None][:, :, present]

        def pairs(block):
            worm, origin = window_origins(np.asarray([block]), 2, 1)
            change = np.diff(gather(x, worm, origin, -1, 2), axis=1)  # (S, 2, n)
            return change[:, 0], change[:, 1]

        coef, intercept, penalty = select_ridge(pairs(train), pairs(val))
        return cls(coef, intercept, present, penalty)

    def rollout(self, history: np.ndarray, n_frames: int) -> np.ndarray:
        out = np.full(history.shape[:1] + (n_frames, history.shape[2]), np.nan, np.float32)

        def step(h):
            return h[:, -1] + (h[:, -1] - h[:, -2]) @ self.coef + self.intercept

        out[:, :, self.present] = iterate(step, history[:, -2:, self.present], n_frames)
        return out


@dataclass
class SharedAR:
    """One ridge AR(k) on changes shared by all neurons and worms."""

    coef: np.ndarray  # (k,) weights of d[t], d[t-1], ..., d[t-k+1]
    intercept: float
    penalty: float
    order: int
    name = "shared_ar"

    @property
    def context(self) -> int:
        return self.order + 1

    @classmethod
    def fit(cls, activity: np.ndarray, present: np.ndarray, train_blocks: np.ndarray,
            val_blocks: np.ndarray, order: int = 8) -> SharedAR:
        """activity (W, T, N) normalised; present (W, N); blocks (W, 2) frame ranges."""

        def samples(blocks):
            worm, origin = window_origins(blocks, order + 1, 1)
            change = np.diff(gather(activity, worm, origin, -order, 2), axis=1)  # (S, k + 1, N)
            change = change.transpose(0, 2, 1)[present[worm]]  # (S * n, k + 1)
            return change[:, :order][:, ::-1], change[:, order:]

        coef, intercept, penalty = select_ridge(samples(train_blocks), samples(val_blocks))
        log.info("shared AR(%d) on changes: lambda %.3g, coefficients %s", order, penalty,
                 np.round(coef[:, 0], 3))
        return cls(coef[:, 0], float(intercept[0]), penalty, order)

    def rollout(self, history: np.ndarray, n_frames: int) -> np.ndarray:
        def step(h):
            lags = np.diff(h, axis=1)[:, ::-1]  # (B, k, N), most recent first
            return h[:, -1] + np.einsum("bkn,k->bn", lags, self.coef) + self.intercept

        return iterate(step, history[:, -self.order - 1:], n_frames)


@dataclass
class SwitchingGLMOneStep:
    """The switching GLM's one-step prediction (``pipelines.glmhmm``), fitted on the train
    blocks here so that it sees no test frame. Only horizon 1 is defined: longer horizons
    are NaN (the GLM stage does not roll out)."""

    model: object
    name = "switching_glm"
    context = 1

    @classmethod
    def fit(cls, activity: np.ndarray, present: np.ndarray, train_blocks: np.ndarray,
            n_states: int = 2, seed: int = 0) -> SwitchingGLMOneStep | None:
        """activity (W, T, N) normalised; present (W, N); train_blocks (W, 2). None when
        ``pipelines.glmhmm`` is unavailable."""
        try:
            from pipelines.glmhmm.model import SwitchingGLM
        except ImportError:
            return None
        worms = [activity[w, a:b].astype(np.float64) for w, (a, b) in enumerate(train_blocks) if b > a]
        recorded = present[[w for w, (a, b) in enumerate(train_blocks) if b > a]]
        model = SwitchingGLM(n_states, prior="gaussian", prior_options={"scale": 0.1},
                             n_restarts=1, max_iter=50, seed=seed)
        model.fit(worms, recorded)
        return cls(model)

    def predict_block(self, segment: np.ndarray, present: np.ndarray) -> np.ndarray:
        """One-step predictions (T, N) over a (T, N) block, filtered from its first frame."""
        # a 2-frame all-recorded companion sequence satisfies the GLM's check that every
        # neuron is recorded somewhere; sequences are filtered independently
        companion = np.tile([[-1.0], [1.0]], (1, segment.shape[1]))
        predicted, _ = self.model.predict(
            [np.where(present, segment, np.nan).astype(np.float64), companion],
            np.stack([present, np.ones_like(present)]))
        return predicted.astype(np.float32)
