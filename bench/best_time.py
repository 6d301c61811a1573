"""How often the best-time model finds a planted best weekday and hour in a synthetic history.

    python -m bench.best_time --trials 100 --weeks 8 [--held-out-weeks 8] [--accounts 5] [--posts-per-week 7-21]
                              [--noise 0.6] [--strength 1.0] [--seed 1]

Each trial builds one workspace's history (its own random generator, so trial t is the same on every run):

- A timezone among Europe/Berlin, America/New_York, Asia/Tokyo and UTC (posting times are drawn in local wall time,
  stored in UTC, and the model buckets them back across the March and April daylight saving changes).
- `--accounts` accounts (default 5, a small marketing team) of very different size: a typical post gets between
  about 10 and 3,000 engagements (log-uniform); each account posts `--posts-per-week` times a week (default
  7 to 21: one to three posts a day).
- Posting that does not cover every slot evenly (`posting_weights`): a third of an account's posts at its two or
  three habitual weekday slots, the rest 70% in business hours (Monday to Friday, 09:00-17:59) and 30% anywhere
  from 07:00 to 22:59 on any day. Evenings and weekends get few posts.
- The planted best slot: drawn uniformly among the slots getting at least 1% of the workspace's posts
  (`REGULAR_SHARE`: business hours and the habits), because no method can learn a time nobody posts at, and the
  model deliberately recommends only tried times. Around it, a true time effect on engagements (`true_effect`,
  log scale): a weekday effect (sd 0.1) with the best weekday 0.1 above the next, a daily curve peaking at the
  best hour (height 0.4, sd 3 hours) with a smaller second peak (0.15), and a bump of 0.15 at the slot itself,
  all times `--strength`. The slot is the grid's maximum, its neighbours close behind, as in real data.
- Each post's engagements: Poisson around exp(account level + time effect + quality), post quality lognormal
  (`--noise`, sd 0.6 on the log scale): most of the variation is the post, not its time.

The model (`core.analytics.best_time.recommend`, the call the dashboard makes, with its confidence bootstrap) is
fitted on the first `--weeks` weeks of the whole workspace. "Correct" is the planted best slot (known, because we
planted it): top1_accuracy = share of trials whose recommended best slot is exactly the planted weekday and hour;
top3_accuracy = share whose three recommended slots include it. The held-out weeks check that the recommendation
also pays off on posts it never saw: heldout_lift = the mean over trials of (mean score of held-out posts in the
recommended top-3 slots) minus (mean score of all held-out posts), a post's score being its log engagements minus
its account's true level (log-points; 0.3 is about 35% more engagements).

Calibration: accuracy_by_label = top-1 and top-3 accuracy among the trials whose recommendation carried each
confidence label ("high" should be right more often than "fair", "fair" more than "low").

Prints progress to stderr and one JSON object as the last line of stdout:
{"trials", "weeks", "top1_accuracy", "top3_accuracy", ...extras}. Target (issue 12): top-3 >= 0.9 at 8 weeks.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from core.analytics.best_time import recommend

ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
REGULAR_SHARE = 0.01          # the planted best is a slot getting at least 1% of the workspace's posts
START = datetime(2026, 1, 5)     # a Monday; the weeks run across March's and April's daylight saving changes


@dataclass(frozen=True)
class History:
    posts: pd.DataFrame          # published_at (UTC), account_id, platform, engagements, reach, engagement_rate, score
    best: tuple[int, int]        # the planted best (weekday, hour)
    tz_name: str
    effect: np.ndarray           # the true 7 x 24 time effect (log scale)


def true_effect(rng: np.random.Generator, best: tuple[int, int], strength: float = 1.0) -> np.ndarray:
    """A true time effect (log scale) whose maximum is the planted `best` slot: a weekday effect (normal, sd 0.1)
    with the best weekday 0.1 above the next, a smooth daily curve peaking at the best hour (height 0.4, sd 3 hours)
    with a smaller second peak at least 5 hours away (0.15), and a bump of 0.15 at the slot itself; all of it
    times `strength`."""
    hours = np.arange(24)
    second = int(rng.integers(7, 23))
    while abs(second - best[1]) < 5:
        second = int(rng.integers(7, 23))
    curve = 0.4 * np.exp(-0.5 * ((hours - best[1]) / 3.0) ** 2) + 0.15 * np.exp(-0.5 * ((hours - second) / 2.0) ** 2)
    day = rng.normal(0, 0.1, 7)
    day[best[0]] = np.delete(day, best[0]).max() + 0.1
    effect = day[:, None] + curve[None, :]
    effect[best] += 0.15
    return (effect - effect.mean()) * strength


def posting_weights(habits: list[tuple[int, int]]) -> np.ndarray:
    """Where one account posts (168 cells, weekday * 24 + hour, summing to 1): a third at its habitual slots, the
    rest 70% in business hours (Monday to Friday 09:00-17:59) and 30% anywhere from 07:00 to 22:59."""
    business, wide, habit = np.zeros((7, 24)), np.zeros((7, 24)), np.zeros((7, 24))
    business[0:5, 9:18] = 1
    wide[:, 7:23] = 1
    for d, h in habits:
        habit[d, h] += 1
    w = (2 / 3) * (0.7 * business / business.sum() + 0.3 * wide / wide.sum()) + (1 / 3) * habit / habit.sum()
    return w.ravel()


def synthetic_history(rng: np.random.Generator, weeks: int, accounts: int = 3, *, noise: float = 0.6,
                      strength: float = 1.0, per_week: tuple[int, int] = (4, 10)) -> History:
    """One workspace's posts over `weeks` weeks with a planted best slot (see the module docstring)."""
    tz_name = ZONES[int(rng.integers(0, len(ZONES)))]
    plans = []
    low_high = per_week
    for a in range(accounts):
        habits = [(int(rng.integers(0, 5)), int(rng.integers(8, 20))) for _ in range(int(rng.integers(2, 4)))]
        plans.append((float(rng.uniform(np.log(10), np.log(3000))), int(rng.integers(low_high[0], low_high[1] + 1)), posting_weights(habits)))
    total = sum(per_week * w for _, per_week, w in plans)
    regular = np.flatnonzero(total / total.sum() >= REGULAR_SHARE)
    cell = int(rng.choice(regular))
    best = (cell // 24, cell % 24)
    effect = true_effect(rng, best, strength)
    rows = []
    for a, (level, per_week, weights) in enumerate(plans):
        n = per_week * weeks
        week = np.repeat(np.arange(weeks), per_week)
        cells = rng.choice(168, size=n, p=weights)
        walls = [START + timedelta(weeks=int(k), days=int(c) // 24, hours=int(c) % 24, minutes=int(m))
                 for k, c, m in zip(week, cells, rng.integers(0, 60, n))]
        local = pd.DatetimeIndex(walls).tz_localize(tz_name, ambiguous=True, nonexistent="shift_forward")
        cells = np.asarray(local.weekday) * 24 + np.asarray(local.hour)
        quality = rng.normal(0, noise, n)
        eng = rng.poisson(np.exp(level + effect.ravel()[cells] + quality))
        reach = np.maximum(eng * rng.uniform(15, 40, n), 1).round()
        rows.append(pd.DataFrame({
            "published_at": local.tz_convert("UTC"), "account_id": f"acc_{a}",
            "platform": ("instagram", "linkedin", "x")[a % 3], "engagements": eng.astype(float),
            "reach": reach, "engagement_rate": eng / reach, "score": np.log1p(eng) - level}))
    posts = pd.concat(rows, ignore_index=True).sort_values("published_at", ignore_index=True)
    return History(posts=posts, best=best, tz_name=tz_name, effect=effect)


def run_trial(trial: int, weeks: int, held_out_weeks: int, accounts: int, seed: int, *, noise: float = 0.6,
              strength: float = 1.0, per_week: tuple[int, int] = (7, 21), bootstraps: int = 40) -> dict:
    rng = np.random.default_rng([seed, trial])
    hist = synthetic_history(rng, weeks + held_out_weeks, accounts, noise=noise, strength=strength,
                             per_week=per_week)
    cut = pd.Timestamp(START, tz=hist.tz_name) + pd.Timedelta(weeks=weeks)
    train = hist.posts[hist.posts["published_at"] < cut]
    test = hist.posts[hist.posts["published_at"] >= cut]
    started = time.perf_counter()
    rec = recommend(train, hist.tz_name, bootstraps=bootstraps)   # the whole workspace, as Settings asks
    fit_ms = (time.perf_counter() - started) * 1000
    top = [(s.weekday, s.hour) for s in rec.slots]
    local = test["published_at"].dt.tz_convert(hist.tz_name)
    in_top = pd.Series(list(zip(local.dt.day_of_week, local.dt.hour)), index=test.index).isin(top[:3])
    lift = float(test.loc[in_top, "score"].mean() - test["score"].mean()) if in_top.any() else None
    train_local = train["published_at"].dt.tz_convert(hist.tz_name)
    at_best = int(((train_local.dt.day_of_week == hist.best[0]) & (train_local.dt.hour == hist.best[1])).sum())
    return {"top1": bool(top and top[0] == hist.best), "top3": hist.best in top[:3], "posts": len(train),
            "posts_at_best": at_best, "confidence": rec.confidence, "label": rec.label, "heldout_lift": lift,
            "fit_ms": fit_ms}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--weeks", type=int, default=8, help="weeks of history the model learns from")
    ap.add_argument("--held-out-weeks", type=int, default=8, help="later weeks it is checked on")
    ap.add_argument("--accounts", type=int, default=5)
    ap.add_argument("--posts-per-week", default="7-21", help="each account posts between these many times a week")
    ap.add_argument("--noise", type=float, default=0.6, help="sd of post quality on the log scale (lognormal)")
    ap.add_argument("--strength", type=float, default=1.0, help="multiplies the planted time effect")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.trials < 1 or args.weeks < 1 or args.held_out_weeks < 1 or args.accounts < 1:
        ap.error("--trials, --weeks, --held-out-weeks and --accounts must be at least 1")
    try:
        low, _, high = args.posts_per_week.partition("-")
        per_week = (int(low), int(high or low))
    except ValueError:
        ap.error("--posts-per-week takes a range such as 7-21")
    if not 1 <= per_week[0] <= per_week[1]:
        ap.error("--posts-per-week takes a range such as 7-21 (at least 1)")
    results = []
    for t in range(args.trials):
        results.append(run_trial(t, args.weeks, args.held_out_weeks, args.accounts, args.seed, noise=args.noise,
                                 strength=args.strength, per_week=per_week))
        if (t + 1) % 10 == 0:
            print(f"{t + 1}/{args.trials} trials", file=sys.stderr)
    lifts = [r["heldout_lift"] for r in results if r["heldout_lift"] is not None]
    out = {
        "trials": args.trials, "weeks": args.weeks,
        "top1_accuracy": round(sum(r["top1"] for r in results) / len(results), 3),
        "top3_accuracy": round(sum(r["top3"] for r in results) / len(results), 3),
        "correct_means": "the planted best weekday and hour is the recommended best slot (top 1) or among the "
                         "three recommended slots (top 3)",
        "held_out_weeks": args.held_out_weeks, "accounts": args.accounts, "posts_per_week": args.posts_per_week,
        "noise": args.noise, "strength": args.strength, "seed": args.seed,
        "median_posts": statistics.median(r["posts"] for r in results),
        "median_posts_at_best": statistics.median(r["posts_at_best"] for r in results),
        "heldout_lift": round(statistics.mean(lifts), 3) if lifts else None,
        "median_confidence": statistics.median(r["confidence"] for r in results),
        "labels": {k: sum(r["label"] == k for r in results) for k in ("not enough data", "low", "fair", "high")},
        "accuracy_by_label": {k: {"trials": len(g), "top1": round(sum(r["top1"] for r in g) / len(g), 3),
                                  "top3": round(sum(r["top3"] for r in g) / len(g), 3)}
                              for k in ("not enough data", "low", "fair", "high")
                              for g in [[r for r in results if r["label"] == k]] if g},
        "median_fit_ms": round(statistics.median(r["fit_ms"] for r in results), 1),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
