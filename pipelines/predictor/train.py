"""Training, few-shot fine-tuning, rollouts and safe checkpoints of the neuron transformer."""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from pipelines.common import atomic_path, get_logger

from .data import Panel, window_origins
from .model import ModelConfig, NeuronTransformer, n_parameters

log = get_logger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (see the ``predictor`` config schema for meanings)."""

    lr: float = 1e-3
    weight_decay: float = 0.05
    batch_size: int = 32
    max_epochs: int = 8
    max_minutes: float = 1.5
    patience: int = 2
    neuron_dropout: float = 0.15
    behaviour_dropout: float = 0.5
    behaviour_weight: float = 0.2
    window_stride: int = 1
    seed: int = 0
    device: str = "auto"


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA) and numpy's legacy global state used by libraries."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (third-party code may draw from it)


def peak_memory_mb() -> float:
    """Peak resident memory of this process (MB; ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PanelTensors:
    """A normalised panel on a device, with vectorised batch assembly."""

    def __init__(self, panel: Panel, device: torch.device):
        self.activity = torch.as_tensor(panel.activity, device=device)
        self.behaviour = torch.as_tensor(panel.behaviour, device=device)
        self.present = torch.as_tensor(panel.present, device=device)
        self.neuron_ids = torch.as_tensor(panel.neuron_ids, device=device)
        self.dt = panel.dt
        self.device = device

    def batch(self, worm: np.ndarray, origin: np.ndarray, context: int, horizon: int) -> dict:
        w = torch.as_tensor(worm, device=self.device)
        o = torch.as_tensor(origin, device=self.device)
        past = torch.arange(1 - context, 1, device=self.device)
        future = torch.arange(1, horizon + 1, device=self.device)
        index_past = o[:, None] + past[None]
        index_future = o[:, None] + future[None]
        return {
            "history": self.activity[w[:, None], index_past],
            "target": self.activity[w[:, None], index_future],
            "behaviour": self.behaviour[w[:, None], index_past],
            "behaviour_target": self.behaviour[w[:, None], index_future],
            "present": self.present[w],
        }


def forecast_loss(model: NeuronTransformer, batch: dict, dt: float, neuron_ids,
                  neuron_dropout: float = 0.0, behaviour_dropout: float = 0.0,
                  behaviour_weight: float = 0.0, generator=None):
    """MSE of the H-frame forecast over present neurons (+ weighted behaviour loss).

    Dropped neurons (``neuron_dropout``) are hidden from attention but still scored, which
    trains the model for neurons a new worm did not record.
    """
    present = batch["present"]
    visible = present
    behaviour = batch["behaviour"]
    if neuron_dropout > 0:
        keep = torch.rand(present.shape, generator=generator, device=present.device) >= neuron_dropout
        visible = present & keep
    if behaviour_dropout > 0:
        hide = torch.rand(behaviour.shape[0], generator=generator, device=present.device) < behaviour_dropout
        behaviour = torch.where(hide[:, None, None], torch.full_like(behaviour, float("nan")), behaviour)
    out = model(batch["history"], visible, neuron_ids, dt, behaviour)
    mask = present[:, None, :].expand_as(batch["target"])
    error = (out["activity"] - torch.nan_to_num(batch["target"])) ** 2
    loss = error[mask].mean()
    if behaviour_weight > 0 and "behaviour" in out:
        loss = loss + behaviour_weight * behaviour_loss(out["behaviour"], batch["behaviour_target"],
                                                        model.config.binary_behaviours)
    return loss


def behaviour_loss(predicted, target, binary: tuple[int, ...]):
    """MSE for continuous and BCE-with-logits for binary behaviours, over finite targets."""
    finite = torch.isfinite(target)
    if not finite.any():
        return predicted.sum() * 0.0
    is_binary = torch.zeros(target.shape[-1], dtype=torch.bool, device=target.device)
    is_binary[list(binary)] = True
    is_binary = is_binary.expand_as(target)
    clean = torch.nan_to_num(target)
    terms = []
    continuous = finite & ~is_binary
    if continuous.any():
        terms.append(((predicted - clean)[continuous] ** 2).mean())
    binary_mask = finite & is_binary
    if binary_mask.any():
        terms.append(torch.nn.functional.binary_cross_entropy_with_logits(
            predicted[binary_mask], clean[binary_mask]))
    return sum(terms)


def fit(panel: Panel, train_blocks: np.ndarray, val_blocks: np.ndarray,
        model_config: ModelConfig, train_config: TrainConfig, model: NeuronTransformer | None = None,
        progress: bool = True, label: str = "train") -> tuple[NeuronTransformer, dict]:
    """Train (or continue training) on windows inside ``train_blocks``; early-stop on the
    forecast MSE of windows inside ``val_blocks``.

    Parameters
    ----------
    panel : normalised :class:`Panel`
    train_blocks, val_blocks : (W, 2) frame ranges; a worm with an empty range contributes nothing
    model : start from this model (fine-tuning) instead of a fresh one

    Returns
    -------
    model : the best model (lowest validation loss; the last one without validation windows)
    report : ``{"loss_log": [...], "train_seconds", "peak_memory_mb", "epochs", "parameters",
        "device", "best_val_loss"}``
    """
    seed_everything(train_config.seed)
    device = resolve_device(train_config.device)
    model = (model or NeuronTransformer(model_config)).to(device)
    cfg = model.config
    data = PanelTensors(panel, device)
    train = window_origins(train_blocks, cfg.context, cfg.horizon, train_config.window_stride)
    val = window_origins(val_blocks, cfg.context, cfg.horizon)
    if len(train[0]) == 0:
        raise ValueError("no training window: every train block is shorter than context + horizon")
    rng = np.random.default_rng(train_config.seed)
    generator = torch.Generator(device=device).manual_seed(train_config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.lr,
                                  weight_decay=train_config.weight_decay)
    start, cpu_start = time.perf_counter(), time.process_time()
    loss_log, best, best_state, stale = [], np.inf, None, 0
    epochs = tqdm(range(train_config.max_epochs), desc=label, disable=not progress,
                  mininterval=5.0, file=sys.stderr)
    for epoch in epochs:
        model.train()
        order = rng.permutation(len(train[0]))
        total, count = 0.0, 0
        for first in range(0, len(order), train_config.batch_size):
            pick = order[first:first + train_config.batch_size]
            batch = data.batch(train[0][pick], train[1][pick], cfg.context, cfg.horizon)
            loss = forecast_loss(model, batch, data.dt, data.neuron_ids,
                                 train_config.neuron_dropout, train_config.behaviour_dropout,
                                 train_config.behaviour_weight, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total, count = total + loss.item() * len(pick), count + len(pick)
            if time.perf_counter() - start > 60 * train_config.max_minutes:
                break
        val_loss = validation_loss(model, data, val) if len(val[0]) else np.nan
        elapsed = time.perf_counter() - start
        loss_log.append({"epoch": epoch, "train_loss": total / max(count, 1),
                         "val_loss": float(val_loss), "seconds": round(elapsed, 2)})
        log.info("%s epoch %d: train %.4f val %.4f (%.0f s)", label, epoch, total / max(count, 1),
                 val_loss, elapsed)
        epochs.set_postfix(train=f"{total / max(count, 1):.4f}", val=f"{val_loss:.4f}")
        if not np.isfinite(val_loss) or val_loss < best:
            best, stale = (val_loss if np.isfinite(val_loss) else best), 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if stale >= train_config.patience or elapsed > 60 * train_config.max_minutes:
            break
    model.load_state_dict(best_state)
    model.eval()
    report = {
        "loss_log": loss_log, "train_seconds": round(time.perf_counter() - start, 2),
        "train_cpu_seconds": round(time.process_time() - cpu_start, 2),
        "peak_memory_mb": round(peak_memory_mb(), 1), "epochs": len(loss_log),
        "parameters": n_parameters(model), "device": str(device),
        "best_val_loss": float(best) if np.isfinite(best) else float("nan"),
        "train_windows": len(train[0]),
    }
    return model, report


@torch.no_grad()
def validation_loss(model: NeuronTransformer, data: PanelTensors, origins, batch_size: int = 256):
    """Forecast MSE (no dropout, behaviour inputs as recorded) over the given windows."""
    model.eval()
    cfg = model.config
    total, count = 0.0, 0
    for first in range(0, len(origins[0]), batch_size):
        batch = data.batch(origins[0][first:first + batch_size],
                           origins[1][first:first + batch_size], cfg.context, cfg.horizon)
        loss = forecast_loss(model, batch, data.dt, data.neuron_ids)
        n = int(batch["present"].sum()) * cfg.horizon
        total, count = total + float(loss) * n, count + n
    return total / max(count, 1)


def few_shot(model: NeuronTransformer, panel: Panel, minutes: float, train_config: TrainConfig,
             steps: int = 100, progress: bool = False) -> tuple[NeuronTransformer, dict]:
    """Fine-tune a copy of ``model`` on the first ``minutes`` of every worm of ``panel``.

    A fixed number of ``steps`` at a tenth of the learning rate (no early stopping: the new
    worm's later frames are test data).
    """
    clone = NeuronTransformer(model.config)
    clone.load_state_dict(model.state_dict())
    frames = int(round(60 * minutes / panel.dt))
    blocks = np.stack([np.zeros_like(panel.length), np.minimum(frames, panel.length)], 1)
    n_windows = len(window_origins(blocks, model.config.context, model.config.horizon)[0])
    epochs = max(1, int(np.ceil(steps * train_config.batch_size / max(n_windows, 1))))
    config = TrainConfig(**{**asdict(train_config), "lr": train_config.lr / 10,
                            "max_epochs": epochs, "patience": epochs + 1})
    empty = np.zeros_like(blocks)
    return fit(panel, blocks, empty, model.config, config, model=clone, progress=progress,
               label="few-shot")


@torch.no_grad()
def rollout(model: NeuronTransformer, panel: Panel, worm: np.ndarray, origin: np.ndarray,
            n_frames: int, use_behaviour: bool = True, batch_size: int = 256) -> dict:
    """Free-running forecasts of ``n_frames`` frames after each origin (no teacher forcing).

    Each pass forecasts H frames that are appended to the context (behaviour forecasts too,
    with binary behaviours fed back as probabilities). Returns ``activity`` (B, n, N) and
    ``behaviour`` (B, n, V), normalised units, NaN for absent neurons.
    """
    model.eval()
    device = next(model.parameters()).device
    cfg = model.config
    data = PanelTensors(panel, device)
    activity, behaviour = [], []
    for first in range(0, len(worm), batch_size):
        w, o = worm[first:first + batch_size], origin[first:first + batch_size]
        batch = data.batch(w, o, cfg.context, 0)
        history, present = batch["history"], batch["present"]
        b_history = batch["behaviour"] if use_behaviour else torch.full_like(batch["behaviour"], float("nan"))
        frames, b_frames = [], []
        while sum(f.shape[1] for f in frames) < n_frames:
            out = model(history[:, -cfg.context:], present, data.neuron_ids, data.dt, b_history[:, -cfg.context:])
            new = torch.where(present[:, None, :], out["activity"], torch.full_like(out["activity"], float("nan")))
            b_new = out["behaviour"].clone()
            binary = list(cfg.binary_behaviours)
            b_new[..., binary] = torch.sigmoid(b_new[..., binary])
            b_fed = torch.where(torch.isfinite(b_history[:, -1:, :]), b_new, torch.full_like(b_new, float("nan")))
            frames.append(new)
            b_frames.append(b_new)
            history = torch.cat([history, new], 1)
            b_history = torch.cat([b_history, b_fed], 1)
        activity.append(torch.cat(frames, 1)[:, :n_frames].cpu().numpy())
        behaviour.append(torch.cat(b_frames, 1)[:, :n_frames].cpu().numpy())
    return {"activity": np.concatenate(activity), "behaviour": np.concatenate(behaviour)}


@torch.no_grad()
def attention_map(model: NeuronTransformer, panel: Panel, blocks: np.ndarray,
                  batch_size: int = 128, stride: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Attention from each receiving (post) neuron token to each sending (pre) token,
    averaged over heads, layers and windows in ``blocks`` (every ``stride``-th window: the
    attention of neighbouring windows is nearly the same).

    Returns (sum (N, N) post x pre, count (N, N) windows where both were present).
    """
    model.eval()
    device = next(model.parameters()).device
    cfg = model.config
    data = PanelTensors(panel, device)
    worm, origin = window_origins(blocks, cfg.context, 0, stride)
    n = panel.activity.shape[2]
    total, count = np.zeros((n, n)), np.zeros((n, n))
    for first in range(0, len(worm), batch_size):
        batch = data.batch(worm[first:first + batch_size], origin[first:first + batch_size], cfg.context, 0)
        out = model(batch["history"], batch["present"], data.neuron_ids, data.dt, batch["behaviour"],
                    need_weights=True)
        both = (batch["present"][:, :, None] & batch["present"][:, None, :]).double()
        total += (out["attention"].double() * both).sum(0).cpu().numpy()
        count += both.sum(0).cpu().numpy()
    return total, count


def save_checkpoint(path, model: NeuronTransformer, metadata: dict) -> None:
    """Save ``state_dict`` + architecture + plain-type metadata atomically (loadable with
    ``torch.load(weights_only=True)``)."""
    payload = {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
               "config": model.config.to_dict(), "metadata": metadata}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path, device: str = "auto") -> tuple[NeuronTransformer, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` without unpickling code."""
    payload = torch.load(path, map_location=resolve_device(device), weights_only=True)
    model = NeuronTransformer(ModelConfig.from_dict(payload["config"]))
    model.load_state_dict(payload["state_dict"])
    model.to(resolve_device(device)).eval()
    return model, payload["metadata"]
