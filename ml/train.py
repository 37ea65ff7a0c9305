"""Labels, the time-based split and training of every model (blocking; run in a thread).

Labels of a row at time t look only forward, within its own event: over the window
(t, min(t + H, start)] the get-in drops >= 5% (`drop_H`), rises >= 5% (`rise_H`), its
log change at the window's end (`chg_H`); `dip` is "a get-in <= 95% of today's appears
before the deadline" (the event start). A label is NaN when the data does not cover its
window. Events are split by start time: train, then a calibration fold (early stopping,
Platt scaling, quantile widening, the p50 dead zone, the wait threshold), then the test
period, each event weighted equally. The wait threshold is also checked out of time inside
the training fold (a rolling origin, `rolling_checks`).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from ml import features
from ml.models import HORIZONS, PARAMS, QUANTILES, ModelSet, logit

logger = logging.getLogger(__name__)
MOVE = 0.05
SELLOUT_FILL = 0.95
SELLOUT_HOURS = (24.0, 21 * 24.0)  # rows the sell-out model learns from
DECIDE_HOURS = (48.0, 14 * 24.0)  # when a person decides to buy or wait
ACCEPTABLE = 1.10  # a person's max price, as a multiple of the price when they decided
FOLDS = (0.6, 0.15, 0.25)  # train, calibration, test shares of eligible events by start
NEVER = 10.0  # a dead zone no forecast leaves: the median is always "no change"
STILL_GRID = np.r_[np.linspace(0.0, 0.3, 31), NEVER]
MAX_MISS = 0.04  # the wait threshold's miss-rate limit (a margin under the 5% target)
ROLLING = 4  # training-fold blocks (by start) for the rolling-origin threshold check
ROUNDS, PATIENCE = 200, 20
Progress = Callable[[str], None]
Refit = tuple[str, dict[str, object], xgb.DMatrix, int]  # name, params, folds 0 + 1, trees


@dataclass(frozen=True, slots=True)
class Split:
    """Fold per row: 0 train, 1 calibration, 2 test, -1 not used (by event start)."""

    price: np.ndarray
    sellout: np.ndarray


def labels(df: pd.DataFrame) -> pd.DataFrame:
    """Forward-looking labels for every row of a cleaned, sorted frame."""
    n = len(df)
    t = features.seconds(df["observed_at"]) / 3600.0
    start = features.seconds(df["starts_at"]) / 3600.0
    price = df["min_price"].to_numpy(float)
    tickets = np.log1p(df["tickets"].to_numpy(float))
    ev = pd.factorize(df["event"])[0]
    out = {f"{k}_{h}": np.full(n, np.nan) for h in HORIZONS for k in ("drop", "rise", "chg")}
    for name in ("drain_72h", "dip", "paid_wait", "price_final", "price_1d"):
        out[name] = np.full(n, np.nan)
    bounds = np.flatnonzero(np.r_[True, ev[1:] != ev[:-1], True])
    for lo, hi in itertools.pairwise(bounds):
        tt, pp, kk, s = t[lo:hi], price[lo:hi], tickets[lo:hi], start[lo]
        for i in range(hi - lo - 1):
            row = lo + i
            for h, width in HORIZONS.items():
                end = min(tt[i] + width, s)
                j = int(np.searchsorted(tt, end, side="right")) - 1
                if j <= i or tt[j] < end - max(0.25 * width, 20.0):
                    continue
                window = pp[i + 1 : j + 1]
                out[f"drop_{h}"][row] = float(window.min() <= (1 - MOVE) * pp[i])
                out[f"rise_{h}"][row] = float(window.max() >= (1 + MOVE) * pp[i])
                out[f"chg_{h}"][row] = np.log(pp[j] / pp[i])
                if h == "72h":
                    out["drain_72h"][row] = kk[j] - kk[i]
            if tt[-1] < s - 30.0:
                continue  # the series stops before the event: no deadline outcome
            later = pp[i + 1 :]
            hit = np.flatnonzero(later <= (1 - MOVE) * pp[i])
            out["dip"][row] = float(hit.size > 0)
            out["price_final"][row] = later[-1]
            out["paid_wait"][row] = later[hit[0]] if hit.size else later[-1]
            k = int(np.searchsorted(tt, s - 24.0, side="right")) - 1
            out["price_1d"][row] = pp[k] if k > i else pp[i]
    fill = df["final_fill"].to_numpy(float)
    out["price_now"] = price.copy()
    out["sellout"] = np.where(np.isnan(fill), np.nan, (fill >= SELLOUT_FILL).astype(float))
    return pd.DataFrame(out, index=df.index)


def time_split(
    df: pd.DataFrame, eligible: np.ndarray, folds: tuple[float, ...] = FOLDS
) -> np.ndarray:
    """Fold per row from its event's start: the first `folds[0]` of eligible events (by
    start) train, the next `folds[1]` calibrate, the rest test; ineligible rows get -1."""
    starts = df.loc[eligible, ["event", "starts_at"]].drop_duplicates("event")
    starts = starts.sort_values(["starts_at", "event"])
    cut = np.cumsum(folds)[:-1] * len(starts)
    rank = pd.Series(np.arange(len(starts)), index=starts["event"].to_numpy())
    fold = np.searchsorted(cut, rank.to_numpy(), side="right")
    mapped = df["event"].map(pd.Series(fold, index=rank.index)).to_numpy(float)
    return np.where(eligible & ~np.isnan(mapped), np.nan_to_num(mapped, nan=-1), -1).astype(int)


def split(df: pd.DataFrame, y: pd.DataFrame) -> Split:
    """Price tasks use events whose series reaches the event (within 4 days of the start);
    sell-out uses events with known capacity observed 5-9 days out (the t-7 test)."""
    near = df.groupby("event")["hours_to_event"].transform("min") <= 96.0
    hours = df["hours_to_event"]
    week = ((hours >= 120) & (hours <= 216)).groupby(df["event"]).transform("any")
    has_fill = y["sellout"].notna()
    return Split(time_split(df, near.to_numpy()), time_split(df, (week & has_fill).to_numpy()))


def final_test_events(df: pd.DataFrame) -> set[str]:
    """Every event the real split puts in a test fold (price or sell-out)."""
    folds = split(df, labels(df))
    test = (folds.price == 2) | (folds.sellout == 2)
    return set(df.loc[test, "event"])


def development_frame(df: pd.DataFrame) -> pd.DataFrame:
    """`df` without a single row of a real test-period event (`final_test_events`).

    Fitting and backtesting this frame splits the remaining events with the same FOLDS:
    its own last share is the "dev test", on which choices are judged without ever
    looking at the real test period.
    """
    keep = ~df["event"].isin(final_test_events(df)).to_numpy()
    return df[keep].reset_index(drop=True)


def event_weights(events: pd.Series) -> np.ndarray:
    """Each event weighs the same in total; the mean row weight is 1."""
    counts = events.map(events.value_counts()).to_numpy(float)
    return np.asarray(len(events) / events.nunique() / counts) if len(events) else counts


def fit(
    df: pd.DataFrame, progress: Progress | None = None
) -> tuple[ModelSet, pd.DataFrame, pd.DataFrame, Split]:
    """Train every model; returns the model set, features, labels and the split."""
    began = time.perf_counter()
    note = progress or (lambda _: None)
    y = labels(df)
    folds = split(df, y)
    curve = features.SegmentCurve.fit(df[folds.price == 0])
    x = features.build(df, curve)
    models = ModelSet({}, curve=curve)
    refits: list[Refit] = []
    for h in HORIZONS:
        for kind in ("drop", "rise"):
            _classifier(models, f"{kind}_{h}", x, y[f"{kind}_{h}"], df, folds.price, refits)
            note(f"{kind}_{h}")
        _quantiles(models, h, x, y[f"chg_{h}"], df, folds.price, refits)
        note(f"quant_{h}")
    in_window = df["hours_to_event"].between(*SELLOUT_HOURS).to_numpy()
    sell_fold = np.where(in_window, folds.sellout, -1)
    # Data without outcomes (our own snapshots, StubHub) or without inventory cannot teach
    # these two: they are left out, and the predictor does without them.
    if _learnable(y["sellout"], sell_fold, classes=True):
        _classifier(models, "sellout", x, y["sellout"], df, sell_fold, refits)
    else:
        logger.warning("sellout: no sell-out outcomes (attendance) in this data; not trained")
    note("sellout")
    if _learnable(y["drain_72h"], folds.price):
        _regressor(models, "drain_72h", x, y["drain_72h"], df, folds.price, refits)
    else:
        logger.warning("drain_72h: no listed-ticket counts in this data; not trained")
    note("drain_72h")
    deciding = df["hours_to_event"].between(*DECIDE_HOURS).to_numpy()
    _classifier(models, "dip", x, y["dip"], df, folds.price, refits)
    models.wait_threshold = choose_threshold(
        rolling_checks(models, x, y, df, folds.price, deciding), y, df
    )
    note("dip")
    for name, params, data, rounds in refits:  # calibration is done: learn from it too
        models.boosters[name] = xgb.train({**PARAMS, **params}, data, rounds)
    note("refit")
    models.meta["train_s"] = round(time.perf_counter() - began, 2)
    return models, x, y, folds


def _learnable(target: pd.Series, fold: np.ndarray, *, classes: bool = False) -> bool:
    """Whether the training and calibration folds both hold labels of `target` (and, for a
    classifier, the training fold both classes). A calibration fold of one class still
    stops early; the model is then left uncalibrated (the dev split's sell-out
    calibration fold, 55 events, holds no sell-out)."""
    for which in (0, 1):
        values = target[(fold == which) & target.notna().to_numpy()]
        if values.empty or (classes and which == 0 and values.nunique() < 2):
            return False
    return True


def _data(
    x: pd.DataFrame, target: pd.Series, df: pd.DataFrame, fold: np.ndarray, which: int
) -> xgb.DMatrix:
    mask = (fold == which) & target.notna().to_numpy()
    w = event_weights(df.loc[mask, "event"])
    return xgb.DMatrix(x[mask].to_numpy(np.float32), target[mask].to_numpy(float), weight=w)


def _train(params: Mapping[str, object], train: xgb.DMatrix, valid: xgb.DMatrix) -> xgb.Booster:
    return xgb.train(
        {**PARAMS, **params},
        train,
        ROUNDS,
        evals=[(valid, "calibration")],
        early_stopping_rounds=PATIENCE,
        verbose_eval=False,
    )


def _fit(
    models: ModelSet,
    name: str,
    params: Mapping[str, object],
    x: pd.DataFrame,
    target: pd.Series,
    df: pd.DataFrame,
    fold: np.ndarray,
    refits: list[Refit] | None,
) -> tuple[xgb.Booster, xgb.DMatrix]:
    """Train model `name` on fold 0, stopping early on fold 1 (the calibration fold).

    `models` keeps only the trees up to the best calibration-fold iteration. With
    `refits`, it notes a refit on folds 0 and 1 with that many trees, run once everything
    has been calibrated (the newest events are the most like the next ones; a rolling
    origin inside the training fold showed the refit ranking better).

    Returns:
        The untrimmed booster and the calibration fold's data.
    """
    train, valid = _data(x, target, df, fold, 0), _data(x, target, df, fold, 1)
    for part, data in (("training", train), ("calibration", valid)):
        if data.num_row() == 0 or float(np.sum(data.get_weight())) <= 0.0:
            raise ValueError(
                f"{name}: no snapshot of the {part} events has a known outcome yet (each "
                "needs market history up to its horizon, up to 7 days later); import more "
                "history, or train on --data mlb"
            )
    booster = _train(params, train, valid)
    rounds = booster.best_iteration + 1
    models.boosters[name] = booster[:rounds]
    if refits is not None:
        both = _data(x, target, df, np.where(fold == 1, 0, fold), 0)
        refits.append((name, dict(params), both, rounds))
    return booster, valid


def _classifier(
    models: ModelSet,
    name: str,
    x: pd.DataFrame,
    target: pd.Series,
    df: pd.DataFrame,
    fold: np.ndarray,
    refits: list[Refit] | None = None,
) -> None:
    params = {"objective": "binary:logistic", "eval_metric": "logloss"}
    booster, valid = _fit(models, name, params, x, target, df, fold, refits)
    raw = logit(booster.predict(valid, iteration_range=(0, booster.best_iteration + 1)))
    if len(np.unique(valid.get_label())) < 2:
        logger.warning("%s: one class in the calibration fold; left uncalibrated", name)
        return
    platt = LogisticRegression(C=100.0).fit(
        raw[:, None], valid.get_label(), sample_weight=valid.get_weight()
    )
    models.platt[name] = (float(platt.coef_[0][0]), float(platt.intercept_[0]))


def _quantiles(
    models: ModelSet,
    h: str,
    x: pd.DataFrame,
    target: pd.Series,
    df: pd.DataFrame,
    fold: np.ndarray,
    refits: list[Refit] | None = None,
) -> None:
    params = {"objective": "reg:quantileerror", "quantile_alpha": np.array(QUANTILES)}
    _, valid = _fit(models, f"quant_{h}", params, x, target, df, fold, refits)
    mask = (fold == 1) & target.notna().to_numpy()
    actual, w = target[mask].to_numpy(), valid.get_weight()
    mid = models.predict(x[mask])[f"q50_{h}"]
    models.still[h] = dead_zone(mid, actual, w)
    q = models.predict(x[mask])
    models.widen[h] = (
        _widen(q[f"q50_{h}"], q[f"q10_{h}"], actual, w, 0.1),
        _widen(q[f"q50_{h}"], q[f"q90_{h}"], actual, w, 0.9),
    )


def dead_zone(mid: np.ndarray, actual: np.ndarray, w: np.ndarray) -> float:
    """The dead zone of STILL_GRID (|median log change| below it becomes "no change") with
    the smallest weighted median absolute error on the calibration fold. Ties go to the
    widest: the forecast leaves persistence only where that measurably helps."""
    errors = np.array(
        [_median(np.abs(np.where(np.abs(mid) < d, 0.0, mid) - actual), w) for d in STILL_GRID]
    )
    return float(STILL_GRID[np.flatnonzero(errors <= errors.min() + 1e-12)[-1]])


def _median(v: np.ndarray, w: np.ndarray) -> float:
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2.0)])


def _widen(
    mid: np.ndarray, edge: np.ndarray, actual: np.ndarray, w: np.ndarray, level: float
) -> float:
    """The factor on (edge - mid) that puts `level` of the weight below the edge."""
    grid = np.linspace(0.3, 4.0, 75)
    below = [np.average(actual < mid + s * (edge - mid), weights=w) for s in grid]
    return float(grid[int(np.argmin(np.abs(np.array(below) - level)))])


def _regressor(
    models: ModelSet,
    name: str,
    x: pd.DataFrame,
    target: pd.Series,
    df: pd.DataFrame,
    fold: np.ndarray,
    refits: list[Refit] | None = None,
) -> None:
    _fit(models, name, {"objective": "reg:pseudohubererror"}, x, target, df, fold, refits)


Check = tuple[np.ndarray, np.ndarray]  # (rows, P(dip) for every row)


def rolling_checks(
    models: ModelSet,
    x: pd.DataFrame,
    y: pd.DataFrame,
    df: pd.DataFrame,
    fold: np.ndarray,
    deciding: np.ndarray,
) -> list[Check]:
    """Out-of-time P(dip) for decision rows of several periods, to choose the threshold on.

    The calibration fold with the model trained before it, plus a rolling origin inside
    the training fold: its events are cut into ROLLING blocks by start, and block k is
    predicted the way the shipped model is made: trained on blocks < k - 1 with early
    stopping and Platt scaling on block k - 1, then refitted on blocks < k.
    """
    rows = deciding & y["dip"].notna().to_numpy()
    checks: list[Check] = [((fold == 1) & rows, models.predict(x)["dip"])]
    shares = (1.0 / ROLLING,) * ROLLING
    blocks = np.where(fold == 0, time_split(df, fold == 0, shares), -1)
    for k in range(2, ROLLING):
        early = ModelSet({}, curve=models.curve)
        sub = np.where(blocks < k - 1, 0, 1)
        sub = np.where((blocks >= 0) & (blocks < k), sub, -1)
        labelled = y["dip"].notna().to_numpy()
        if not all(((sub == f) & labelled).any() for f in (0, 1)):
            continue  # too few events for this origin
        refit: list[Refit] = []
        _classifier(early, "dip", x, y["dip"], df, sub, refit)
        if "dip" in early.platt:
            ((_, params, data, rounds),) = refit
            early.boosters["dip"] = xgb.train({**PARAMS, **params}, data, rounds)
            checks.append(((blocks == k) & rows, early.predict(x)["dip"]))
    return checks


def choose_threshold(checks: list[Check], y: pd.DataFrame, df: pd.DataFrame) -> float:
    """The P(dip) above which waiting saves most (mean over the checks) while the miss rate
    stays at most MAX_MISS in every check (each one a period the model never saw); 1.0
    (never wait) if no threshold qualifies. One period alone is too few events: the miss
    rate of the next one varies with it by a factor of two."""
    checks = [(rows, p) for rows, p in checks if rows.any()]
    best, best_saving = 1.0, 0.0
    for threshold in np.linspace(0.5, 0.98, 49):
        results = [
            buy_wait(p[rows] >= threshold, y[rows], df.loc[rows, "event"]) for rows, p in checks
        ]
        if not results or max(miss for _, miss in results) > MAX_MISS:
            continue
        saving = float(np.mean([s for s, _ in results]))
        if saving > best_saving:
            best, best_saving = float(threshold), saving
    return best


def buy_wait(wait: np.ndarray, y: pd.DataFrame, events: pd.Series) -> tuple[float, float]:
    """Mean saving vs buying now and the miss rate of a wait/buy policy, events weighted
    equally. Waiting buys at the first get-in <= 95% of today's, else at the last price
    before the deadline; a miss is waiting and ending above ACCEPTABLE x today's price."""
    paid = np.where(wait, y["paid_wait"].to_numpy() / _now(y), 1.0)
    miss = wait & (y["price_final"].to_numpy() > ACCEPTABLE * _now(y)) & (y["dip"].to_numpy() == 0)
    w = event_weights(events)
    return float(np.average(1.0 - paid, weights=w)), float(np.average(miss, weights=w))


def _now(y: pd.DataFrame) -> np.ndarray:
    return np.asarray(y["price_now"].to_numpy(float))
