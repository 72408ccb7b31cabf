"""Whole-brain C. elegans pipeline: homogenized recordings and connectomes, dynamic functional
connectomes (Dyballa et al. 2024), switching GLMs (Li et al. 2024), transformer predictors
(Antoniades et al. 2024) and dynamic connectome atlases.

Subpackages, one per stage: ``recordings`` (readers and homogenization), ``connectome``,
``simulate``, ``dfc`` (affinity, tensor factorization, communities), ``glmhmm``,
``predictor``, ``atlas``. ``common`` holds the canonical neurons, atomic I/O, provenance,
logging and config validation.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pipelines")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"
