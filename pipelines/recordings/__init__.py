"""Recordings stage: read whole-brain calcium recordings in any common format and homogenize
them onto the canonical 300 neurons, one uniform time grid and one normalization.

Modules, one per concern:

- ``worm``: :class:`WormRecording`, the common per-worm structure every reader returns, and
  its validation.
- ``labels``: label standardization (zero padding, ``?`` ambiguity, class-only labels,
  duplicates) onto :data:`pipelines.common.NEURONS`.
- ``readers``: one module per input format (``flavell-h5``, ``nwb``, ``zimmer-mat``, ``csv``,
  ``hf``); :func:`readers.read_batch` dispatches on the format.
- ``resample``, ``smooth``, ``normalize``: the signal processing, NaN-aware, along time.
- ``homogenize``: one worm -> canonical arrays, drop rules, batch Dataset, streaming merge.
- ``hub``: pull/cache/manifest of the published corpus (HuggingFace Hub or a local mirror).
- ``export``: homogenized Dataset -> the Hub's long parquet schema.
"""
