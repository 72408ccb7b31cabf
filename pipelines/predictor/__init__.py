"""Neuroformer-style activity predictor for whole-brain C. elegans calcium imaging.

Modules: ``data`` (panels, leakage-free splits, train-only normalisation, windows), ``model``
(neuron-token transformer), ``train`` (training, few-shot, rollouts, checkpoints),
``baselines`` (copy-last, per-worm ridge VAR, shared AR), ``evaluate`` (horizon-resolved
scores, behaviour decoding, rollout sanity), ``connectivity`` (attention vs connectomes) and
``pipeline`` (the workflow's entry points).
"""

from .pipeline import evaluate_recording, map_recording, prepare, train_recording

__all__ = ["evaluate_recording", "map_recording", "prepare", "train_recording"]
