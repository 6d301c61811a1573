"""Best time to post, learned from a workspace's own published posts (pure pandas/numpy: no DuckDB, no Streamlit).

Input: one row per published delivery, as `core.analytics.queries.post_table` returns them (at least
`published_at` (UTC), `account_id`, `platform`, `engagements`; `engagement_rate` and `reach` are read when present),
and the workspace's timezone. Output: a `Recommendation` with the best weekday-and-hour slots, how many posts it
rests on, how sure it is, and where it comes from.

The model, step by step:

1. **What is measured.** Engagements (likes + comments + shares + saves, core.analytics.definitions) on the log
   scale, ``y = log(1 + engagements)``. Not the engagement rate: posting at a good time mostly brings more people
   to a post, and the rate divides exactly that away. A post whose engagements are not available is left out
   (never counted as 0), and so are posts too young to have settled (the service passes only posts at least two
   days old). A post far out of line with its account (beyond `_OUTLIER` robust spreads of its median, as one
   viral post) is held at that bound: a very good post, not a best time on its own.
2. **Big and small accounts combine.** Each account gets its own level (its typical post); a post is scored by how
   far it is above or below its account's level, so a 50-like account and a 5,000-like one speak the same language.
   The levels and the time effects are fitted together (backfitting), so an account that happened to
   post mostly at good times is not mistaken for a big account.
3. **Local weekday x hour.** Each post falls in the cell of its local weekday and hour in the workspace's zone,
   read through the tz database (pandas `tz_convert`), so 09:00 in Berlin is 09:00 in both summer and winter.
4. **Sparse cells borrow strength.** effect(d, h) = weekday(d) + hour(h) + cell(d, h), fitted by penalised least
   squares (the posterior mean of a Gaussian model) together with the account levels: each part is pulled toward 0
   by a prior of a fixed size, relative to the noise (the spread of posts around their account's level): a weekday
   within about +-10% (`_TAU_DAY`), an hour within about +-20% (`_TAU_HOUR`) on a curve that bends smoothly from
   one hour to the next, 23:00 next to 00:00 (`_TAU_BEND`, on second differences), and one weekday-and-hour on top
   of its weekday and hour within about +-5% (`_TAU_CELL`): a slot is believed to be special mostly through its
   weekday and its hour, which rest on many posts, not through its own handful. A slot that really stands out
   (twice the engagements, every week) still comes out on top, with a conservative lift. Solved exactly by
   backfitting (`_ROUNDS` rounds; small solves only).
5. **Only tried times are recommended.** A slot qualifies when the history has posts in it: Outpost does not
   recommend a time nobody has posted at (its neighbours' posts still shape its estimate).
6. **Expected lift** of a slot = exp(effect - average effect of the posts used) - 1: "posts at this time got 23%
   more engagements than a typical post of the same account".
7. **Confidence** (0-1): the fit is repeated on `BOOTSTRAPS` resamples of the posts (drawn with replacement, from
   a fixed seed and the posts in time order, so the same history always gives the same answer); stability = share of resamples whose best slot is the recommended best slot or
   the hour either side of it. confidence = stability x min(1, posts / 100) ** 0.5, so a stable answer from 25
   posts is still only "fair". Labels: fewer than `MIN_POSTS` posts: "not enough data"; below 0.4: "low"; below
   0.7: "fair"; otherwise "high".
8. **Fallback chain** (issue 12): the chosen account(s)' own posts when there are at least `MIN_POSTS`; otherwise the
   workspace's accounts on the same platform(s); otherwise all of the workspace's accounts; otherwise
   `DEFAULT_SLOTS`, a generic default per platform (see there), said plainly.

`bench/best_time.py` measures how often the planted best slot of synthetic histories is found (top 3: 0.90 with
8 weeks of 5 accounts posting 1-3 times a day; see its docstring for the synthetic world and README Performance
for the figures at 4 and 16 weeks). The prior sizes are a judgement, not estimated from each history, and were
checked on that bench, whose planted effects are of the same order: it does not test a world where one-slot
quirks are large (there the lift shown would understate them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from core.domain.errors import ValidationError
from core.domain.timeutil import zone

__all__ = ["MIN_POSTS", "DEFAULT_SLOTS", "DEFAULT_SOURCE", "Slot", "Recommendation", "local_cells", "fit_effects",
           "recommend", "default_recommendation", "BASES", "LABELS"]

MIN_POSTS = 20          # fewer of the scope's own posts than this: borrow from the workspace, then the default
TOP = 3                 # slots in a recommendation
BOOTSTRAPS = 40         # resamples behind the confidence
FULL_POSTS = 100        # the amount of history at which the amount stops limiting the confidence
_ROUNDS = 30            # backfitting rounds (account levels <-> weekday <-> hour <-> weekday-and-hour)
_SEED = 20260312        # fixed: the same history always gets the same confidence
REQUIRED = ("published_at", "account_id", "platform", "engagements")
BASES = ("this account", "this workspace", "default")
LABELS = ("not enough data", "low", "fair", "high")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_PLATFORM_LABELS = {"instagram": "Instagram", "facebook": "Facebook", "linkedin": "LinkedIn", "x": "X",
                    "tiktok": "TikTok", "youtube": "YouTube", "threads": "Threads", "bluesky": "Bluesky",
                    "mastodon": "Mastodon"}

# The generic default, for a workspace without enough history of its own. NOT measured on anyone's audience here:
# local (audience) weekday and hour from Hootsuite's published analysis of about 30,000 posts ("The best time to
# post on Facebook, Instagram, Twitter and LinkedIn", Hootsuite blog): overall 10:00 on Tuesday to Thursday;
# Facebook 08:00-12:00 Tuesday and Thursday; Instagram 11:00 Wednesday; X (Twitter) 08:00 Monday and Thursday;
# LinkedIn 09:00 Tuesday and Wednesday. Platforms that study does not cover (TikTok, YouTube, Threads, Bluesky,
# Mastodon) get its overall finding. Best first; weekday 0 = Monday.
DEFAULT_SOURCE = ("a generic starting point from a published industry study (Hootsuite's analysis of about 30,000 "
                  "posts), not measured on your audience")
_OVERALL = ((1, 10), (2, 10), (3, 10))
DEFAULT_SLOTS: dict[str, tuple[tuple[int, int], ...]] = {
    "instagram": ((2, 11), (1, 11), (3, 11)),
    "facebook": ((1, 10), (3, 10), (1, 8)),
    "x": ((0, 8), (3, 8), (2, 10)),
    "linkedin": ((1, 9), (2, 9), (3, 10)),
    "tiktok": _OVERALL, "youtube": _OVERALL, "threads": _OVERALL, "bluesky": _OVERALL, "mastodon": _OVERALL,
}


@dataclass(frozen=True)
class Slot:
    """A local weekday (0 = Monday) and hour, with its expected lift over a typical post (None: not measured)."""

    weekday: int
    hour: int
    lift: float | None = None
    posts: int = 0                 # posts of the history in exactly this weekday and hour

    @property
    def label(self) -> str:
        """'Tue 18:00'."""
        return f"{WEEKDAYS[self.weekday][:3]} {self.hour:02d}:00"

    @property
    def long_label(self) -> str:
        """'Tuesday 18:00'."""
        return f"{WEEKDAYS[self.weekday]} {self.hour:02d}:00"

    @property
    def lift_words(self) -> str:
        """'+23% engagements', '-5% engagements' or 'not measured'."""
        if self.lift is None:
            return "not measured"
        return f"{self.lift * 100:+.0f}% engagements"


@dataclass(frozen=True)
class Recommendation:
    """The best times for a scope (an account, several accounts, a platform, the workspace) and how sure it is."""

    slots: tuple[Slot, ...]
    posts_used: int                # posts the slots were learned from (0 for the default)
    confidence: float              # 0-1 (0 for the default)
    label: str                     # one of LABELS
    basis: str                     # one of BASES: 'this account' = the chosen account(s)' own posts; 'this
                                   # workspace' = the workspace's (same platform first); 'default' = DEFAULT_SLOTS
    explanation: str               # one or two sentences a marketer understands
    tz_name: str = "UTC"
    own_posts: int = 0             # the scope's own usable posts (what decided the fallback)
    platforms: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()
    grid: pd.DataFrame | None = field(default=None, compare=False, repr=False)   # weekday, hour, posts, lift

    @property
    def best(self) -> Slot | None:
        return self.slots[0] if self.slots else None

    @property
    def summary(self) -> str:
        """'Tue 18:00 (based on 34 posts, fair confidence)' / '... (generic default: not enough data yet)'."""
        if not self.slots:
            return "No suggestion yet"
        if self.basis == "default":
            return f"{self.slots[0].label} (generic default: not enough posts yet)"
        basis = "" if self.basis == "this account" else " in this workspace"
        return f"{self.slots[0].label} (based on {self.posts_used} posts{basis}, {self.label} confidence)"


# ---------------------------------------------------------------- preparing the posts

def _platform_words(platforms: Sequence[str]) -> str:
    names = [_PLATFORM_LABELS.get(p, p) for p in platforms]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def local_cells(published_at: pd.Series, tz_name: str) -> pd.DataFrame:
    """Each instant's local weekday (0 = Monday) and hour in `tz_name`, across daylight saving changes."""
    tz = zone(tz_name)
    at = pd.to_datetime(published_at, utc=True)
    local = at.dt.tz_convert(tz.key)
    return pd.DataFrame({"weekday": local.dt.day_of_week.astype("int64"), "hour": local.dt.hour.astype("int64")},
                        index=published_at.index)


