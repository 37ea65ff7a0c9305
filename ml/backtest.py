"""Backtest on the test period: every model beside its baselines, events weighted equally.

Baselines are fitted on the training fold only: climatology (one base rate), a
time-to-event decay curve (base rate / quantiles by days out), persistence (the last
window's move carries on: the base rate given it, or no change for prices), for sell-out
a logistic regression on log get-in price alone, for buy/wait "buy now" and "buy one day
before". Nothing here looks at the test fold to choose anything.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from ml.models import HORIZONS, ModelSet
from ml.train import DECIDE_HOURS, Split, buy_wait, event_weights

BUCKETS = np.array([0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 1e9]) * 24.0
Metrics = dict[str, Any]


def evaluate(
    models: ModelSet, df: pd.DataFrame, x: pd.DataFrame, y: pd.DataFrame, folds: Split
) -> Metrics:
    """Every metric of the model and its baselines on the test fold (see module doc)."""
    out = models.predict(x)
    bucket = np.searchsorted(BUCKETS, df["hours_to_event"].to_numpy(), side="right")
    m: Metrics = {}
    for h, width in HORIZONS.items():
        past = x[f"chg_min_{'7d' if h == '7d' else h}"].to_numpy() * width / 24.0
        move = np.where(past <= np.log(0.95), 0, np.where(past >= np.log(1.05), 2, 1))
        for kind in ("drop", "rise"):
            name = f"{kind}_{h}"
            base = _grouped_rate(y[name], df, folds.price, {"decay": bucket, "persistence": move})
            m[name] = _probability(out[name], y[name], df, folds.price, base)
        m[f"quant_{h}"] = _quantiles(out, h, y[f"chg_{h}"], df, folds.price, bucket)
    m["sellout_t7"] = _sellout(out.get("sellout"), x, y, df, folds.sellout)
    m["buy_wait"] = _buy_wait(out["dip"], models.wait_threshold, y, df, folds.price)
    m["events_test"] = int(df.loc[folds.price == 2, "event"].nunique())
    m["train_s"] = models.meta.get("train_s")
    return m


def _weighted(mask: np.ndarray, df: pd.DataFrame) -> np.ndarray:
    return event_weights(df.loc[mask, "event"])


def _grouped_rate(
    target: pd.Series, df: pd.DataFrame, fold: np.ndarray, groups: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per baseline, its probability for every row: the training rate of its group."""
    train = (fold == 0) & target.notna().to_numpy()
    w = _weighted(train, df)
    clim = float(np.average(target[train], weights=w))
    result = {"climatology": np.full(len(df), clim)}
    for name, group in groups.items():
        frame = pd.DataFrame({"g": group[train], "y": target[train].to_numpy() * w, "w": w})
        sums = frame.groupby("g")[["y", "w"]].sum()
        rate = (sums["y"] / sums["w"]).to_dict()
        result[name] = np.array([rate.get(g, clim) for g in group])
    return result


def _probability(
    p: np.ndarray,
    target: pd.Series,
    df: pd.DataFrame,
    fold: np.ndarray,
    baselines: dict[str, np.ndarray],
) -> Metrics:
    test = (fold == 2) & target.notna().to_numpy()
    w, yt = _weighted(test, df), target[test].to_numpy()
    clim = baselines["climatology"][test]
    ref = np.average((clim - yt) ** 2, weights=w)
    result: Metrics = {"rate": float(np.average(yt, weights=w)), "rows": int(test.sum())}
    for name, score in {"model": p, **baselines}.items():
        s = score[test]
        brier = float(np.average((s - yt) ** 2, weights=w))
        auc = float(roc_auc_score(yt, s, sample_weight=w)) if np.ptp(s) > 0 else 0.5
        result[name] = {"auc": auc, "brier": brier, "bss": 1.0 - brier / ref}
    result["reliability"] = _reliability(p[test], yt, w)
    return result


