"""State-switching GLMs (one-hot HMM-GLM family) for whole-brain calcium and spike data.

Modules: ``inference`` (exact forward–backward, filtering, Viterbi), ``emissions`` (Gaussian and
Student-t autoregressive observation models), ``priors`` (none / Gaussian / one-hot connection
priors), ``mstep`` (closed-form updates), ``model`` (generalised EM and the ``SwitchingGLM``
estimator), ``select`` (choice of the number of states), ``evaluate`` (state and connectivity
metrics), ``pipeline`` (the stage's data products and mapping mode), ``planted`` (simulated
switching AR data for tests and benchmarks).
"""

from .inference import filter_predict, forward_backward, viterbi
from .model import Params, SwitchingGLM

__all__ = ["Params", "SwitchingGLM", "filter_predict", "forward_backward", "viterbi"]
