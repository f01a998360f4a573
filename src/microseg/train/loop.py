"""The training loop: a function with hooks, resumable from safetensors + JSON checkpoints.

:func:`fit` trains a given model on given data (it builds nothing); :func:`train` builds
the model, loss and data from a :class:`~microseg.train.config.Config` and calls it.

The output folder of a run::

    out_dir/config.yaml      resolved configuration (written by train())
    out_dir/metrics.csv      one row per epoch: lr, train_loss, val_loss, f1, bf_f1, iou, ...
    out_dir/metrics.json     the same rows, plus the run's summary
    out_dir/best/            model.safetensors + model.json of the best validation epoch
    out_dir/last/            resumable checkpoint (see microseg.train.checkpoint)

Determinism: the data order of epoch ``e`` is a permutation drawn from ``(seed, e)``, each
dataset item is expected to depend only on ``(seed, epoch, index)``, and the checkpoint
carries every RNG state, so a run interrupted after any step and resumed from ``last/``
ends with the same weights as an uninterrupted one (on the same device and threads).
"""
from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from microseg._util import IGNORE_LABEL, InputError, look_up_option, progress as progress_bar, \
    write_text_atomic
from microseg.io import write_json
from microseg.train._batching import batches as _batches, collate, final_output, steps_per_epoch
from microseg.train.checkpoint import find_checkpoint, load_checkpoint, save_checkpoint, swap_folder
from microseg.train.config import TrainConfig
from microseg.train.schedule import is_better, make_schedule

logger = logging.getLogger(__name__)

Hook = Callable[[str, "TrainState"], None]
METRIC_COLUMNS = ("epoch", "step", "lr", "train_loss", "val_loss", "f1", "bf_f1", "iou", "seconds", "partial")


@dataclass
class TrainState:
    """What the loop knows; hooks get it as ``hook(event, state)`` and may set ``stop``.

    Events: ``"step"`` after every optimiser step (and its periodic checkpoint),
    ``"epoch"`` after every epoch's validation, best-keeping and checkpoint.
    """

    epoch: int = 0
    step: int = 0
    step_in_epoch: int = 0
    lr: float = 0.0
    loss: float = float("nan")
    loss_sum: float = 0.0
    metrics: dict = field(default_factory=dict)
    best_metric: float | None = None
    best_epoch: int = -1
    bad_epochs: int = 0
    history: list = field(default_factory=list)
    stop: bool = False
    stop_reason: str = ""


@dataclass(frozen=True)
class TrainResult:
    """Summary of a finished (or stopped) run."""

    out_dir: Path
    best_dir: Path | None
    last_dir: Path
    epochs: int
    steps: int
    monitor: str
    best_metric: float | None
    best_epoch: int
    stop_reason: str
    history: list
    seconds: float


# ------------------------------------------------------------------------- device helpers
def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an error."""
    device = look_up_option(device, ("auto", "cpu", "cuda"), what="device")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device='cuda' but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> fp16 autocast on CUDA, fp32 on the CPU (bf16 on the CPU is opt-in)."""
    precision = look_up_option(precision, ("auto", "fp32", "bf16", "fp16"), what="precision")
    if precision == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise InputError("train.precision='fp16' needs a CUDA device; use 'bf16' or 'fp32' on the CPU")
    return precision


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast context of ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def _determinism(enabled: bool, device: torch.device, threads: int | None):
    """Deterministic kernels and a thread count for the run; the old settings come back after."""
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    old_threads = torch.get_num_threads()
    old_bench = torch.backends.cudnn.benchmark if device.type == "cuda" else None
    try:
        if threads:
            torch.set_num_threads(int(threads))
        if enabled and device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = not enabled
            torch.backends.cudnn.deterministic = enabled
        yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.set_num_threads(old_threads)
        if old_bench is not None:
            torch.backends.cudnn.benchmark = old_bench


# ---------------------------------------------------------------------------- validation
def default_monitor(monitor: str, target: str) -> tuple[str, str]:
    """``(metric name, "max"|"min")`` of the monitored validation metric."""
    if monitor == "auto":
        monitor = "iou" if target == "phase" else "bf_f1"
    return monitor, ("min" if monitor == "val_loss" else "max")


