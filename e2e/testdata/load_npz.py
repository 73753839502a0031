"""Load OUT/theta.npz written by `streamrls export --format npz` with one
numpy.load (no pickle) and print {key: [dtype, shape, values]} as JSON, floats
as float.hex, so the test can compare them bit for bit with the HTTP API."""
import json
import sys

import numpy

z = numpy.load(sys.argv[1], allow_pickle=False)
out = {}
for key in z.files:
    a = z[key]
    if a.dtype.kind == "f":
        vals = [float(v).hex() for v in a.ravel()]
    else:
        vals = a.tolist()
    out[key] = [a.dtype.str, list(a.shape), vals]
json.dump(out, sys.stdout)