def _reliability(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> list[list[float]]:
    bins = np.clip((p * 10).astype(int), 0, 9)
    rows = []
    for b in range(10):
        mask = bins == b
        if w[mask].sum() > 0:
            rows.append(
                [
                    float(np.average(p[mask], weights=w[mask])),
                    float(np.average(y[mask], weights=w[mask])),
                    float(w[mask].sum()),
                ]
            )
    return rows


def _quantiles(
    out: dict[str, np.ndarray],
    h: str,
    target: pd.Series,
    df: pd.DataFrame,
    fold: np.ndarray,
    bucket: np.ndarray,
) -> Metrics:
    train = (fold == 0) & target.notna().to_numpy()
    test = (fold == 2) & target.notna().to_numpy()
    w, actual = _weighted(test, df), target[test].to_numpy()
    grouped: Any = pd.Series(target[train].to_numpy()).groupby(bucket[train])
    decay = grouped.quantile([0.1, 0.5, 0.9])  # pandas-stubs allow only one quantile
    lookup = decay.unstack()
    dq = lookup.reindex(bucket[test]).to_numpy()
    q10, q50, q90 = (out[f"q{q}_{h}"][test] for q in (10, 50, 90))

    def mdae(mid: np.ndarray) -> float:  # relative error of the price forecast
        return _weighted_median(np.abs(np.exp(mid - actual) - 1.0), w)

    def coverage(lo: np.ndarray, hi: np.ndarray) -> float:
        return float(np.average((actual >= lo) & (actual <= hi), weights=w))

    return {
        "model": {"mdae_p50": mdae(q50), "coverage_p10_p90": coverage(q10, q90)},
        "persistence": {"mdae_p50": mdae(np.zeros_like(actual))},
        "decay": {
            "mdae_p50": mdae(np.nan_to_num(dq[:, 1])),
            "coverage_p10_p90": coverage(dq[:, 0], dq[:, 2]),
        },
        "rows": int(test.sum()),
    }


def _weighted_median(v: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _sellout(
    p: np.ndarray | None, x: pd.DataFrame, y: pd.DataFrame, df: pd.DataFrame, fold: np.ndarray
) -> Metrics:
    """One row per event: the snapshot nearest 7 days out (5-9 days). Without a sell-out
    model or outcomes (data with no attendance) only the counts, zero, are reported."""
    near7 = (df["hours_to_event"] - 168.0).abs()
    near7 = near7.where(df["hours_to_event"].between(120, 216) & y["sellout"].notna())
    valid = near7.dropna()
    chosen = valid.groupby(df.loc[valid.index, "event"]).idxmin().astype(int).to_numpy()
    pick = np.zeros(len(df), bool)
    pick[chosen] = True
    train, test = pick & (fold == 0), pick & (fold == 2)
    if p is None or not train.any() or not test.any():
        return {"events": int(test.sum()), "sellouts": 0}
    level = x[["log_min"]].to_numpy()
    lr = LogisticRegression().fit(level[train], y["sellout"][train])
    yt = y["sellout"][test].to_numpy()
    scores = {
        "model": p[test],
        "logistic_log_price": lr.predict_proba(level[test])[:, 1],
        "inventory_per_capacity": -x["inventory_per_capacity"].to_numpy()[test],
    }
    result: Metrics = {"events": int(test.sum()), "sellouts": int(yt.sum())}
    for name, s in scores.items():
        result[name] = {
            "auc": float(roc_auc_score(yt, np.nan_to_num(s)))
            if 0 < yt.sum() < len(yt)
            else float("nan")
        }
    return result


def _buy_wait(
    p_dip: np.ndarray, threshold: float, y: pd.DataFrame, df: pd.DataFrame, fold: np.ndarray
) -> Metrics:
    rows = (fold == 2) & df["hours_to_event"].between(*DECIDE_HOURS).to_numpy()
    rows &= y["dip"].notna().to_numpy()
    yt, events = y[rows], df.loc[rows, "event"]
    if not rows.any():  # no series reaches its event: nothing to decide on
        nan = float("nan")
        return {
            "decisions": 0, "threshold": threshold, "wait_share": nan,
            "model": {"saving": nan, "miss_rate": nan},
            "buy_now": {"saving": 0.0, "miss_rate": 0.0},
            "buy_one_day_before": {"saving": nan},
            "always_wait": {"saving": nan, "miss_rate": nan},
        }  # fmt: skip
    w = event_weights(events)
    one_day = float(np.average(1.0 - yt["price_1d"] / yt["price_now"], weights=w))
    saving, miss = buy_wait(p_dip[rows] >= threshold, yt, events)
    always, always_miss = buy_wait(np.ones(rows.sum(), bool), yt, events)
    return {
        "decisions": int(rows.sum()), "threshold": threshold,
        "wait_share": float(np.average(p_dip[rows] >= threshold, weights=w)),
        "model": {"saving": saving, "miss_rate": miss},
        "buy_now": {"saving": 0.0, "miss_rate": 0.0},
        "buy_one_day_before": {"saving": one_day},
        "always_wait": {"saving": always, "miss_rate": always_miss},
    }  # fmt: skip


def headline(m: Metrics) -> dict[str, float | None]:
    """The figures of issue 5 as one flat dictionary (bench and `backtest --json`); a
    figure the data cannot give (no sell-out outcomes, no decisions) is None (JSON null,
    where NaN would not be JSON)."""
    return {k: None if math.isnan(v) else round(float(v), 4) for k, v in _headline(m).items()}


def _headline(m: Metrics) -> dict[str, float]:
    return {
        "auc_drop_72h": m["drop_72h"]["model"]["auc"],
        "auc_rise_72h": m["rise_72h"]["model"]["auc"],
        "bss_drop_72h": m["drop_72h"]["model"]["bss"],
        "coverage_p10_p90": m["quant_72h"]["model"]["coverage_p10_p90"],
        "mdae_p50_72h": m["quant_72h"]["model"]["mdae_p50"],
        "mdae_persistence_72h": m["quant_72h"]["persistence"]["mdae_p50"],
        "auc_sellout_t7": m["sellout_t7"].get("model", {}).get("auc", float("nan")),
        "saving_vs_buy_now": m["buy_wait"]["model"]["saving"],
        "saving_buy_one_day_before": m["buy_wait"]["buy_one_day_before"]["saving"],
        "miss_rate": m["buy_wait"]["model"]["miss_rate"],
        "train_s": float(m.get("train_s") or 0.0),
    }
