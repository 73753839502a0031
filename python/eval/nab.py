"""Detection on the Numenta Anomaly Benchmark, through the real binary, scored by NAB's rules.

    /usr/bin/python3 python/eval/nab.py --bin /tmp/streamrls NAB [--flags="--robust"]

NAB is a checkout of github.com/numenta/NAB holding ``data/`` and
``labels/combined_windows.json`` (keep it outside this repository). Every series is one sensor
with autoregressive samples in raw values: y = the value, x = [y(t−1), …, y(t−4), 1]
(``--lags``); the first rows, which lack lags, are not sent. A fresh broker and ``process
--scores`` (plus ``--flags``) learn them; runbin.py reads the verdicts back.

Detections are the rows of ``anomaly`` events (an episode's opening when the binary publishes
episodes); ``--detect drift`` or ``both`` adds drift events. Scored as NAB's ``nab/sweeper.py``
and ``nab/runner.py`` describe for a detector whose score is 1 at a detection and 0 elsewhere
(threshold 0.5); this is an independent implementation:

- the first 15 % of a series (at most 750 rows) is probationary and not scored;
- a detection inside a labelled window earns tp·S(p)/S(−1), S(p) = 2/(1 + e^{5p}) − 1 and
  p = −(right − i + 1)/width the row's position (rows; width counts both ends); a window
  keeps its best detection, or costs −fn without one;
- a detection outside every window costs fp·S(d) with d its distance past the preceding
  window's right end over (width − 1) of that window (S = −1 beyond 3, or without a preceding
  window);
- profiles standard (tp 1, fp 0.11, fn 1), low FP (fp 0.22), low FN (fn 2); the corpus total
  is normalised as 100·(S − S_null)/(S_perfect − S_null), S_null = −fn and S_perfect = tp per
  window, so a detector that never fires scores 0 and a perfect one 100.

Also the best single threshold on the largest |z| over the models (each row its own score,
the same sweep) and the AUC of that |z| against rows inside windows. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runbin  # noqa: E402
import skabmetrics  # noqa: E402

PROFILES = {  # tp, fp, fn weights
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}


def parse_time(s):
    return datetime.datetime.fromisoformat(s.strip())


def load(root):
    with open(os.path.join(root, "labels", "combined_windows.json")) as fh:
        windows = json.load(fh)
    out = []
    for name in sorted(windows):
        times, values = [], []
        with open(os.path.join(root, "data", name), newline="") as fh:
            for r in csv.DictReader(fh):
                times.append(parse_time(r["timestamp"]))
                values.append(float(r["value"]))
        wins = [(parse_time(a), parse_time(b)) for a, b in windows[name]]
        out.append((name, times, values, wins))
    return out


def ar_samples(values, lags, times):
    for i in range(lags, len(values)):
        x = [values[i - k] for k in range(1, lags + 1)] + [1.0]
        ts = int(times[i].replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
        yield {"y": values[i], "x": x, "seq": i, "ts": ts}


def sigmoid_score(p):
    return -1.0 if p > 3.0 else 2 / (1 + math.exp(5 * p)) - 1.0


def sweep(times, wins):
    """Per row: (window index or None, unweighted score as TP or FP, probationary)."""
    n = len(times)
    probation = min(math.floor(0.15 * n), 0.15 * 5000)
    index = {t: i for i, t in enumerate(times)}
    bounds = [(index[a], index[b]) for a, b in wins]
    rows = []
    cur = None
    prev_right = prev_width = None
    k = 0
    for i in range(n):
        if k < len(bounds) and i == bounds[k][0]:
            cur = k
            k += 1
        if cur is not None:
            left, right = bounds[cur]
            width = right - left + 1
            u = sigmoid_score(-(right - i + 1) / width) / sigmoid_score(-1.0)
            rows.append((cur, u, i < probation))
            if i == right:
                prev_right, prev_width, cur = right, width, None
        else:
            u = -1.0
            if prev_right is not None:
                u = sigmoid_score(abs(prev_right - i) / (prev_width - 1))
            rows.append((None, u, i < probation))
    return rows, len(bounds)


def score_file(rows, nwin, detected, profile):
    tp, fp, fn = PROFILES[profile]
    total = 0.0
    best = {}
    for (w, u, prob), d in zip(rows, detected):
        if prob or not d:
            continue
        if w is None:
            total += u * fp
        else:
            best[w] = max(best.get(w, -fn), u * tp)
    scored = {w for w, _, prob in rows if w is not None and not prob}
    total += sum(best.get(w, -fn) for w in scored)
    return total, len(scored)


def normalised(files_rows, detections):
    out = {}
    for profile, (tp, _, fn) in PROFILES.items():
        s = nwin = 0.0
        for (rows, n), det in zip(files_rows, detections):
            v, m = score_file(rows, n, det, profile)
            s += v
            nwin += m
        null, perfect = -fn * nwin, tp * nwin
        out[profile] = round(100 * (s - null) / (perfect - null), 2)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nab", help="a NAB checkout (data/ and labels/)")
    runbin.add_args(ap)
    ap.add_argument("--lags", type=int, default=4)
    ap.add_argument("--detect", default="anomaly", choices=["anomaly", "drift", "both"])
    ap.add_argument("--thresholds", type=int, default=40,
                    help="|z| thresholds tried for the best single threshold")
    args = ap.parse_args()
    files = load(args.nab)
    t0 = time.time()
    streams = [(name, list(ar_samples(v, args.lags, t))) for name, t, v, _ in files]
    zmax, ev, counts, azmax = runbin.run(args.bin, args.flags, streams, args.keep)

    kinds = {"anomaly": ("anomaly",), "drift": ("drift",), "both": ("anomaly", "drift")}
    files_rows, det, zrows = [], [], []
    for name, times, _, wins in files:
        rows, n = sweep(times, wins)
        files_rows.append((rows, n))
        d = [0] * len(times)
        for e in ev.get(name, []):
            if e["kind"] in kinds[args.detect]:
                d[e["row"]] = 1
        det.append(d)
        zm = zmax.get(name, {})
        zrows.append([zm.get(i, 0.0) for i in range(len(times))])
    report = {"bin": args.bin, "flags": args.flags, "lags": args.lags, "detect": args.detect,
              "files": len(files), **counts, "events_nab": normalised(files_rows, det)}
    zs = sorted({z for zr in zrows for z in zr})
    best = None
    for q in range(1, args.thresholds + 1):
        thr = zs[min(len(zs) - 1, int(len(zs) * (1 - 0.5 ** (q / 4))))]
        r = normalised(files_rows, [[1 if z >= thr else 0 for z in zr] for zr in zrows])
        if best is None or r["standard"] > best[1]["standard"]:
            best = (thr, r)
    report["best_z_threshold"] = {"z": best[0], **best[1]}
    lab = [0 if w is None else 1 for rows, _ in files_rows for w, _, p in rows if not p]
    sc = [z for (rows, _), zr in zip(files_rows, zrows) for (w, _, p), z in zip(rows, zr) if not p]
    report["auc_max_abs_z"] = round(skabmetrics.auc(sc, lab), 3)
    if azmax:
        sa = [azmax.get(name, {}).get(i, 0.0) for (name, times, _, _), (rows, _) in
              zip(files, files_rows) for i, (w, _, p) in enumerate(rows) if not p]
        report["auc_max_abs_az"] = round(skabmetrics.auc(sa, lab), 3)
    report["seconds"] = round(time.time() - t0)
    runbin.write_report(report, args.out)


if __name__ == "__main__":
    main()
