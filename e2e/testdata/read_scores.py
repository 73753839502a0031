"""Reads a group's scores and events topics with kafka-python from the start
until they have been quiet for 3 s, and prints what it found as JSON:
records and samples of the scores topic, events by kind/model. Every score
record must have the documented fields (docs/formats.md)."""
import argparse
import json
import sys

from kafka import KafkaConsumer

ap = argparse.ArgumentParser()
ap.add_argument("--bootstrap", required=True)
ap.add_argument("--scores", required=True)
ap.add_argument("--events", required=True)
a = ap.parse_args()


def marker(m):
    """A transaction marker, which kafka-python 2.0.2 hands out as a record
    (python/streamrls.py, is_transaction_marker)."""
    return m.key in (b"\x00\x00\x00\x00", b"\x00\x00\x00\x01") and m.value is not None and len(m.value) == 6


def read(topic):
    c = KafkaConsumer(topic, bootstrap_servers=a.bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=3000, group_id=None)
    out = [json.loads(m.value) for m in c if not marker(m)]
    c.close()
    return out


records, samples = 0, 0
for r in read(a.scores):
    assert set(r) == {"sensor", "partition", "offset", "samples"}, r.keys()
    records += 1
    for s in r["samples"]:
        assert set(s) == {"seq", "ts", "sample_ts", "sample_time", "y", "models"}, s.keys()
        for m in s["models"]:
            assert set(m) == {"model", "y_hat", "e", "z", "lo", "hi", "az", "threshold"}, m.keys()
            if m["z"] is not None:
                assert m["lo"] <= m["y_hat"] <= m["hi"], m
        samples += 1
kinds = {}
events = read(a.events)
for e in events:
    assert e["kind"] in ("anomaly", "anomaly-end", "drift"), e
    k = e["kind"] + "/" + e["model"]
    kinds[k] = kinds.get(k, 0) + 1
json.dump({"Records": records, "Samples": samples, "Events": len(events), "Kinds": kinds}, sys.stdout)
