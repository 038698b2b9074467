"""A Tiny Recursive Model (TRM) that maps an alert to a catalog action, with a confidence.

After "Less is More: Recursive Reasoning with Tiny Networks" (Jolicoeur-Martineau, 2025),
adapted from puzzles to classifying one alert:

* one tiny network (two residual SwiGLU layers) is applied recursively: a latent ``z`` is
  updated ``n`` times from (input ``x``, answer ``y``, ``z``), then ``y`` from (``y``, ``z``);
  ``T`` such recursions make one supervision step, and gradients flow only through the last;
* deep supervision: up to ``n_sup`` steps per batch, each followed by an optimiser update,
  carrying (``y``, ``z``) detached into the next step;
* a halting head reads ``y`` and is trained with binary cross-entropy on "the current
  prediction is correct". Its sigmoid after the last step, temperature-scaled on the
  validation split, is the confidence: it *estimates the probability of being right*, which
  is exactly what the review thresholds compare against;
* the weights used for evaluation and shipped are an exponential moving average.

The input ``x`` is the alert text's MiniLM embedding (the knowledge base's model) concatenated
with a hashed bag of stemmed tokens (keywords like "pvc" or "kustomization" that a
sentence embedding blurs), projected to the model width.

Training needs MLX (``mlx[cpu]`` here, unchanged on CUDA and Apple silicon). Inference does
not: :class:`TRMRunner` reads the safetensors file with numpy and runs the same arithmetic,
because MLX on CPU is dispatch-bound for tensors this small (architecture.md: ~23 ms per
supervision step at batch 1, against well under 1 ms in numpy).

The two sides change for different reasons and live apart: :mod:`~sreconsole.triage.trm_numpy`
(config, features, inference, checkpoints, calibration) and :mod:`~sreconsole.triage.trm_mlx`
(training). This module is the names callers import; it loads no MLX (``trm_mlx`` imports
it inside its functions).
"""

from __future__ import annotations

from sreconsole.triage.trm_mlx import Progress, TrainConfig, TrainResult, build_mlx_model, train
from sreconsole.triage.trm_numpy import (
    CONFIG,
    EXTRAS,
    FORMAT,
    METADATA,
    MODEL_KINDS,
    WEIGHTS,
    Calibration,
    Checkpoint,
    CheckpointError,
    NumpyTRM,
    Prediction,
    TRMConfig,
    TRMRunner,
    _expected_shapes,  # the tests build checkpoints of the right shape with it
    expected_calibration_error,
    features,
    fit_calibration,
    fit_temperature,
    hashed_tokens,
    nearest_similarity,
    novelty_factor,
    read_safetensors,
    write_safetensors,
)

__all__ = [
    "CONFIG",
    "EXTRAS",
    "FORMAT",
    "METADATA",
    "MODEL_KINDS",
    "WEIGHTS",
    "Calibration",
    "Checkpoint",
    "CheckpointError",
    "NumpyTRM",
    "Prediction",
    "Progress",
    "TRMConfig",
    "TRMRunner",
    "TrainConfig",
    "TrainResult",
    "_expected_shapes",
    "build_mlx_model",
    "expected_calibration_error",
    "features",
    "fit_calibration",
    "fit_temperature",
    "hashed_tokens",
    "nearest_similarity",
    "novelty_factor",
    "read_safetensors",
    "train",
    "write_safetensors",
]
