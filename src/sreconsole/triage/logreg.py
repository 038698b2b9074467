"""A multinomial logistic regression over the TRM's own input features.

It is the floor every triage figure is reported beside (``eval triage``, the training
board), and, where it measures better than the TRM on the held-out alerts, the model that
proposes (``triage.model = "logreg"``; bench/README.md says which won and by how much).

Fitted with L-BFGS (scipy) on the weighted cross-entropy plus an L2 penalty: a convex
problem, so the same rows give the same weights on every machine, in about a second for
the shipped dataset. Inference is one matrix product in numpy.
"""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def fit_logreg(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    sample_weight: np.ndarray | None = None,
    l2: float = 1e-3,
    max_iter: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """(weight [C, D], bias [C]) minimising the weighted mean cross-entropy + ``l2``·|W|²/2.

    ``sample_weight`` lets rare actions and operators' decisions count for more than the
    rule-labelled majority; the weights are normalised to mean 1, so ``l2`` means the same
    whatever they are.
    """
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.mean() if n else w
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W = theta[: n_classes * d].reshape(n_classes, d)
        b = theta[n_classes * d :]
        z = x @ W.T + b
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        value = -(w * (onehot * logp).sum(axis=1)).mean() + 0.5 * l2 * float((W * W).sum())
        g = (np.exp(logp) - onehot) * w[:, None] / n
        grad_w = g.T @ x + l2 * W
        return value, np.concatenate([grad_w.ravel(), g.sum(axis=0)])

    theta0 = np.zeros(n_classes * d + n_classes)
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    W = res.x[: n_classes * d].reshape(n_classes, d).astype(np.float32)
    b = res.x[n_classes * d :].astype(np.float32)
    return W, b


def logreg_logits(weight: np.ndarray, bias: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.atleast_2d(x).astype(np.float32) @ weight.T + bias
