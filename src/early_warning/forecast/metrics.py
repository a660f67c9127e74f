"""Forecast verification: how good were the probabilities?

Pure functions over arrays of forecast probabilities `p` and outcomes `y` (0/1):
Brier score, Brier skill against a reference forecast, log loss, ROC AUC, a
reliability table, and, for alert thresholds, the hit rate, false-alarm rate and lead
time before each event. References: Wilks, *Statistical Methods in the Atmospheric
Sciences* (2011), chapter 8; scikit-learn's metrics do the arithmetic where they can.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "alert_skill",
    "brier",
    "brier_skill",
    "log_loss",
    "reliability",
    "roc_auc",
    "skill_interval",
    "summary",
]

EPSILON = 1e-6  # probabilities are clipped to [EPSILON, 1 - EPSILON] for the log loss


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2)) if len(p) else float("nan")


def brier_skill(p: np.ndarray, y: np.ndarray, reference: np.ndarray) -> float:
    """1 - Brier / Brier of the reference; > 0 beats it, NaN when the reference is perfect."""
    ref = brier(reference, y)
    return float(1 - brier(p, y) / ref) if ref > 0 else float("nan")


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    if not len(p):
        return float("nan")
    q = np.clip(np.asarray(p, dtype=float), EPSILON, 1 - EPSILON)
    y = np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def roc_auc(p: np.ndarray, y: np.ndarray) -> float | None:
    """Area under the ROC curve; None when only one class occurred."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if len(set(y.tolist())) < 2:
        return None
    return float(roc_auc_score(y, p))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Mean forecast and observed frequency in each probability bin with forecasts."""
    p, y = np.asarray(p, dtype=float), np.asarray(y, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table = []
    for b in range(bins):
        members = which == b
        if members.any():
            table.append(
                {
                    "bin": [round(float(edges[b]), 2), round(float(edges[b + 1]), 2)],
                    "forecasts": int(members.sum()),
                    "mean_probability": round(float(p[members].mean()), 4),
                    "observed_frequency": round(float(y[members].mean()), 4),
                }
            )
    return table


def alert_skill(
    days: np.ndarray, p: np.ndarray, event_days: np.ndarray, threshold: float, horizon_weeks: int
) -> dict[str, Any]:
    """Treat `p >= threshold` at an origin as an alert for the next `horizon_weeks`.

    Hit rate: share of events with an alert in the horizon before them. False-alarm
    rate: share of alerts followed by no event within the horizon. Lead time: weeks from
    the first alert in the horizon before an event to the event.
    """
    days, p = np.asarray(days), np.asarray(p)
    window = 7 * horizon_weeks
    alerts = days[p >= threshold]
    hits, leads = 0, []
    for event in event_days:
        before = alerts[(alerts < event) & (alerts >= event - window)]
        if len(before):
            hits += 1
            leads.append((event - before.min()) / 7)
    false = sum(1 for a in alerts if not ((event_days > a) & (event_days <= a + window)).any())
    return {
        "threshold": threshold,
        "alerts": len(alerts),
        "events": len(event_days),
        "hit_rate": round(hits / len(event_days), 4) if len(event_days) else None,
        "false_alarm_rate": round(false / len(alerts), 4) if len(alerts) else None,
        "mean_lead_weeks": round(float(np.mean(leads)), 2) if leads else None,
    }


def skill_interval(
    p: np.ndarray, y: np.ndarray, reference: np.ndarray, block: int = 13, reps: int = 400
) -> tuple[float, float] | None:
    """90% moving-block bootstrap interval of the Brier skill.

    Neighbouring origins share their outcomes (their horizons overlap), so origins are
    resampled in blocks; a model "claims skill" only when the lower end is above 0.
    """
    n = len(y)
    if n < 2 * block:
        return None
    rng = np.random.default_rng(0)
    starts = rng.integers(0, n - block + 1, size=(reps, -(-n // block)))
    index = (starts[:, :, None] + np.arange(block)).reshape(reps, -1)[:, :n]
    skills = []
    for rows in index:
        ref = brier(reference[rows], y[rows])
        if ref > 0:
            skills.append(1 - brier(p[rows], y[rows]) / ref)
    if len(skills) < reps // 2:
        return None
    return float(np.percentile(skills, 5)), float(np.percentile(skills, 95))


def summary(
    p: np.ndarray, y: np.ndarray, base: np.ndarray, persistence: np.ndarray
) -> dict[str, Any]:
    """The metrics `backtest --json` reports for one model (DESIGN.md 3.4 keys)."""
    auc = roc_auc(p, y)
    interval = skill_interval(p, y, base)
    return {
        "brier": round(brier(p, y), 6),
        "brier_skill": round(brier_skill(p, y, base), 6),
        "brier_skill_90": None if interval is None else [round(v, 4) for v in interval],
        "skill_claimed": bool(interval is not None and interval[0] > 0),
        "brier_skill_persistence": round(brier_skill(p, y, persistence), 6),
        "log_loss": round(log_loss(p, y), 6),
        "auc": None if auc is None else round(auc, 6),
        "n_origins": len(y),
        "n_events": int(np.sum(y)),
        "reliability": reliability(p, y),
    }