def _prepare(posts: pd.DataFrame, tz_name: str) -> pd.DataFrame:
    """The usable posts: engagements available and not negative, bucketed in local time, scored on the log scale."""
    if not isinstance(posts, pd.DataFrame):
        raise ValidationError("Best times are learned from a table of published posts.", code="best_time_input")
    missing = [c for c in REQUIRED if c not in posts.columns]
    if missing:
        raise ValidationError(f"The post table lacks {', '.join(missing)}, which best times need.",
                              code="best_time_input")
    zone(tz_name)
    posts = posts.reset_index(drop=True)
    eng = pd.to_numeric(posts["engagements"], errors="coerce")
    keep = posts.loc[eng.notna() & (eng >= 0) & posts["published_at"].notna() & posts["account_id"].notna()]
    out = local_cells(keep["published_at"], tz_name)
    out["account_id"] = keep["account_id"].astype(str).to_numpy()
    out["platform"] = keep["platform"].astype(str).to_numpy()
    out["y"] = np.log1p(eng.loc[keep.index].to_numpy(dtype="float64"))
    out["at"] = pd.to_datetime(keep["published_at"], utc=True).to_numpy()
    # One order whatever order the rows came in, so the bootstrap draws (and the confidence) are the same.
    return out.sort_values(["at", "account_id", "y"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- the fit

# Prior sizes of the parts of the time effect (log scale: 0.1 is about 10% more engagements). They say how big an
# effect has to look before the model believes it, not where it is.
_TAU_DAY = 0.1          # one weekday against the week: typically within about +-10%
_TAU_HOUR = 0.2         # one hour of the day against the day: within about +-20%
_TAU_BEND = 0.03        # how sharply the hour curve may bend from one hour to the next (second difference)
_TAU_CELL = 0.05        # one weekday-and-hour on top of its weekday and its hour: small
_DAY_OF, _HOUR_OF = np.arange(168) // 24, np.arange(168) % 24


def _second_differences(n: int) -> np.ndarray:
    """D'D for the circular second differences of n values (23:00 and 00:00 are neighbours)."""
    d = np.zeros((n, n))
    i = np.arange(n)
    d[i, i], d[i, (i - 1) % n], d[i, (i + 1) % n] = -2.0, 1.0, 1.0
    return d.T @ d


_BEND = _second_differences(24)


def _sum_by(values: np.ndarray, flat: np.ndarray, rows: int, size: int) -> np.ndarray:
    """Per row, the sums of `values` (rows x n) by group; `flat` = row * size + group. (bincount rather than a
    matrix product: BLAS threads fight over a loaded machine's cores and made this ten times slower.)"""
    return np.bincount(flat, weights=values.ravel(), minlength=rows * size).reshape(rows, size)


def _fit_many(cell: np.ndarray, account: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Time effects (rows x 168, log scale, relative to each account's level), one fit per row of `weights`
    (how many times each post counts: all ones for the fit itself, bootstrap counts for the resamples).

    The penalised least squares of the module docstring, solved by backfitting: each part in turn is refitted to
    what the others leave (exactly: weekday, weekday-and-hour and account parts are one value per group; the hour
    curve is one small 24 x 24 solve), `_ROUNDS` rounds. Small solves only: BLAS threads on a loaded machine
    made one 200 x 200 solve per fit twenty times slower."""
    n_acc = int(account.max()) + 1 if len(account) else 1
    rows = weights.shape[0]
    row = np.arange(rows)[:, None]
    flat = (row * (n_acc * 168) + (account * 168 + cell)[None, :]).ravel()
    n = _sum_by(weights, flat, rows, n_acc * 168).reshape(rows, n_acc, 168)
    s = _sum_by(weights * y[None, :], flat, rows, n_acc * 168).reshape(rows, n_acc, 168)
    per_acc = np.maximum(n.sum(axis=2), 1e-9)
    total = np.maximum(per_acc.sum(axis=1), 1e-9)
    yy = (weights * y[None, :] ** 2).sum(axis=1)
    sigma2 = np.maximum((yy - (s.sum(axis=2) ** 2 / per_acc).sum(axis=1)) / total, 1e-6)[:, None]
    n_cell = n.sum(axis=1)
    n_day = n_cell.reshape(rows, 7, 24).sum(axis=2)
    n_hour = n_cell.reshape(rows, 7, 24).sum(axis=1)
    hour_system = (n_hour[:, :, None] * np.eye(24)
                   + sigma2[:, :, None] * (np.eye(24) / _TAU_HOUR ** 2 + _BEND / _TAU_BEND ** 2))
    day, hour, own = np.zeros((rows, 7)), np.zeros((rows, 24)), np.zeros((rows, 168))
    level = s.sum(axis=2) / per_acc
    for _ in range(_ROUNDS):
        effect = day[:, _DAY_OF] + hour[:, _HOUR_OF] + own
        level = (s.sum(axis=2) - (n * effect[:, None, :]).sum(axis=2)) / per_acc
        r = s.sum(axis=1) - (n * level[:, :, None]).sum(axis=1)              # residual sums per weekday-and-hour
        rest = r - n_cell * (hour[:, _HOUR_OF] + own)
        day = rest.reshape(rows, 7, 24).sum(axis=2) / (n_day + sigma2 / _TAU_DAY ** 2)
        rest = r - n_cell * (day[:, _DAY_OF] + own)
        hour = np.linalg.solve(hour_system, rest.reshape(rows, 7, 24).sum(axis=1)[:, :, None])[:, :, 0]
        rest = r - n_cell * (day[:, _DAY_OF] + hour[:, _HOUR_OF])
        own = rest / (n_cell + sigma2 / _TAU_CELL ** 2)
    return day[:, _DAY_OF] + hour[:, _HOUR_OF] + own


def fit_effects(weekday: np.ndarray, hour: np.ndarray, account: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The 7 x 24 grid of time effects (log scale, relative to each account's level); `account` holds integer
    codes 0..A-1. See the module docstring for the model."""
    return _fit_many(weekday * 24 + hour, account, y, np.ones((1, len(y))))[0].reshape(7, 24)


def _ranked(effect: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Cell indexes (weekday * 24 + hour) of tried slots, best first (ties: earlier in the week first)."""
    flat = effect.ravel()
    tried = np.flatnonzero(support.ravel() > 0)
    order = np.lexsort((tried, -flat[tried]))
    return tried[order]


_OUTLIER = 3.0          # a post counts at most this many robust spreads above or below its account's median
_MIN_SPREAD = 0.5       # floor of that spread (log scale), for accounts whose posts all score alike


def _arrays(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cells, account codes and scores, each score held within `_OUTLIER` robust spreads (1.4826 x the median
    absolute deviation) of its account's median: one viral post counts as a very good post, not as fifty."""
    cell = data["weekday"].to_numpy() * 24 + data["hour"].to_numpy()
    account = pd.factorize(data["account_id"])[0]
    y = data["y"].to_numpy(dtype="float64")
    by = pd.Series(y).groupby(account)
    median = by.transform("median").to_numpy()
    spread = np.maximum(1.4826 * pd.Series(np.abs(y - median)).groupby(account).transform("median").to_numpy(),
                        _MIN_SPREAD)
    return cell, account, np.clip(y, median - _OUTLIER * spread, median + _OUTLIER * spread)


def _near(a: int, b: int) -> bool:
    """The same slot of the week (weekday * 24 + hour) or the hour either side of it."""
    return min((a - b) % 168, (b - a) % 168) <= 1


def _stability(data: pd.DataFrame, best: int, rounds: int = BOOTSTRAPS) -> float:
    """Share of bootstrap resamples (posts drawn with replacement) whose best slot is `best` or next to it."""
    rng = np.random.default_rng(_SEED + len(data))
    cell, account, y = _arrays(data)
    counts = rng.multinomial(len(y), np.full(len(y), 1 / len(y)), size=rounds).astype(float)
    effects = _fit_many(cell, account, y, counts)
    hits = 0
    for effect, w in zip(effects, counts):
        ranked = _ranked(effect, np.bincount(cell, weights=w, minlength=168))
        hits += bool(len(ranked)) and _near(int(ranked[0]), best)
    return hits / rounds


def _label(posts: int, confidence: float) -> str:
    if posts < MIN_POSTS:
        return "not enough data"
    return "low" if confidence < 0.4 else "fair" if confidence < 0.7 else "high"


def _learned(data: pd.DataFrame, *, top: int, bootstraps: int) -> tuple[tuple[Slot, ...], float, pd.DataFrame]:
    cells, account, y = _arrays(data)
    effect = _fit_many(cells, account, y, np.ones((1, len(y))))[0]
    exact = np.bincount(cells, minlength=168)
    ranked = _ranked(effect, exact)
    baseline = float(effect[cells].mean())
    lift = np.exp(effect - baseline) - 1
    slots = tuple(Slot(int(c) // 24, int(c) % 24, float(lift[c]), int(exact[c])) for c in ranked[:top])
    stability = _stability(data, int(ranked[0]), bootstraps) if len(ranked) and bootstraps else 0.0
    confidence = round(stability * min(1.0, len(data) / FULL_POSTS) ** 0.5, 3)
    grid = pd.DataFrame({"weekday": np.repeat(np.arange(7), 24), "hour": np.tile(np.arange(24), 7),
                         "posts": exact, "lift": np.where(exact > 0, lift, np.nan)})
    return slots, confidence, grid


# ---------------------------------------------------------------- the recommendation with its fallbacks

def default_recommendation(platforms: Sequence[str], tz_name: str, *, own_posts: int = 0,
                           account_ids: Sequence[str] = (), reason: str = "", young: int = 0,
                           settle_words: str = "2 days") -> Recommendation:
    """The generic default for the first platform (its slots in the workspace's local time). `young`: posts with
    figures left out because they are younger than the settling time (`settle_words`), said so."""
    platform = platforms[0] if platforms else ""
    cells = DEFAULT_SLOTS.get(platform, _OVERALL)
    slots = tuple(Slot(d, h) for d, h in cells)
    if len(platforms) > 1:      # the whole workspace: the first platform's default, and the others named
        what = (f"{_platform_words(platforms[:1])}, the first of your platforms ({_platform_words(platforms)}; "
                "each platform's own default is under 'Per platform and account')")
    else:
        what = _platform_words(platforms) if platforms else "these accounts"
    counted = (f"{own_posts} {'is' if own_posts == 1 else 'are'} old enough to count; Outpost needs {MIN_POSTS}"
               if young else f"{own_posts}; Outpost needs {MIN_POSTS}")
    why = reason or (f"There are not enough published posts with figures yet ({counted}) to learn from.")
    if young and not reason:
        why += (f" {young}{' more' if own_posts else ''} {'post is' if young == 1 else 'posts are'} under {settle_words} old and not counted "
                f"yet: {'its' if young == 1 else 'their'} figures are still growing.")
    text = (f"{why} Until then, {slots[0].long_label} is {DEFAULT_SOURCE} for {what}. "
            f"It will be replaced by your own best times once there is enough history.")
    return Recommendation(slots=slots, posts_used=0, confidence=0.0, label="not enough data", basis="default",
                          explanation=text, tz_name=tz_name, own_posts=own_posts, platforms=tuple(platforms),
                          account_ids=tuple(account_ids))


def recommend(posts: pd.DataFrame, tz_name: str, *, account_ids: Iterable[str] = (),
              platforms: Iterable[str] = (), top: int = TOP, bootstraps: int = BOOTSTRAPS,
              min_posts: int = MIN_POSTS) -> Recommendation:
    """Best times for the chosen accounts (or, with none chosen, the chosen platforms; with neither, the whole
    workspace), from `posts` = the workspace's published posts, with the fallback chain of the module docstring."""
    account_ids = tuple(dict.fromkeys(str(a) for a in account_ids))
    platforms = tuple(dict.fromkeys(str(p) for p in platforms))
    data = _prepare(posts, tz_name)
    if account_ids and not platforms:
        platforms = tuple(dict.fromkeys(data.loc[data["account_id"].isin(account_ids), "platform"]))
    if account_ids:
        own = data[data["account_id"].isin(account_ids)]
        who = "this account" if len(account_ids) == 1 else "these accounts"
    elif platforms:
        own = data[data["platform"].isin(platforms)]
        who = f"the workspace's {_platform_words(platforms)} accounts"
    else:
        own = data
        who = "this workspace's accounts"
    n_own = len(own)
    common = dict(tz_name=tz_name, own_posts=n_own, platforms=platforms, account_ids=account_ids)

    def build(pool: pd.DataFrame, basis: str, source: str) -> Recommendation:
        slots, confidence, grid = _learned(pool, top=top, bootstraps=bootstraps)
        label = _label(len(pool), confidence)
        best = slots[0]
        lift = (f"posts then got {abs(best.lift) * 100:.0f}% {'more' if best.lift >= 0 else 'fewer'} engagements "
                f"than a typical post of the same account")
        text = (f"{best.long_label} ({tz_name}) has done best for {source}: {lift} "
                f"(based on {len(pool)} posts, {label} confidence).")
        if basis != "this account" or not account_ids:
            if n_own < min_posts and (account_ids or platforms):
                text = (f"{who[0].upper()}{who[1:]} {'has' if who == 'this account' else 'have'} only {n_own} "
                        f"published post{'s' if n_own != 1 else ''} with figures, too few to learn from "
                        f"(Outpost needs {min_posts}), so this comes from {source}. " + text)
        return Recommendation(slots=slots, posts_used=len(pool), confidence=confidence, label=label, basis=basis,
                              explanation=text, grid=grid, **common)

    if n_own >= min_posts:
        return build(own, "this account" if account_ids else "this workspace", who)
    if account_ids and platforms:
        same = data[data["platform"].isin(platforms)]
        if len(same) >= min_posts and len(same) > n_own:
            return build(same, "this workspace", f"the workspace's {_platform_words(platforms)} accounts")
    if (account_ids or platforms) and len(data) >= min_posts:
        return build(data, "this workspace", "all of the workspace's accounts")
    return default_recommendation(platforms, tz_name, own_posts=n_own, account_ids=account_ids)
