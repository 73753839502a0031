"""Recompute predict's y, sd, lo and hi from export --format json.

Usage: predict_interval.py SENSORS_JSON LEVEL X_JSON
Prints {sensor: {model: [y, sd, lo, hi]}} for every sensor whose dimension
is len(x): y = xᵀθ, sd = sqrt(σ̂²·(λ + xᵀPx)/λ), [lo, hi] = y ∓ q·sd with q
the standard normal quantile of (1 + level)/2; sd, lo and hi are null while
σ̂² is unknown.
"""
import json
import statistics
import sys

import numpy as np

sensors = json.load(open(sys.argv[1]))
level = float(sys.argv[2])
x = np.array(json.loads(sys.argv[3]), dtype=np.float64)
q = statistics.NormalDist().inv_cdf((1 + level) / 2)
out = {}
for s in sensors:
    if s["dim"] != len(x):
        continue
    models = {}
    for m in s["models"]:
        theta = np.array(m["theta"], dtype=np.float64)
        n = len(theta)
        P = np.array(m["p"], dtype=np.float64).reshape(n, n)
        y = float(x @ theta)
        if m["sigma2"] is None:
            models[m["name"]] = [y, None, None, None]
            continue
        lam = m["lambda"]
        sd = float(np.sqrt(m["sigma2"] * (lam + x @ P @ x) / lam))
        models[m["name"]] = [y, sd, y - q * sd, y + q * sd]
    out[s["sensor"]] = models
json.dump(out, sys.stdout)
