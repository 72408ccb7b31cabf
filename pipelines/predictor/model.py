"""Neuroformer-style neuron-token transformer for whole-brain calcium (option A of the spec).

One token per recorded neuron: identity embedding keyed by the canonical name (shared across
worms) + a linear embedding of the neuron's last K normalised frames taken relative to the last
value (so slow drift of a recording does not move the tokens) + a continuous embedding of the
frame step in seconds. Behaviour variables (velocity, head angle, reversal) enter as extra
tokens of the same kind (absolute values). Pre-LN self-attention across tokens; neurons and
behaviours a worm did not record are key-padding-masked and their data are never read.

The head forecasts the change from the last value for H future frames of every neuron: a
linear skip from the neuron's own history (a shared AR on changes) plus an MLP on its attended
token and a horizon embedding, both zero-initialised so that an untrained model is exactly
copy-last. A second head decodes behaviour at the same H frames from the pooled neuron tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from pipelines.common import N_NEURONS


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; all plain numbers so a checkpoint can store it (``weights_only``)."""

    context: int = 16
    """K, past frames per token."""
    horizon: int = 4
    """H, future frames predicted per forward pass."""
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.1
    n_behaviours: int = 3
    binary_behaviours: tuple[int, ...] = (2,)
    """Indices of 0/1 behaviours (decoded with a logit)."""
    level_input: bool = False
    """Also embed the last value itself; off by default, the patch is taken relative to the
    last value so that slow drift of a recording (test blocks sit 0.5-1.8 train sd away from
    the train mean in Dag 2023) does not move the tokens."""

    def to_dict(self) -> dict:
        return {**asdict(self), "binary_behaviours": list(self.binary_behaviours)}

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        values = dict(values)
        values["binary_behaviours"] = tuple(values.get("binary_behaviours", ()))
        return cls(**values)


class TimeEmbedding(nn.Module):
    """Sinusoidal features of a duration in seconds (periods 0.1-200 s) -> d_model."""

    def __init__(self, d_model: int, n_frequencies: int = 16):
        super().__init__()
        periods = torch.logspace(math.log10(0.1), math.log10(200.0), n_frequencies)
        self.register_buffer("angular", 2 * math.pi / periods, persistent=False)
        self.project = nn.Linear(2 * n_frequencies, d_model)

    def forward(self, seconds: torch.Tensor) -> torch.Tensor:
        phase = seconds[..., None] * self.angular
        return self.project(torch.cat([phase.sin(), phase.cos()], dim=-1))


class Block(nn.Module):
    """Pre-LN transformer block; attention weights returned on request (for connectivity)."""

    def __init__(self, d_model: int, heads: int, ff_mult: int, dropout: float):
        super().__init__()
        self.norm_attention = nn.LayerNorm(d_model)
        # no dropout inside attention: it doubles CPU cost for no gain on small data
        self.attention = nn.MultiheadAttention(d_model, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Linear(ff_mult * d_model, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x, padding, need_weights: bool = False):
        h = self.norm_attention(x)
        a, weights = self.attention(h, h, h, key_padding_mask=padding, need_weights=need_weights,
                                    average_attn_weights=True)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm_ff(x)))
        return x, weights


class NeuronTransformer(nn.Module):
    """Forecast H future frames of every present neuron (and behaviour) from K past frames.

    ``forward(history, present, neuron_ids, dt, behaviour=None)`` with

    - history (B, K, N) float, normalised activity; values of absent neurons are ignored
    - present (B, N) or (N,) bool, neurons recorded (and not dropped) in each sample
    - neuron_ids (N,) long, canonical slot of each neuron column
    - dt float, frame step in seconds
    - behaviour (B, K, V) float, NaN where absent (a behaviour token is masked when its
      last frame is NaN)

    returns a dict: ``activity`` (B, H, N) forecast frames t+1..t+H, ``behaviour`` (B, H, V)
    (logits for binary behaviours) and, with ``need_weights=True``, ``attention`` (B, N, N)
    post x pre averaged over heads and layers (neuron tokens only).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.identity = nn.Embedding(N_NEURONS, d)
        self.behaviour_identity = nn.Embedding(max(config.n_behaviours, 1), d)
        self.patch = nn.Linear(config.context, d)
        self.level = nn.Linear(1, d) if config.level_input else None
        self.behaviour_patch = nn.Linear(config.context, d)
        self.time = TimeEmbedding(d)
        self.horizon_time = TimeEmbedding(d)
        self.blocks = nn.ModuleList(
            Block(d, config.heads, config.ff_mult, config.dropout) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        # linear skip from the neuron's own (relative) history to its H changes: a shared AR
        # on changes inside the model, so attention only has to learn what AR cannot
        self.skip = nn.Linear(config.context, config.horizon)
        nn.init.zeros_(self.skip.weight)
        nn.init.zeros_(self.skip.bias)
        self.behaviour_head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        nn.init.normal_(self.identity.weight, std=0.02)
        nn.init.normal_(self.behaviour_identity.weight, std=0.02)
        nn.init.zeros_(self.head[-1].weight)  # zero-init residual head: exactly copy-last
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, history, present, neuron_ids, dt: float, behaviour=None,
                need_weights: bool = False):
        batch, context, n_neurons = history.shape
        present = present.expand(batch, n_neurons) if present.dim() == 1 else present
        values = torch.where(present[:, None, :], history, torch.zeros_like(history))
        step = torch.as_tensor(float(dt), device=history.device, dtype=history.dtype)
        last = values[:, -1:, :]
        relative = (values - last).transpose(1, 2)  # (B, N, K)
        tokens = self.patch(relative) + self.identity(neuron_ids)[None]
        if self.level is not None:
            tokens = tokens + self.level(last.transpose(1, 2))
        tokens = tokens + self.time(step)
        padding = ~present
        if behaviour is not None and self.config.n_behaviours:
            b_present = torch.isfinite(behaviour[:, -1, :])
            b_values = torch.nan_to_num(behaviour, nan=0.0).transpose(1, 2)
            b_values = torch.where(b_present[:, :, None], b_values, torch.zeros_like(b_values))
            b_ids = torch.arange(behaviour.shape[-1], device=history.device)
            b_tokens = self.behaviour_patch(b_values) + self.behaviour_identity(b_ids)[None]
            tokens = torch.cat([tokens, b_tokens + self.time(step)], dim=1)
            padding = torch.cat([padding, ~b_present], dim=1)
        attention = None
        for block in self.blocks:
            tokens, weights = block(tokens, padding, need_weights)
            if need_weights:
                w = weights[:, :n_neurons, :n_neurons]
                attention = w if attention is None else attention + w
        z = self.norm(tokens[:, :n_neurons])  # (B, N, d)
        horizons = torch.arange(1, self.config.horizon + 1, device=history.device) * step
        h_emb = self.horizon_time(horizons.to(history.dtype))  # (H, d)
        delta = self.head(z[:, None, :, :] + h_emb[None, :, None, :]).squeeze(-1)  # (B, H, N)
        delta = delta + self.skip(relative).transpose(1, 2)
        out = {"activity": last + delta}
        weight = present.to(z.dtype)[:, :, None]
        pooled = (z * weight).sum(1) / weight.sum(1).clamp(min=1.0)  # (B, d)
        if self.config.n_behaviours:
            query = pooled[:, None, None, :] + h_emb[None, :, None, :] \
                + self.behaviour_identity.weight[None, None, :, :]
            out["behaviour"] = self.behaviour_head(query).squeeze(-1)  # (B, H, V)
        if need_weights:
            out["attention"] = attention / len(self.blocks)
        return out


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
