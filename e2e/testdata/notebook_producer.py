"""The original notebook's producer, with kafka-python, plus an independent
numpy answer for the test to compare streamrls with.

It creates the topic with kafka-python's admin client (kafka-python does not
create topics by itself on every broker), sends for each sensor ("1" and
"24") --samples messages in the notebook's text format, the value being
str([i, y, x1, ..., xn]) and the key the sensor ID, and then computes each
sensor's models with the textbook RLS equations (DESIGN.md) in numpy:

    pi = P x;  kappa = lam + x.pi;  k = pi / kappa
    e = y - x.theta;  theta += k e;  P = (P - k pi^T) / lam

from theta = 0, P = delta I, for mod1 (lam 1, delta 10) and mod2 (lam 0.99,
delta 1); MSE is the mean of the squared a-priori errors e. It prints JSON:
{"sensors": {id: {"samples": n, "models": {name: {"theta": [...], "mse": m}}}},
 "x": [...], "predict": {id: {name: x.theta}}}.
"""
import argparse
import json
import sys

import numpy as np
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

MODELS = {"mod1": (1.0, 10.0), "mod2": (0.99, 1.0)}


def rls(xs, ys, lam, delta):
    n = xs.shape[1]
    theta = np.zeros(n)
    P = delta * np.eye(n)
    errors = []
    for x, y in zip(xs, ys):
        pi = P @ x
        kappa = lam + x @ pi
        k = pi / kappa
        e = y - x @ theta
        theta = theta + k * e
        P = (P - np.outer(k, pi)) / lam
        P = (P + P.T) / 2  # keep P symmetric, as DESIGN.md asks
        errors.append(e)
    return theta, float(np.mean(np.square(errors)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", default="RLSTrain")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    admin = KafkaAdminClient(bootstrap_servers=a.bootstrap, client_id="notebook-admin")
    admin.create_topics([NewTopic(name=a.topic, num_partitions=a.partitions, replication_factor=1)])
    admin.close()

    rng = np.random.default_rng(a.seed)
    truth = {"1": np.r_[1.0, np.zeros(a.dim - 2), 1.0], "24": np.linspace(-1, 1, a.dim)}
    data = {s: ([], []) for s in truth}
    producer = KafkaProducer(bootstrap_servers=a.bootstrap, key_serializer=str.encode,
                             value_serializer=str.encode, linger_ms=5)
    for i in range(a.samples):
        for s, th in truth.items():
            x = rng.normal(size=a.dim)
            y = float(x @ th + 0.1 * rng.normal())
            producer.send(a.topic, key=s, value=str([i, y] + x.tolist()))
            data[s][0].append(x)
            data[s][1].append(y)
    producer.flush()
    producer.close()

    xq = rng.normal(size=a.dim)
    out = {"sensors": {}, "x": xq.tolist(), "predict": {}}
    for s, (xs, ys) in data.items():
        models, preds = {}, {}
        for name, (lam, delta) in MODELS.items():
            theta, mse = rls(np.array(xs), np.array(ys), lam, delta)
            models[name] = {"theta": theta.tolist(), "mse": mse}
            preds[name] = float(xq @ theta)
        out["sensors"][s] = {"samples": len(ys), "models": models}
        out["predict"][s] = preds
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
