"""Detection on SKAB, through the real binary, scored with SKAB's rules.

    /usr/bin/python3 python/eval/skab.py --bin /tmp/streamrls DATA [--flags="--anomaly-z 4"]

DATA is a checkout of SKAB's ``data/`` directory (github.com/waico/SKAB; GPL-3.0: keep it
outside this repository). Every file but ``anomaly-free`` is one sensor: its rows are sent in
order as JSON samples with ``seq`` (the row) and ``ts`` (the row's datetime), y = the
``--target`` channel and x = the other seven channels followed by 1, all in the rig's own units
(``--scale raw``) or each channel standardised by the mean and standard deviation of the
file's first 400 rows (``--scale train``). A fresh ``streamrls broker`` and ``streamrls process
--scores`` (plus ``--flags``) learn them; the harness reads ``GROUP-scores`` and
``GROUP-events`` back and maps every score and event to its row (runbin.py).

Scored as SKAB's leaderboard does (its ``core/utils.py`` split and notebooks): the first 400
rows of a file train, the rest are scored.

- outlier F1 / FAR / MAR: a row is predicted anomalous when an anomaly event names it, or,
  when the binary publishes episodes (``anomaly`` … ``anomaly-end``), when it lies from an
  episode's first sample to its last anomalous one (``--episode-gap`` rows before the sample
  the end event names); labels are ``anomaly``.
- NAB changepoint (standard, low FP, low FN), windows of 60 s to the right of each labelled
  ``changepoint``: the predicted change points are the rows of drift events, of anomaly
  events (episode openings), and of both.
- AUC of the largest |z| over the models of each row against ``anomaly`` (and of |az|, the
  anomaly test's statistic, when the scores carry it).

skabmetrics.py implements the metrics. Prints a JSON report; --out also writes it.
"""

from __future__ import annotations

import argparse
import calendar
import csv
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runbin  # noqa: E402
import skabmetrics  # noqa: E402

CHANNELS = [
    "Accelerometer1RMS", "Accelerometer2RMS", "Current", "Pressure", "Temperature",
    "Thermocouple", "Voltage", "Volume Flow RateRMS",
]
TRAIN = 400  # SKAB's train_test_split(train_size=400, shuffle=False)


def load(data_dir):
    """(sensor, rows) per labelled file in path order; a row is (time s, channels, anomaly,
    changepoint)."""
    out = []
    for root, _, files in sorted(os.walk(data_dir)):
        for f in sorted(files, key=lambda s: (len(s), s)):
            if not f.endswith(".csv") or "anomaly-free" in root or "anomaly-free" in f:
                continue
            path = os.path.join(root, f)
            rows = []
            with open(path, newline="") as fh:
                for r in csv.DictReader(fh, delimiter=";"):
                    t = calendar.timegm(time.strptime(r["datetime"], "%Y-%m-%d %H:%M:%S"))
                    rows.append((t, [float(r[c]) for c in CHANNELS],
                                 int(float(r["anomaly"])), int(float(r["changepoint"]))))
            name = os.path.relpath(path, data_dir)[:-4].replace(os.sep, "-")
            out.append((name, rows))
    return out


def samples(rows, target, scale):
    ti = CHANNELS.index(target)
    if scale == "train":
        head = [r[1] for r in rows[:TRAIN]]
        mu = [sum(c) / len(c) for c in zip(*head)]
        sd = [(sum((v - m) ** 2 for v in c) / (len(c) - 1)) ** 0.5 or 1.0
              for c, m in zip(zip(*head), mu)]
    else:
        mu, sd = [0.0] * len(CHANNELS), [1.0] * len(CHANNELS)
    for i, (t, ch, _, _) in enumerate(rows):
        v = [(c - m) / s for c, m, s in zip(ch, mu, sd)]
        x = [v[j] for j in range(len(CHANNELS)) if j != ti] + [1.0]
        yield {"y": v[ti], "x": x, "seq": i, "ts": t * 1000}


def predictions(rows, events, episodes, gap):
    """Outlier, drift and episode-opening predictions per row of one file. With episodes (the
    binary publishes anomaly-end), an episode still open at the end of the file flags the rest
    of it; without, an anomaly event flags its own row only. An episode flags its rows from
    its opening to its last anomalous sample, gap rows before the one its end event names."""
    n = len(rows)
    out, drift, opens = [0] * n, [0] * n, [0] * n
    episode = {}  # model → opening row
    for e in sorted(events, key=lambda e: (e["row"], e["kind"] == "anomaly-end")):
        r, kind = e["row"], e["kind"]
        if kind == "drift":
            drift[r] = 1
        elif kind == "anomaly":
            opens[r] = 1
            out[r] = 1
            episode[e.get("model")] = r
        elif kind == "anomaly-end":
            start = episode.pop(e.get("model"), None)
            last = r - gap  # the end event names the gap-th normal sample after the episode
            if start is not None:
                for i in range(start, min(last, n - 1) + 1):
                    out[i] = 1
    for start in episode.values() if episodes else ():
        for i in range(start, n):
            out[i] = 1
    return out, drift, opens


def score(files, zmax, ev, gap, azmax):
    bin_files, cps = [], {"drift": [], "anomaly": [], "both": []}
    zs, azs, ls = [], [], []
    flagged_train = 0
    episodes = any(e["kind"] == "anomaly-end" for es in ev.values() for e in es)
    for name, rows in files:
        out, drift, opens = predictions(rows, ev.get(name, []), episodes, gap)
        flagged_train += sum(out[:TRAIN])
        test = rows[TRAIN:]
        times = [r[0] for r in test]
        anom = [r[2] for r in test]
        cp = [r[3] for r in test]
        bin_files.append((anom, out[TRAIN:]))
        cps["drift"].append((times, cp, drift[TRAIN:]))
        cps["anomaly"].append((times, cp, opens[TRAIN:]))
        cps["both"].append((times, cp, [a | b for a, b in zip(drift, opens)][TRAIN:]))
        zm = zmax.get(name, {})
        zs += [zm.get(i, 0.0) for i in range(TRAIN, len(rows))]
        azs += [azmax.get(name, {}).get(i, 0.0) for i in range(TRAIN, len(rows))]
        ls += anom
    return {
        "outlier": skabmetrics.binary(bin_files),
        "nab": {k: skabmetrics.nab(v, 60.0) for k, v in cps.items()},
        "auc_max_abs_z": round(skabmetrics.auc(zs, ls), 3),
        "auc_max_abs_az": round(skabmetrics.auc(azs, ls), 3) if azmax else None,
        "flagged_train_rows": flagged_train,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="SKAB's data/ directory")
    runbin.add_args(ap)
    ap.add_argument("--target", default="Volume Flow RateRMS", choices=CHANNELS)
    ap.add_argument("--scale", default="raw", choices=["raw", "train"])
    ap.add_argument("--episode-gap", type=int, default=10,
                    help="normal samples that close an episode (rls.EpisodeGap)")
    args = ap.parse_args()
    files = load(args.data)
    if not files:
        raise SystemExit(f"no SKAB files under {args.data}")
    t0 = time.time()
    streams = [(name, list(samples(rows, args.target, args.scale))) for name, rows in files]
    zmax, ev, counts, azmax = runbin.run(args.bin, args.flags, streams, args.keep)
    report = {"bin": args.bin, "flags": args.flags, "target": args.target,
              "scale": args.scale, "files": len(files), "seconds": round(time.time() - t0),
              **counts, **score(files, zmax, ev, args.episode_gap, azmax)}
    runbin.write_report(report, args.out)


if __name__ == "__main__":
    main()