@torch.no_grad()
def validate(model: torch.nn.Module, data: Any, loss_fn: Callable | None, *, device: torch.device,
             precision: str = "fp32", batch: int = 8, threshold: float = 0.5, tolerance: float = 2.0,
             target: str = "boundaries", channels_last: bool = False, thin: bool = False) -> dict[str, float]:
    """Validation loss, pixel F1 and IoU, and boundary F1 at ``tolerance`` px, over the whole
    validation area.

    Every score pools its counts over all validation items (each pixel weighs the same; a
    mean of per-patch scores would let a patch with three boundary pixels count as much
    as one with three thousand), and pixels whose target is
    :data:`~microseg._util.IGNORE_LABEL` (no EBSD data) count in none of them. ``bf_f1``
    is computed only for boundary targets (NaN for phase masks). With ``thin`` (boundary
    targets) the prediction is scored as :func:`microseg.data.thin_boundaries` of the mask.
    """
    from microseg.data import thin_boundaries
    from microseg.metrics import boundary_match_counts, scores_from_match_counts

    was_training = model.training
    model.eval()
    tp = fp = fn = 0
    loss_sum, n_items = 0.0, 0
    bf = {"pred_matched": 0, "pred": 0, "truth_matched": 0, "truth": 0}
    try:
        for start in range(0, len(data), batch):
            x, y = collate([data[i] for i in range(start, min(len(data), start + batch))])
            x, y = x.to(device), y.to(device)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast(device, precision):
                logits = final_output(model(x))
            logits = logits.float()
            if loss_fn is not None:
                loss_sum += float(loss_fn(logits, y)) * len(x)
            y_np = y.cpu().numpy()[:, 0]
            known = y_np != IGNORE_LABEL
            pred = (torch.sigmoid(logits) >= threshold).cpu().numpy()[:, 0]
            if thin and target == "boundaries":
                pred = np.stack([thin_boundaries(p) for p in pred])
            pred &= known
            truth = (y_np >= 0.5) & known
            tp += int(np.count_nonzero(pred & truth))
            fp += int(np.count_nonzero(pred & ~truth))
            fn += int(np.count_nonzero(~pred & truth))
            n_items += len(x)
            if target == "boundaries":
                for p, t, k in zip(pred, truth, known):
                    c = boundary_match_counts(p, t, tolerance=tolerance, mask=k)
                    bf = {key: bf[key] + c[key] for key in bf}
    finally:
        model.train(was_training)
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 1.0
    iou = tp / (tp + fp + fn) if (tp + fp + fn) else 1.0
    return {"val_loss": loss_sum / max(n_items, 1) if loss_fn is not None else float("nan"),
            "f1": float(f1), "iou": float(iou),
            "bf_f1": scores_from_match_counts(bf)["f1"] if target == "boundaries" and n_items else float("nan")}


