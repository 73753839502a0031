"""Load every OUT/<sensor>/<model>.npy written by `streamrls export --format npy`
with numpy and print {sensor: {model: [float.hex(v), ...]}} as JSON, so the
test can compare the values bit for bit with the HTTP API."""
import json
import os
import sys
import urllib.parse

import numpy

out = {}
root = sys.argv[1]
for sdir in sorted(os.listdir(root)):
    spath = os.path.join(root, sdir)
    if not os.path.isdir(spath):
        continue
    sensor = urllib.parse.unquote(sdir)
    models = out.setdefault(sensor, {})
    for fname in sorted(os.listdir(spath)):
        assert fname.endswith(".npy"), fname
        a = numpy.load(os.path.join(spath, fname), allow_pickle=False)
        assert a.dtype == numpy.float64, (fname, a.dtype)
        assert a.ndim == 1, (fname, a.shape)
        models[urllib.parse.unquote(fname[:-4])] = [float(v).hex() for v in a]
json.dump(out, sys.stdout)
