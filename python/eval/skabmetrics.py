"""SKAB's scoring rules, written from their description for streamrls' harness.

This is an independent implementation (standard library only) of the two metrics of SKAB's
leaderboard, following the conventions of SKAB's ``core/metrics.py`` (github.com/waico/SKAB,
from the TSAD framework, github.com/waico/tsad); no code of it is copied here.

- ``binary``: rows of every file pooled into one confusion matrix;
  F1 = TP / (TP + (FP + FN) / 2), FAR = FP / (FP + TN), MAR = FN / (FN + TP), each rounded as
  the leaderboard prints them.
- ``nab``: the NAB score with SKAB's "improved" scoring function. Every labelled change point
  t opens a detection window [t, t + width] ("righter"; both ends included); when a window
  reaches into the next one, the next one starts where this one ends. The first detection in
  a window earns A_fp + (A_tp − A_fp)·(1 − tanh(x)/tanh(π/2))/2 with x the detection's
  relative position in the window mapped onto [−π/2, π/2] (1000 steps); a window without a
  detection costs A_fn; a detection outside every window costs A_fp; further detections
  inside a window cost nothing. Per profile the sum over files is normalised as
  100·(S − S_null)/(S_perfect − S_null), S_null = A_fn and S_perfect = A_tp per window.

Times are plain numbers (seconds); predictions and labels are lists of 0/1 aligned with them.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

PROFILES = {  # A_tp, A_fp, A_fn
    "Standard": (1.0, -0.11, -1.0),
    "LowFP": (1.0, -0.22, -1.0),
    "LowFN": (1.0, -0.11, -2.0),
}

DETAIL = 1000


def windows(times: Sequence[float], labels: Sequence[int], width: float) -> List[List[float]]:
    """The detection windows [t, t + width] of the labelled change points, overlaps cut."""
    w = [[t, t + width] for t, l in zip(times, labels) if l == 1]
    for i in range(len(w) - 1):
        if w[i][1] >= w[i + 1][0]:
            w[i + 1][0] = w[i][1]
    return w


def _scale(left: float, hit: float, right: float, a_tp: float, a_fp: float) -> float:
    k = int((hit - left) / (right - left) * DETAIL) if right > left else 0
    k = min(k, DETAIL - 1)
    x = -math.pi / 2 + math.pi * k / (DETAIL - 1)
    half = (a_tp - a_fp) / 2
    return half * -math.tanh(x) / math.tanh(math.pi / 2) + half + a_fp


def cp_confusion(wins: List[List[float]], times: Sequence[float], pred: Sequence[int]):
    """True-positive windows (index → first detection time), false positives, missed windows."""
    hits = sorted(t for t, p in zip(times, pred) if p == 1)
    tps: Dict[int, Tuple[float, float, float]] = {}
    fps: List[float] = []
    fns: List[int] = []
    if not wins:
        return tps, hits, fns
    fps += [t for t in hits if t < wins[0][0]]
    for i, (lo, hi) in enumerate(wins):
        inside = [t for t in hits if lo <= t <= hi]
        if inside:
            tps[i] = (lo, inside[0], hi)
        else:
            fns.append(i)
        if i + 1 < len(wins):
            fps += [t for t in hits if hi < t < wins[i + 1][0]]
    fps += [t for t in hits if t > wins[-1][1]]
    return tps, fps, fns


def nab(files: Sequence[Tuple[Sequence[float], Sequence[int], Sequence[int]]],
        width: float = 60.0) -> Dict[str, object]:
    """files: (times, change-point labels, predictions) per file. Scores per profile, plus the
    counts of missed change points and false positives."""
    raw = {p: [0.0, 0.0, 0.0] for p in PROFILES}  # score, null, perfect
    missed = fp = total = 0
    for times, labels, pred in files:
        wins = windows(times, labels, width)
        tps, fps, fns = cp_confusion(wins, times, pred)
        missed += len(fns)
        fp += len(fps)
        total += len(wins)
        for p, (a_tp, a_fp, a_fn) in PROFILES.items():
            s = a_fp * len(fps) + a_fn * len(fns)
            s += sum(_scale(lo, t, hi, a_tp, a_fp) for lo, t, hi in tps.values())
            raw[p][0] += s
            raw[p][1] += len(wins) * a_fn
            raw[p][2] += len(wins) * a_tp
    out: Dict[str, object] = {
        p: round(100 * (s - n) / (pf - n), 2) if pf != n else 0.0 for p, (s, n, pf) in raw.items()
    }
    out.update(missed=missed, fp=fp, changepoints=total)
    return out


def binary(files: Sequence[Tuple[Sequence[int], Sequence[int]]]) -> Dict[str, float]:
    """files: (anomaly labels, predictions) per file. F1, FAR % and MAR % over all rows."""
    tp = tn = fp = fn = 0
    for labels, pred in files:
        for l, p in zip(labels, pred):
            if l == 1 and p == 1:
                tp += 1
            elif l == 1:
                fn += 1
            elif p == 1:
                fp += 1
            else:
                tn += 1
    f1 = tp / (tp + (fn + fp) / 2) if tp + fn + fp else 0.0
    return {
        "F1": round(f1, 2),
        "FAR": round(100 * fp / (fp + tn), 2) if fp + tn else 0.0,
        "MAR": round(100 * fn / (fn + tp), 2) if fn + tp else 0.0,
        "TP": tp, "FP": fp, "FN": fn, "TN": tn,
    }


def auc(scores: Sequence[float], labels: Sequence[int]) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half)."""
    pairs = sorted(zip(scores, labels))
    pos = sum(labels)
    neg = len(labels) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    rank_sum = 0.0
    i = 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + 1 + j) / 2  # average 1-based rank of the tie group
        rank_sum += mid * sum(l for _, l in pairs[i:j])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
