"""k-fold cross-validation and the fold ensemble, reported in the form of seed 000's Table 1.

Fold ``k`` trains one model on everything but its test region and predicts that region
whole. ``data.split: columns`` uses seed 000's column folds (test columns ``data.folds``,
e.g. A, D, F of a 7 × 5 chip grid: each test region is one ``chip × H`` rectangle per
sample); ``data.split: random`` (or ``crops``) deals the chips out at random into
``len(data.folds)`` disjoint test groups instead.

Per test region: pixel F1 and boundary F1 at ``train.tolerance`` px of the mask
``prob >= train.threshold`` (thinned to 1 px with ``train.thin``), HD95 (px), and from grains labelled with the gap
closing of ``grains.close_gaps`` (:func:`microseg.grains.analyse_grains`, ``grains.*`` settings):
ARI against the true grains and the absolute error of the mean ECD (µm when the pixel
size is known, else px; the mean over folds of these errors is the MAE of Table 1).

The ensemble sums the fold models' probability maps (seed 000) and thresholds the *sum*
at ``infer.ensemble_threshold`` (default 0.5: a pixel is boundary when the models' summed
probability reaches that of one confident model, i.e. the mean reaches 0.5 / k — summing
closes gaps, which is why 000 does it). It is evaluated on every fold's test region; note
that the other folds' models were trained on that region, so the ensemble row is not a
held-out score — it shows what summing does to closure, not generalisation.
"""
from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microseg._util import InputError, write_text_atomic
from microseg.io import write_json

logger = logging.getLogger(__name__)

TABLE_COLUMNS = ("f1", "bf_f1", "hd95", "ari", "mae_ecd")
COLUMN_TITLES = {"f1": "F1", "bf_f1": "BF1 @{tol:g} px", "hd95": "HD95 (px)", "ari": "ARI",
                 "mae_ecd": "MAE ECD ({unit})"}


@dataclass(frozen=True)
class CVResult:
    """Per-fold and ensemble scores, and where the table was written."""

    folds: list            # one dict per fold: name, test, metrics, model_dir
    mean: dict
    std: dict
    ensemble: dict
    unit: str
    out_dir: Path
    table: str             # the Markdown table


@dataclass(frozen=True)
class _FoldPlan:
    name: str
    test: str
    train_regions: list
    test_regions: list


def plan_folds(samples: list, config: Config) -> list[_FoldPlan]:
    """Training and test regions of every fold (see the module docstring)."""
    from microseg.data import chip_grid, column_folds
    from microseg.data.splits import Region

    d = config.data
    plans = []
    grids = [chip_grid(s.shape, chip=d.chip) for s in samples]
    if not any(grids):
        raise InputError(f"no sample is at least data.chip = {d.chip} px on a side")
    if d.split == "columns":
        for k, column in enumerate(d.folds, start=1):
            train, test = [], []
            for i, chips in enumerate(grids):
                fold = column_folds(chips, test_columns=(column,))[0]
                train += [Region(i, c.slices) for c in fold.train_chips]
                test.append(Region(i, fold.test_region))
            plans.append(_FoldPlan(f"fold{k}", str(column).upper(), train, test))
        return plans
    regions = [Region(i, c.slices) for i, chips in enumerate(grids) for c in chips]
    k = len(d.folds)
    if k < 2 or len(regions) < k:
        raise InputError(f"random folds need len(data.folds) >= 2 and at least as many chips; got "
                         f"{k} folds and {len(regions)} chips")
    order = np.random.default_rng(config.train.seed).permutation(len(regions))
    groups = np.array_split(order, k)
    for j, group in enumerate(groups, start=1):
        test = set(group.tolist())
        plans.append(_FoldPlan(f"fold{j}", f"{len(test)} chips",
                               [r for i, r in enumerate(regions) if i not in test],
                               [regions[i] for i in sorted(test)]))
    return plans


