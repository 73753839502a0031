"""Drives streamrls.py against a running streamrls, for e2e/python_test.go.

Reads a JSON job (argv[1]): the server's URL, token and group, the broker's
address and topics, the predict inputs and the Go-encoded states to decode.
Prints one JSON object with what every call of the client answered, the
decoded states (floats as float.hex, so that Go compares them bit for bit)
and the parsed records of the table, scores and events topics, each with its
partition and offset. With --no-numpy, numpy cannot be imported, so the
plain-list paths run.
"""
import argparse
import dataclasses
import json
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("job")
ap.add_argument("--no-numpy", action="store_true")
a = ap.parse_args()
if a.no_numpy:
    sys.modules["numpy"] = None  # import numpy raises ImportError
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import streamrls  # noqa: E402

with open(a.job) as f:
    job = json.load(f)
np = streamrls.np
assert (np is None) == a.no_numpy, "numpy availability"


def plain(v):
    """JSON-able: arrays as lists."""
    if np is not None and isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    return v


def hexed(v):
    """Every float as float.hex: exact, and no JSON number parsing between."""
    v = plain(v)
    if isinstance(v, float):
        return v.hex()
    if isinstance(v, dict):
        return {k: hexed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [hexed(x) for x in v]
    return v


def state_out(st):
    d = dataclasses.asdict(st)
    for m, ms in zip(d["models"], st.models):
        m["lambda"] = m.pop("lambda_")
        want = list if np is None else np.ndarray
        assert isinstance(ms.theta, want) and isinstance(ms.p, want), (type(ms.theta), type(ms.p))
        if np is not None:
            assert ms.theta.shape == (st.dim,) and ms.p.shape == (st.dim, st.dim)
    return hexed(d)


def error_of(fn):
    try:
        fn()
    except streamrls.APIError as e:
        return {"status": e.status, "message": e.message}
    return None


out = {"numpy": np is not None}
c = streamrls.Client(job["url"], token=job["token"], timeout=30)
g = c.with_group(job["group"])

# Routes.
out["sensors"] = list(c.sensors())
out["sensors_paged"] = list(c.sensors(limit=2))
out["group_sensors"] = list(g.sensors(limit=3))
out["first_page"] = c.sensors_page(limit=2)
out["sensor"] = {i: c.sensor(i) for i in out["sensors"]}
out["group_sensor"] = {i: g.sensor(i) for i in out["sensors"]}
out["predict"] = {i: c.predict(i, x) for i, x in job["x"].items()}
out["history"], out["history_shapes"] = {}, {}
for i in out["sensors"]:
    h = c.history(i)
    if np is not None:
        assert all(isinstance(h[k], np.ndarray) for k in ("samples", "updated_ms", "rejected"))
        out["history_shapes"][i] = [list(m["theta"].shape) for m in h["models"]]
    out["history"][i] = plain(h)
out["events"] = {i: c.events(i) for i in out["sensors"]}
out["events_limited"] = {i: g.events(i, limit=2) for i in out["sensors"]}
out["groups"] = c.groups()
out["health"] = c.health()
out["ready"] = c.ready()
out["plot_svg"] = c.plot_svg(out["sensors"][0])[:200].decode(errors="replace")
out["openapi_paths"] = sorted(c.openapi()["paths"])
out["metrics_lines"] = sum(1 for line in c.metrics().splitlines() if line.startswith("streamrls_"))

# Errors.
out["errors"] = {
    "unknown_sensor": error_of(lambda: c.sensor("no-such-sensor")),
    "unknown_events": error_of(lambda: c.events("no-such-sensor")),
    "wrong_token": error_of(lambda: streamrls.Client(job["url"], token="wrong").sensor(out["sensors"][0])),
    "bad_predict": error_of(lambda: c.predict(out["sensors"][0], [1.0] * 99)),
    "unknown_group": error_of(lambda: c.with_group("no-such-group").sensors_page()),
}
for bad in ("", ".", ".."):
    try:
        c.sensor(bad)
        raise AssertionError(f"sensor({bad!r}) asked the server")
    except ValueError:
        pass

# States encoded by Go.
out["states"] = []
for s in job["states"]:
    try:
        out["states"].append({"name": s["name"], "state": state_out(streamrls.decode_state(bytes.fromhex(s["hex"])))})
    except streamrls.StateError as e:
        out["states"].append({"name": s["name"], "error": {"codec": e.codec, "reason": e.reason}})

# Topics, with kafka-python.
from kafka import KafkaConsumer  # noqa: E402


def read(topic, parse):
    cons = KafkaConsumer(topic, bootstrap_servers=job["bootstrap"], auto_offset_reset="earliest",
                         enable_auto_commit=False, consumer_timeout_ms=3000, group_id=None)
    recs = [{"partition": m.partition, "offset": m.offset, "key": m.key.decode(), "record": parse(m.value)}
            for m in cons if not streamrls.is_transaction_marker(m.key, m.value)]
    cons.close()
    return recs


out["table"] = read(job["table"], lambda v: state_out(streamrls.decode_state(v)))
out["scores"] = read(job["scores"], lambda v: plain(dataclasses.asdict(streamrls.read_score_record(v))))
out["events_topic"] = read(job["events"], lambda v: dataclasses.asdict(streamrls.read_event(v)))
json.dump(out, sys.stdout)