# ------------------------------------------------------------------------------ outputs
def write_metrics(out_dir: Path, history: list[dict], summary: dict | None = None) -> None:
    """Write ``metrics.csv`` and ``metrics.json`` (atomically, replacing older ones)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(METRIC_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in METRIC_COLUMNS})
    write_text_atomic(out_dir / "metrics.csv", buf.getvalue(), force=True)
    doc = {"epochs": history, **({"summary": summary} if summary else {})}
    write_json(out_dir / "metrics.json", doc, force=True)  # NaN (no validation) -> null


def _default_save_model(model: torch.nn.Module, folder: Path, metadata: dict) -> None:
    from microseg.models import save_model

    save_model(model, folder, metadata=metadata, force=True)


def _save_best(save: Callable, model: torch.nn.Module, folder: Path, metadata: dict) -> None:
    """Save with ``save`` into a temporary folder, then swap it in (atomic for readers)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=folder.parent))
    try:
        was_cl = _is_channels_last(model)
        if was_cl:
            model.to(memory_format=torch.contiguous_format)
        try:
            save(model, tmp, metadata)
        finally:
            if was_cl:
                model.to(memory_format=torch.channels_last)
        swap_folder(tmp, folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _last_description(model: torch.nn.Module, metadata: dict, state: TrainState) -> str | None:
    """``model.json`` of the last checkpoint (None for models that are not microseg's)."""
    from microseg.models import SegmentationModel
    from microseg.models.io import model_description

    if not isinstance(model, SegmentationModel):
        return None
    metrics = {k: v for k, v in (state.history[-1] if state.history else {}).items()
               if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
    return model_description(model, {**metadata, "epoch": state.epoch, "step": state.step,
                                     "metrics": metrics, "checkpoint": "last"})


def _is_channels_last(model: torch.nn.Module) -> bool:
    for p in model.parameters():
        if p.ndim == 4:
            return p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
    return False


# ------------------------------------------------------------------------------ the loop
def fit(model: torch.nn.Module, loss_fn: Callable, train_data: Any, val_data: Any = None, *,
        config: TrainConfig, out_dir: str | os.PathLike, resume: bool = True, progress: bool = False,
        hooks: Sequence[Hook] = (), target: str = "boundaries", metadata: dict | None = None,
        save_model: Callable | None = None) -> TrainResult:
    """Train ``model`` with Adam on ``train_data``; validate, keep the best, checkpoint, resume.

    Parameters
    ----------
    model : torch.nn.Module
        Returns logits ``(N, 1, H, W)`` (or, training, a list with the final output last).
    loss_fn : callable
        ``loss_fn(pred_or_list, target)`` with target float ``(N, 1, H, W)`` in {0, 1}.
    train_data, val_data : sequence-like
        ``len()`` and ``[i]`` giving ``(image (C, H, W), mask (H, W) or (1, H, W))`` or a dict
        with ``image`` and ``mask``; ``train_data.set_epoch(e)`` is called when present.
        Without ``val_data`` the monitored metric is the training loss.
    config : TrainConfig
        Epochs, batch, lr, schedule, early stopping, device, precision, checkpoints.
    out_dir : path
        Folder for ``best/``, ``last/``, ``metrics.csv`` and ``metrics.json``.
    resume : bool
        Continue from ``out_dir/last`` when it holds a checkpoint.
    progress : bool
        Progress bars (see :func:`microseg._util.progress`).
    hooks : sequence of callables
        ``hook(event, state)`` with event ``"step"`` or ``"epoch"``; a hook may set
        ``state.stop = True`` or raise (the checkpoint keeps what was done).
    target : {"boundaries", "phase"}
        Sets the default monitored metric (``bf_f1`` or ``iou``).
    metadata : dict, optional
        Stored in ``best/model.json`` (architecture options, normalisation, config, ...).
    save_model : callable, optional
        ``save_model(model, folder, metadata)``; default :func:`microseg.models.save_model`.

    Returns
    -------
    TrainResult
    """
    t = config
    if not isinstance(t, TrainConfig):
        raise InputError(f"config must be a TrainConfig; got {type(t).__name__}")
    if len(train_data) == 0:
        raise InputError("train_data is empty: no training patches")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(t.device)
    precision = resolve_precision(t.precision, device)
    monitor, mode = default_monitor(t.monitor, target)
    if val_data is None or len(val_data) == 0:
        monitor, mode, val_data = "train_loss", "min", None
    with _determinism(t.deterministic, device, t.threads):
        return _run(model, loss_fn, train_data, val_data, t, out_dir, device, precision, monitor, mode,
                    resume, progress, tuple(hooks), target, dict(metadata or {}),
                    save_model or _default_save_model)


def _run(model, loss_fn, train_data, val_data, t: TrainConfig, out_dir: Path, device, precision,
         monitor, mode, resume, progress, hooks, target, metadata, save) -> TrainResult:
    model.to(device)
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    if isinstance(loss_fn, torch.nn.Module):
        loss_fn.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    schedule = make_schedule(t, mode=mode)
    scaler = torch.amp.GradScaler(device.type, enabled=(precision == "fp16"))
    state = TrainState(lr=schedule.lr_at(0))
    last_dir, best_dir = out_dir / "last", out_dir / "best"
    if resume and find_checkpoint(last_dir) is not None:
        doc = load_checkpoint(last_dir, model=model, optimizer=optimizer, scaler=scaler)
        schedule.load_state_dict(doc["schedule"])
        state = TrainState(**doc["loop"])
        if not state.stop_reason.startswith("early stop"):  # a time budget or a hook: go on
            state.stop, state.stop_reason = False, ""
    elif resume is False and find_checkpoint(last_dir) is not None:
        logger.info("%s: starting afresh (resume=False); the old checkpoint will be replaced", last_dir)
    n_steps = steps_per_epoch(len(train_data), t.batch)
    started = time.perf_counter()
    budget = t.max_minutes * 60.0 if t.max_minutes else math.inf

    def checkpoint() -> None:
        save_checkpoint(last_dir, model=model, optimizer=optimizer, scaler=scaler,
                        state={"epoch": state.epoch, "step": state.step, "loop": asdict(state),
                               "schedule": schedule.state_dict(), "monitor": monitor},
                        description=_last_description(model, metadata, state))

    model.train()
    while state.epoch < t.epochs and not state.stop:
        epoch_start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = state.lr
        batches = _batches(train_data, batch=t.batch, seed=t.seed, epoch=state.epoch,
                           start=state.step_in_epoch)
        for x, y in progress_bar(batches, enabled=progress, desc=f"epoch {state.epoch + 1}/{t.epochs}",
                                 total=n_steps - state.step_in_epoch):
            loss = _train_step(model, loss_fn, optimizer, scaler, x, y, device, precision, t.channels_last)
            state.step += 1
            state.step_in_epoch += 1
            state.loss, state.loss_sum = loss, state.loss_sum + loss
            if t.checkpoint_every_steps and state.step % t.checkpoint_every_steps == 0:
                checkpoint()
            for hook in hooks:
                hook("step", state)
            if time.perf_counter() - started > budget:
                state.stop, state.stop_reason = True, f"time budget of {t.max_minutes} min"
            if state.stop:
                break
        partial = state.step_in_epoch < n_steps
        _end_epoch(state, model, loss_fn, val_data, t, device, precision, target, monitor, mode,
                   schedule, partial, n_steps, time.perf_counter() - epoch_start, best_dir, save, metadata)
        write_metrics(out_dir, state.history)
        if not partial:
            state.epoch += 1
            state.step_in_epoch, state.loss_sum = 0, 0.0
            state.lr = schedule.lr_at(state.epoch) if t.schedule in ("step", "cosine") else schedule.lr
        checkpoint()
        for hook in hooks:
            hook("epoch", state)
    if not state.stop_reason:
        state.stop_reason = "completed" if state.epoch >= t.epochs else "stopped by a hook"
    summary = {"monitor": monitor, "best_metric": state.best_metric, "best_epoch": state.best_epoch,
               "epochs": state.epoch, "steps": state.step, "stop_reason": state.stop_reason,
               "device": str(device), "precision": precision}
    write_metrics(out_dir, state.history, summary)
    logger.info("training ended (%s): best %s %.4f at epoch %d", state.stop_reason, monitor,
                state.best_metric if state.best_metric is not None else float("nan"), state.best_epoch + 1)
    return TrainResult(out_dir, best_dir if best_dir.exists() else None, last_dir, state.epoch, state.step,
                       monitor, state.best_metric, state.best_epoch, state.stop_reason, list(state.history),
                       time.perf_counter() - started)


def _train_step(model, loss_fn, optimizer, scaler, x, y, device, precision, channels_last) -> float:
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer.zero_grad(set_to_none=True)
    with autocast(device, precision):
        out = model(x)
    out = [o.float() for o in out] if isinstance(out, (list, tuple)) else out.float()
    loss = loss_fn(out, y)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"training loss is {float(loss)}; lower train.lr or use fp32")
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def _end_epoch(state, model, loss_fn, val_data, t, device, precision, target, monitor, mode, schedule,
               partial, n_steps, seconds, best_dir, save, metadata) -> None:
    done = state.step_in_epoch
    row: dict[str, Any] = {"epoch": state.epoch + 1, "step": state.step, "lr": state.lr,
                           "train_loss": state.loss_sum / max(done, 1), "partial": partial}
    validate_now = val_data is not None and (partial or (state.epoch + 1) % t.val_every == 0
                                             or state.epoch + 1 == t.epochs)
    if validate_now:
        row.update(validate(model, val_data, loss_fn, device=device, precision=precision, batch=t.batch,
                            threshold=t.threshold, tolerance=t.tolerance, target=target,
                            channels_last=t.channels_last, thin=t.thin))
    row["seconds"] = round(seconds, 3)
    state.history.append(row)
    state.metrics = {k: v for k, v in row.items() if k in METRIC_COLUMNS}
    value = row.get(monitor)
    if value is not None and not (isinstance(value, float) and math.isnan(value)):
        if is_better(value, state.best_metric, mode):
            state.best_metric, state.best_epoch, state.bad_epochs = float(value), state.epoch, 0
            meta = {**metadata, "epoch": state.epoch + 1, "step": state.step,
                    "metrics": {k: v for k, v in row.items()
                                if isinstance(v, (int, float)) and math.isfinite(v)},
                    "monitor": monitor}
            _save_best(save, model, best_dir, meta)
        elif not partial:
            state.bad_epochs += 1
        if not partial:
            schedule.epoch_end(state.epoch, value)
    logger.info("epoch %d: %s", state.epoch + 1,
                ", ".join(f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float)))
    if t.early_stop and state.bad_epochs >= t.early_stop and not partial:
        state.stop = True
        state.stop_reason = f"early stop: no {monitor} improvement in {t.early_stop} epochs"