def _fold_data(samples: list, plan: _FoldPlan, config: Config):
    from microseg.data import PatchDataset, drop_uncovered, train_val_split

    d, seed = config.data, config.train.seed
    regions = drop_uncovered(plan.train_regions, samples, min_valid=d.min_valid)
    if not regions:
        raise InputError(f"{plan.name}: no training chip has at least {d.min_valid:.0%} of its label "
                         "known (valid.tif); lower data.min_valid")
    split = train_val_split(regions, val_fraction=d.val_fraction, seed=seed)
    common = {"patch": d.patch, "normalize": d.normalize or "none", "median": d.median, "seed": seed}
    train = PatchDataset(samples, regions=split.train, augment=tuple(d.augment),
                         crops_per_epoch=d.crops_per_epoch or None, label_width=d.label_width,
                             intensity=d.intensity, blur=d.blur, noise=d.noise, **common)
    val_common = {**common, "patch": max(d.patch, d.chip)}   # whole validation chips, every epoch
    val = PatchDataset(samples, regions=split.val, augment=(), **val_common) if split.val else None
    return train, val


def region_metrics(prob: np.ndarray, truth: np.ndarray, config: Config, *, pixel_size: float | None,
                   threshold: float, valid: np.ndarray | None = None) -> dict[str, float]:
    """F1, boundary F1, HD95, ARI and |Δ mean ECD| of one predicted region.

    With ``valid`` (where the label is known, e.g. the EBSD coverage) every score is taken
    inside it only: pixel and boundary scores count no pixel outside, ARI compares the
    grain labels inside, and the mean ECDs are over the grains that lie wholly inside
    (grains touching the unknown area are cut by it, like grains at the image edge).
    """
    from microseg.metrics import adjusted_rand_index, boundary_f_score, f1_score, hausdorff_distance

    from microseg.data import thin_boundaries

    mask = prob >= threshold
    if config.train.thin and config.data.target == "boundaries":
        mask = thin_boundaries(mask)
    t = truth.astype(bool)
    inside = np.ones(t.shape, bool) if valid is None else valid.astype(bool)
    p_in, t_in = mask & inside, t & inside
    out = {"f1": f1_score(mask[inside], t[inside]),
           "bf_f1": boundary_f_score(mask, t, tolerance=config.train.tolerance, mask=inside)["f1"],
           "hd95": hausdorff_distance(mask, t, percentile=95.0, mask=inside) if p_in.any() and t_in.any()
           else math.inf}
    pred_g = _grains(prob, config, pixel_size, threshold, inside)
    # the true label is closed: its grains are its components (gap closing could only split them)
    true_g = _grains(t.astype(np.float32), config, pixel_size, 0.5, inside, close_gaps="none")
    if pred_g is None or true_g is None:
        out.update(ari=float("nan"), mae_ecd=float("nan"), ecd_pred=float("nan"),
                   ecd_true=float("nan") if true_g is None else true_g[1])
        return out
    out["ari"] = float(adjusted_rand_index(pred_g[0][inside], true_g[0][inside]))
    out["ecd_pred"], out["ecd_true"] = pred_g[1], true_g[1]
    out["mae_ecd"] = abs(pred_g[1] - true_g[1])
    out["n_grains_pred"], out["n_grains_true"] = pred_g[2], true_g[2]
    return out


