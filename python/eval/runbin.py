"""Runs labelled series through the real streamrls binary and reads its verdicts back.

A fresh ``streamrls broker`` (a temporary directory, a free port) and one ``streamrls process
--scores`` learn the streams; every stream is one sensor, its samples sent in order as JSON with
``seq`` = the row. ``GROUP-scores`` and ``GROUP-events`` are read back, repeats dropped by
(partition, offset), and every event is mapped to its row: by its ``seq`` when it carries one,
else through the (partition, offset) of the input message, which the scores name.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from kafka import KafkaConsumer, KafkaProducer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from streamrls import is_transaction_marker  # noqa: E402

GROUP = "eval"
TOPIC = "eval-samples"


def add_args(ap):
    """Adds the options every harness shares: the binary, its flags and where the report goes."""
    ap.add_argument("--bin", required=True, help="the streamrls binary")
    ap.add_argument("--flags", default="",
                    help='extra flags of process as one string: --flags="--robust"')
    ap.add_argument("--out", help="also write the JSON report here")
    ap.add_argument("--keep", action="store_true", help="keep the broker's work directory")


def write_report(report, out):
    """Prints the JSON report and, with out, writes it there too."""
    text = json.dumps(report, indent=1)
    print(text)
    if out:
        with open(out, "w") as fh:
            fh.write(text + "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_topics(bootstrap, topics, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = KafkaConsumer(bootstrap_servers=bootstrap)
            have = c.topics()
            c.close()
            if set(topics) <= have:
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit(f"topics {topics} did not appear")


def consume(bootstrap, topic, until, idle=15.0, limit=1800.0):
    """Records of topic as (partition, offset, value), deduplicated, until until(records) holds
    or nothing new arrives for idle seconds."""
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000)
    seen, out = set(), []
    last, start = time.time(), time.time()
    while time.time() - start < limit:
        got = False
        for m in c:
            if (m.partition, m.offset) in seen or is_transaction_marker(m.key, m.value):
                continue
            seen.add((m.partition, m.offset))
            out.append((m.partition, m.offset, json.loads(m.value)))
            got = True
        if got:
            last = time.time()
        if until(out) or time.time() - last > idle:
            break
    c.close()
    return out


def run(binary, flags, streams, keep=False):
    """streams: (sensor, samples) pairs. Returns per sensor {row: largest |z| over the models},
    per sensor its events (each with "row"), counts, and per sensor {row: largest |az|} (the
    anomaly test's statistic, when the scores carry it)."""
    work = tempfile.mkdtemp(prefix="streamrls-eval-")
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    logs = open(os.path.join(work, "log"), "w")
    procs = []
    try:
        procs.append(subprocess.Popen(
            [binary, "broker", "--data-dir", os.path.join(work, "broker"),
             "--listen", bootstrap], stdout=logs, stderr=logs))
        procs.append(subprocess.Popen(
            [binary, "process", "--brokers", bootstrap, "--group", GROUP,
             "--topic", TOPIC, "--state-dir", os.path.join(work, "state"),
             "--scores"] + shlex.split(flags), stdout=logs, stderr=logs))
        wait_topics(bootstrap, [TOPIC, f"{GROUP}-scores", f"{GROUP}-events"])
        p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
        total = 0
        for name, smps in streams:
            for s in smps:
                p.send(TOPIC, key=name.encode(), value=json.dumps(s).encode())
                total += 1
        p.flush()
        p.close()

        def complete(recs):
            return sum(len(v["samples"]) for _, _, v in recs) >= total
        scores = consume(bootstrap, f"{GROUP}-scores", complete)
        events = consume(bootstrap, f"{GROUP}-events", lambda _: False, idle=5.0)
    finally:
        for pr in reversed(procs):
            pr.terminate()
            try:
                pr.wait(20)
            except subprocess.TimeoutExpired:
                pr.kill()
        logs.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work dir", work, file=sys.stderr)
    zmax, azmax, where = {}, {}, {}
    for _, _, rec in scores:
        sensor = rec["sensor"]
        for smp in rec["samples"]:
            zs = [abs(m["z"]) for m in smp["models"] if m.get("z") is not None]
            zmax.setdefault(sensor, {})[smp["seq"]] = max(zs) if zs else 0.0
            azs = [abs(m["az"]) for m in smp["models"] if m.get("az") is not None]
            if azs:
                azmax.setdefault(sensor, {})[smp["seq"]] = max(azs)
            if len(rec["samples"]) == 1:
                where[(rec["partition"], rec["offset"])] = smp["seq"]
    ev = {}
    for _, _, e in events:
        row = e.get("seq")
        if row is None:
            row = where.get((e.get("partition"), e.get("offset")))
        if row is None:
            continue
        ev.setdefault(e["sensor"], []).append(dict(e, row=row))
    counts = {"samples": total, "scored": sum(len(v) for v in zmax.values()),
              "events": {}}
    for es in ev.values():
        for e in es:
            counts["events"][e["kind"]] = counts["events"].get(e["kind"], 0) + 1
    return zmax, ev, counts, azmax