# --------------------------------------------------------------------------- from config
def train(config: Config, *, out_dir: str | os.PathLike, resume: bool = True, progress: bool = False,
          hooks: Sequence[Hook] = (), init_from: str | os.PathLike | None = None,
          data: tuple[Any, Any] | None = None) -> TrainResult:
    """Train the model a :class:`Config` describes; write ``config.yaml`` beside the outputs.

    Parameters
    ----------
    config : Config
        The run (see :mod:`microseg.train.config`).
    out_dir : path
        Output folder (``best/``, ``last/``, ``metrics.csv``, ``metrics.json``, ``config.yaml``).
    resume : bool
        Continue an interrupted run from ``out_dir/last``.
    progress : bool
        Progress bars.
    hooks : sequence of callables
        See :func:`fit`.
    init_from : path, optional
        A saved model folder (``model.safetensors`` + ``model.json``) whose weights start
        the run (fine-tuning, e.g. after synthetic pretraining); default
        ``config.train.init_from``.
    data : (train_data, val_data), optional
        Ready datasets instead of those built from ``config.data``.

    Returns
    -------
    TrainResult
    """
    from microseg.train.build import build_loss, build_model, build_training_data, model_metadata

    missing = [s for s in ("data", "model", "loss", "train") if getattr(config, s, None) is None]
    if missing or not hasattr(config, "write"):
        raise InputError(f"config must be a microseg.config.Config with the data, model, loss and train "
                         f"sections (microseg.config.load_config); got {type(config).__name__}"
                         + (f" without {', '.join(missing)}" if missing and hasattr(config, "write") else ""))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    init_from = init_from if init_from is not None else config.train.init_from
    if init_from is not None:
        config = config.replace(train={"init_from": str(init_from)})
    config.write(out_dir)
    seed_everything(config.train.seed)
    model = build_model(config, init_from=init_from)
    loss_fn = build_loss(config.loss)
    train_data, val_data = data if data is not None else build_training_data(config)
    metadata = model_metadata(config)
    sizes = {p for p in getattr(train_data, "pixel_sizes", ()) if p}
    pixel_size = config.data.pixel_size or (sizes.pop() if len(sizes) == 1 else None)
    if len(sizes) > 1:
        logger.warning("training samples have different pixel sizes %s; the model records none, so "
                       "prediction will not resample images", sorted(sizes))
    metadata["pixel_size_um"] = pixel_size
    return fit(model, loss_fn, train_data, val_data, config=config.train, out_dir=out_dir, resume=resume,
               progress=progress, hooks=hooks, target=config.data.target, metadata=metadata)