def grains_inside(labels: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``labels`` with every grain that touches the unknown area (``~valid``) set to 0.

    Examples
    --------
    >>> labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2]], np.int32)
    >>> valid = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    >>> grains_inside(labels, valid).tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0]]
    """
    from scipy import ndimage

    if valid.all():
        return labels
    near = ndimage.binary_dilation(~valid, structure=np.ones((3, 3), bool))
    cut = np.unique(labels[near])
    out = labels.copy()
    out[np.isin(labels, cut[cut > 0])] = 0
    return out


def _grains(prob: np.ndarray, config: Config, pixel_size: float | None, threshold: float,
            valid: np.ndarray | None = None, close_gaps: str | None = None):
    from microseg.metrics import mean_ecd
    from microseg.grains import analyse_grains

    g = config.grains
    min_d = g.min_diameter_um if pixel_size else 0.0
    try:
        a = analyse_grains(prob, pixel_size=pixel_size, min_diameter=min_d, exclude_border=g.exclude_border,
                           close_gaps=close_gaps or g.close_gaps, threshold=threshold,
                           merge_threshold=g.merge_threshold)
    except InputError as exc:  # no grains at all
        logger.info("grain analysis failed: %s", exc)
        return None
    labels = a.labels if valid is None else grains_inside(a.labels, valid)
    n = int(np.unique(labels[labels > 0]).size)
    if n == 0:
        return None
    return labels, float(mean_ecd(labels, pixel_size=pixel_size)), n


def _pool(rows: list[dict], weights: list[float]) -> dict[str, float]:
    out = {}
    for key in TABLE_COLUMNS:
        vals = np.array([r[key] for r in rows], float)
        w = np.array(weights, float)
        ok = np.isfinite(vals)
        out[key] = float(np.average(vals[ok], weights=w[ok])) if ok.any() else float("nan")
    return out


def cross_validate(config: Config, *, out_dir: str | os.PathLike, folds: Sequence[int] | None = None,
                   progress: bool = False, resume: bool = True, samples: list | None = None) -> CVResult:
    """Train one model per fold, evaluate each and their ensemble on the held-out regions.

    Parameters
    ----------
    config : Config
        The run; ``data.split`` and ``data.folds`` define the folds.
    out_dir : path
        ``fold1/``, ``fold2/``, ... (each a :func:`~microseg.train.train` output folder),
        ``config.yaml`` and ``cv_results.csv`` / ``.md`` / ``.json``.
    folds : sequence of int, optional
        1-based folds to train (default all); the table covers the folds trained.
    progress : bool
        Progress bars.
    resume : bool
        Resume interrupted fold runs (a finished fold is not retrained).
    samples : list of Sample, optional
        Ready samples instead of loading ``data.pairs``.

    Returns
    -------
    CVResult
    """
    from microseg.data import apply_preprocessing
    from microseg.infer import LoadedModel, predict_probs
    from microseg.models import load_model
    from microseg.train.build import load_training_samples
    from microseg.train.loop import train

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config.write(out_dir)
    samples = samples if samples is not None else load_training_samples(config.data, seed=config.train.seed)
    plans = plan_folds(samples, config)
    chosen = list(range(1, len(plans) + 1)) if folds is None else [int(k) for k in folds]
    for k in chosen:
        if not 1 <= k <= len(plans):
            raise InputError(f"folds: {k} is not a fold; there are {len(plans)} (1..{len(plans)})")
    models, fold_rows = [], []
    for k in chosen:
        plan = plans[k - 1]
        fold_dir = out_dir / plan.name
        logger.info("%s: test %s, %d training regions", plan.name, plan.test, len(plan.train_regions))
        result = train(config, out_dir=fold_dir, resume=resume, progress=progress,
                       data=_fold_data(samples, plan, config))
        if result.best_dir is None:
            raise InputError(f"{plan.name}: training kept no best model (no validation metric)")
        model, meta = load_model(result.best_dir)
        models.append(LoadedModel(model, meta, plan.name))
    spec = models[0].preprocessing
    pre = [apply_preprocessing(s.image, spec) if spec else s.image for s in samples]
    pixel_sizes = {s.pixel_size for s in samples}
    pixel_size = pixel_sizes.pop() if len(pixel_sizes) == 1 else None
    unit = "µm" if pixel_size else "px"
    thr, ens_thr = config.train.threshold, config.infer.ensemble_threshold
    ens_rows, ens_w = [], []
    for k, m in zip(chosen, models):
        plan = plans[k - 1]
        rows, weights = [], []
        for region in plan.test_regions:
            rows_s, cols_s = region.slices
            x = pre[region.sample][:, rows_s, cols_s]
            truth = samples[region.sample].mask[rows_s, cols_s]
            valid = samples[region.sample].valid
            valid = None if valid is None else valid[rows_s, cols_s]
            n_known = truth.size if valid is None else int(valid.sum())
            if n_known == 0:
                logger.warning("%s: the test region of sample %s has no known label; not scored",
                               plan.name, samples[region.sample].name)
                continue
            probs = predict_probs(models, x, preprocess=False, device=config.train.device)
            own = probs[[mm.name for mm in models].index(m.name)]
            rows.append(region_metrics(own, truth, config, pixel_size=pixel_size, threshold=thr, valid=valid))
            total = np.clip(probs.sum(axis=0), 0.0, 1.0)
            ens_rows.append(region_metrics(total, truth, config, pixel_size=pixel_size, threshold=ens_thr,
                                           valid=valid))
            weights.append(n_known)
            ens_w.append(n_known)
        fold_rows.append({"name": plan.name, "test": plan.test, "model_dir": str(out_dir / plan.name / "best"),
                          **_pool(rows, weights)})
    values = {c: np.array([r[c] for r in fold_rows], float) for c in TABLE_COLUMNS}
    mean = {c: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for c, v in values.items()}
    std = {c: float(np.nanstd(v)) if np.isfinite(v).any() else float("nan") for c, v in values.items()}
    ensemble = {"name": "ensemble", "test": "all", **_pool(ens_rows, ens_w)}
    table = write_cv_tables(out_dir, fold_rows, mean, std, ensemble, unit=unit, config=config)
    return CVResult(fold_rows, mean, std, ensemble, unit, out_dir, table)


def _fmt(v: float, digits: int = 3) -> str:
    return "n/a" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def write_cv_tables(out_dir: Path, folds: list[dict], mean: dict, std: dict, ensemble: dict, *, unit: str,
                    config: Config) -> str:
    """Write ``cv_results.csv``, ``cv_results.md`` and ``cv_results.json``; return the Markdown."""
    titles = [COLUMN_TITLES[c].format(tol=config.train.tolerance, unit=unit) for c in TABLE_COLUMNS]
    lines = ["| model | test | " + " | ".join(titles) + " |", "|---|---|" + "---|" * len(titles)]
    for r in folds:
        lines.append(f"| {r['name']} | {r['test']} | " + " | ".join(_fmt(r[c]) for c in TABLE_COLUMNS) + " |")
    lines.append("| mean ± std | | " + " | ".join(f"{_fmt(mean[c])} ± {_fmt(std[c])}" for c in TABLE_COLUMNS) + " |")
    lines.append("| ensemble (sum) | all | " + " | ".join(_fmt(ensemble[c]) for c in TABLE_COLUMNS) + " |")
    note = (f"\nThreshold {config.train.threshold:g} on each fold model's probability; the ensemble sums "
            f"the {len(folds)} fold models' maps and thresholds the sum at "
            f"{config.infer.ensemble_threshold:g}. The ensemble row is evaluated on every fold's test "
            "region, which the other folds' models trained on: it is not a held-out score.\n")
    md = "\n".join(lines) + "\n" + note
    write_text_atomic(out_dir / "cv_results.md", md, force=True)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["model", "test", *TABLE_COLUMNS])
    for r in folds:
        w.writerow([r["name"], r["test"], *(r[c] for c in TABLE_COLUMNS)])
    w.writerow(["mean", "", *(mean[c] for c in TABLE_COLUMNS)])
    w.writerow(["std", "", *(std[c] for c in TABLE_COLUMNS)])
    w.writerow(["ensemble", "all", *(ensemble[c] for c in TABLE_COLUMNS)])
    write_text_atomic(out_dir / "cv_results.csv", buf.getvalue(), force=True)
    doc = {"folds": folds, "mean": mean, "std": std, "ensemble": ensemble, "ecd_unit": unit,
           "threshold": config.train.threshold, "ensemble_threshold_on_sum": config.infer.ensemble_threshold,
           "tolerance_px": config.train.tolerance}
    write_json(out_dir / "cv_results.json", doc, force=True)  # NaN/inf -> null, as every microseg JSON
    return md
