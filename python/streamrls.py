"""A Python client for streamrls: its HTTP API, its table values and its JSON topics.

One file, the standard library only; numpy is used when it can be imported
(history columns, θ and P as arrays), plain lists otherwise.

    from streamrls import Client
    c = Client("http://127.0.0.1:8080", token=None)
    for sensor_id in c.sensors():              # every page, following "next"
        s = c.sensor(sensor_id)                # the JSON of GET /v1/sensors/{id}, a dict

Table values (``GROUP-table``, binary) decode with :func:`decode_state`; the
records of ``GROUP-scores`` and ``GROUP-events`` (JSON) parse with
:func:`read_score_record` and :func:`read_event`. docs/api.md and
docs/formats.md describe every field.
"""

from __future__ import annotations

import json
import math
import struct
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, Sequence

try:
    import numpy as np
except ImportError:  # numpy is optional
    np = None

__all__ = [
    "APIError", "Client", "StateError", "State", "ModelState", "decode_state",
    "Event", "ScoreRecord", "ScoreSample", "ModelScore", "read_event", "read_score_record",
    "is_transaction_marker",
]


# --- HTTP API ---------------------------------------------------------------


class APIError(Exception):
    """An answer other than 200: ``status`` is the HTTP status, ``message``
    the ``error`` of the JSON body (or the body's text when it is not JSON)."""

    def __init__(self, status: int, message: str, method: str, url: str, body: Any = None):
        super().__init__(f"{method} {url}: {status}: {message}")
        self.status, self.message, self.method, self.url = status, message, method, url
        self.body = body  # the parsed JSON body, None when it is not JSON


class Client:
    """Calls the HTTP API of ``streamrls serve`` (or ``run --http``).

    ``group`` selects the ``/v1/groups/{group}/…`` routes; None asks the
    ``/v1/sensors…`` routes, which address the server's first group.
    Answers are the documented JSON as dicts and lists; a history's columns
    are numpy arrays when numpy is available. Every answer other than 200
    raises :class:`APIError`.
    """

    def __init__(self, url: str = "http://127.0.0.1:8080", token: Optional[str] = None,
                 timeout: float = 30.0, group: Optional[str] = None):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.group = group

    def with_group(self, group: Optional[str]) -> "Client":
        """The same client for another group (None: the server's first)."""
        return Client(self.url, self.token, self.timeout, group)

    # Routes.

    def sensors(self, limit: Optional[int] = None, after: str = "") -> Iterator[str]:
        """Every sensor ID after ``after``, in byte order, page by page
        (``limit`` IDs per request; None: the server's default)."""
        while True:
            page = self.sensors_page(limit, after)
            yield from page["sensors"]
            nxt = page.get("next")
            if not nxt:
                return
            # The list is ordered: a next that does not advance would page forever.
            if nxt.encode() <= after.encode():
                raise ValueError(f"sensor list: next {nxt!r} does not come after {after!r}")
            after = nxt

    def sensors_page(self, limit: Optional[int] = None, after: str = "") -> dict:
        """One page of ``GET /v1/sensors``: ``{"sensors": [...], "next": ...}``."""
        q = {}
        if limit is not None:
            q["limit"] = str(limit)
        if after:
            q["after"] = after
        return self._json("GET", self._v1("sensors"), q)

    def sensor(self, sensor_id: str) -> dict:
        """A sensor's state and models (``GET /v1/sensors/{id}``)."""
        return self._json("GET", self._sensor(sensor_id))

    def predict(self, sensor_id: str, x: Sequence[float]) -> dict:
        """Each model's prediction xᵀθ with its sd and interval
        (``POST /v1/sensors/{id}/predict``)."""
        return self._json("POST", self._sensor(sensor_id, "predict"), body={"x": [float(v) for v in x]})

    def history(self, sensor_id: str) -> dict:
        """A sensor's learning curves (``GET /v1/sensors/{id}/history``).

        With numpy, ``samples``, ``updated_ms``, ``rejected``, ``theta_star``
        and each model's ``theta`` (points × dim), ``mse``, ``recent_mse`` and
        ``p_trace`` are arrays; else lists."""
        h = self._json("GET", self._sensor(sensor_id, "history"))
        if np is None:
            return h
        dim = max(h.get("dim", 0), 1)  # reshape(-1, 0) is undefined
        for k, dt in (("samples", np.uint64), ("updated_ms", np.int64), ("rejected", np.uint64)):
            h[k] = np.array(h.get(k, []), dtype=dt)
        if "theta_star" in h:
            h["theta_star"] = np.array(h["theta_star"], dtype=np.float64).reshape(-1, dim)
        for m in h.get("models", []):
            m["theta"] = np.array(m["theta"], dtype=np.float64).reshape(-1, dim)
            for k in ("mse", "recent_mse", "p_trace"):
                m[k] = np.array(m[k], dtype=np.float64)
        return h

    def plot_svg(self, sensor_id: str) -> bytes:
        """The learning curves drawn as SVG (``GET /v1/sensors/{id}/plot.svg``)."""
        return self._do("GET", self._sensor(sensor_id, "plot.svg"))

    def events(self, sensor_id: str, limit: Optional[int] = None) -> dict:
        """A sensor's latest anomaly and drift events, newest first
        (``GET /v1/sensors/{id}/events``): ``{"sensor", "group", "events"}``."""
        q = {"limit": str(limit)} if limit is not None else None
        return self._json("GET", self._sensor(sensor_id, "events"), q)

    def groups(self) -> list:
        """The groups served, in ``--group`` order (``GET /v1/groups``)."""
        return self._json("GET", self.url + "/v1/groups")["groups"]

    def health(self) -> dict:
        """``GET /healthz``: ``{"status": "ok"}`` while the server runs."""
        return self._json("GET", self.url + "/healthz")

    def ready(self) -> dict:
        """``GET /readyz``: the readiness of every group's view, history and
        events; ``["ready"]`` is False (the server answers 503) until all
        have caught up."""
        try:
            return self._json("GET", self.url + "/readyz")
        except APIError as e:
            if e.status == 503 and isinstance(e.body, dict) and "ready" in e.body:
                return e.body
            raise

    def metrics(self) -> str:
        """The Prometheus metrics (``GET /metrics``), as text."""
        return self._do("GET", self.url + "/metrics").decode()

    def openapi(self) -> dict:
        """The OpenAPI document of the API (``GET /openapi.json``)."""
        return self._json("GET", self.url + "/openapi.json")

    # Plumbing.

    def _v1(self, *parts: str) -> str:
        p = self.url + "/v1"
        if self.group is not None:
            p += "/groups/" + urllib.parse.quote(self.group, safe="")
        return p + "".join("/" + s for s in parts)

    def _sensor(self, sensor_id: str, *suffix: str) -> str:
        # As a path segment "", "." and ".." would name the list or its parent.
        if sensor_id in ("", ".", ".."):
            raise ValueError(f"sensor ID {sensor_id!r}: not a sensor ID")
        return self._v1("sensors", urllib.parse.quote(sensor_id, safe=""), *suffix)

    def _json(self, method: str, url: str, query: Optional[dict] = None, body: Any = None) -> Any:
        return json.loads(self._do(method, url, query, body))

    def _do(self, method: str, url: str, query: Optional[dict] = None, body: Any = None) -> bytes:
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data, headers = None, {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body, allow_nan=False).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
                msg = parsed["error"]
            else:
                msg = raw.decode(errors="replace").strip()
            raise APIError(e.code, msg, method, url, parsed) from None


# --- table values: the state codec ------------------------------------------


class StateError(ValueError):
    """A table value that is not a valid state. ``codec`` is "envelope" or
    "bank", ``reason`` one of the Go codec's labels ("empty", "bad-magic",
    "version", "truncated", "trailing-data", "bad-value", "too-large")."""

    def __init__(self, codec: str, reason: str, detail: str):
        super().__init__(f"decode {codec}: {reason}: {detail}")
        self.codec, self.reason, self.detail = codec, reason, detail


@dataclass
class ModelState:
    """One model of a sensor's bank. ``theta`` has n coefficients and ``p``
    is the n×n matrix P (numpy arrays when numpy is available, else a list
    and a list of rows). A version-1 state has the scoring fields (sigma2
    to drifts) at their start: 0; a version-1 or 2 state has the anomaly
    fields (anomaly_scale to episode_quiet) at their start: 0; a version 1
    to 3 state has the spread test's fields (spread_n to spread_side) at
    their start: 0."""

    name: str
    lambda_: float
    delta: float
    max_trace: float
    samples: int
    mse: float
    recent_mse: float
    sigma2: float      # σ̂², the noise variance estimate; 0 while unknown
    sigma2_n: int      # samples in σ̂²
    cusum_pos: float   # the drift detector's S⁺
    cusum_neg: float   # S⁻
    cusum_scale: float  # Sᵥ
    cusum_n: int       # samples since the detector (re)started
    anomalies: int
    drifts: int
    anomaly_scale: float  # the anomaly test's robust error scale; 0 while unknown
    anomaly_level: float  # the mean |y| its floor is tied to
    anomaly_tail: float   # fitted threshold over the Gaussian one; 0 stands for 1
    episodes: int         # anomaly episodes opened
    episode_open: int     # anomalous samples of the open episode; 0 when none is open
    episode_peak: float   # its largest |az|
    episode_quiet: int    # normal samples since its last anomalous one
    spread_n: int         # samples the spread test has seen
    spread_mean: float    # long mean of ln of the normalised error
    spread_var: float     # its long variance
    spread_short: float   # short mean of the same
    spread_tail: float    # the spread test's fitted threshold factor; 0 stands for 1
    spread_side: int      # side of the spread test's last crossing (1 larger, -1 smaller) until it came back; else 0
    theta: Any
    p: Any


@dataclass
class State:
    """A sensor's table value: the envelope's bookkeeping and its models
    (none before the sensor's first sample). ``bank_version`` is the payload's
    codec version (1 to 4; 0 without a payload). An autoregressive sensor
    (envelope version 2) has ``lag_order`` P > 0 and ``lags``, its last
    values of y, newest first (fewer than P while they fill)."""

    partition: int   # input partition of the last message handled
    offset: int      # its offset, -1 when none
    samples: int     # samples applied
    rejected: int    # samples or messages rejected
    updated_ms: int  # unix ms of the last change
    dim: int         # 0 before the first sample
    bank_version: int = 0
    models: list = field(default_factory=list)
    lag_order: int = 0
    lags: list = field(default_factory=list)


_ENVELOPE_MAGIC, _BANK_MAGIC = 0xE5, 0xBA
_ENVELOPE = struct.Struct("<BBiqQQqi")  # magic, version, partition, offset, samples, rejected, updated, dim
_BANK = struct.Struct("<BBII")          # magic, version, dim, model count
_FIXED_V1 = struct.Struct("<dddQdd")    # λ, δ, trace cap, samples, mse, recent mse
_FIXED_V2 = struct.Struct("<dddQdddQdddQQQ")  # then σ̂², its n, S⁺, S⁻, Sᵥ, detector n, anomalies, drifts
_FIXED_V3 = struct.Struct("<dddQdddQdddQQQdddQQdQ")  # then scale, level, tail, episodes, open, peak, quiet
_FIXED_V4 = struct.Struct("<dddQdddQdddQQQdddQQdQQddddq")  # then the spread test: n, mean, var, short, tail, side
_MAX_BANK_DIM = 1 << 16
_LAGS = struct.Struct("<II")            # lag order, lags held
_MAX_LAG_ORDER = 1 << 12


def decode_state(b: bytes) -> State:
    """Decodes a ``GROUP-table`` value (envelope version 1, or 2 with an
    autoregressive sensor's lags, around an RLS bank of version 1 to 4; all little-endian, floats IEEE-754 binary64) into a
    :class:`State`. Floats are the stored ones bit for bit. Raises
    :class:`StateError` for a value that is not a valid state."""
    b = bytes(b)
    if not b:
        raise StateError("envelope", "empty", "value has no bytes")
    if b[0] != _ENVELOPE_MAGIC:
        raise StateError("envelope", "bad-magic", f"byte 0 is 0x{b[0]:02x}, want 0x{_ENVELOPE_MAGIC:02x}")
    if len(b) < 2:
        raise StateError("envelope", "truncated", "truncated at byte 1: no version byte")
    if b[1] not in (1, 2):
        raise StateError("envelope", "version", f"version {b[1]} unsupported (this reads versions 1 and 2)")
    if len(b) < _ENVELOPE.size:
        raise StateError("envelope", "truncated", f"truncated at byte {len(b)}: the header has {_ENVELOPE.size} bytes")
    _, _, part, off, samples, rejected, updated, dim = _ENVELOPE.unpack_from(b)
    if off < -1:
        raise StateError("envelope", "bad-value", f"bytes 6-13: offset {off} (want >= -1)")
    if dim < 0:
        raise StateError("envelope", "bad-value", f"bytes 38-41: dim {dim} (want >= 0)")
    st = State(part, off, samples, rejected, updated, dim)
    payload = b[_ENVELOPE.size:]
    if b[1] == 2:
        st.lag_order, st.lags, payload = _decode_lags(b, payload)
    if payload:
        st.bank_version, st.models = _decode_bank(payload)
    return st


def _decode_lags(b: bytes, rest: bytes) -> tuple:
    if len(rest) < _LAGS.size:
        raise StateError("envelope", "truncated", f"truncated at byte {len(b)}: the lag header has 8 bytes")
    order, held = _LAGS.unpack_from(rest)
    if order == 0 or order > _MAX_LAG_ORDER:
        raise StateError("envelope", "bad-value", f"bytes 42-45: lag order {order} (want 1..{_MAX_LAG_ORDER})")
    if held > order:
        raise StateError("envelope", "bad-value", f"bytes 46-49: {held} lags held, order {order}")
    if len(rest) - _LAGS.size < 8 * held:
        raise StateError("envelope", "truncated", f"truncated at byte {len(b)}: {held} lags need {8 * held} bytes from byte 50")
    lags = list(struct.unpack_from(f"<{held}d", rest, _LAGS.size))
    for i, v in enumerate(lags):
        if not math.isfinite(v):
            raise StateError("envelope", "bad-value", f"bytes {50 + 8 * i}-{57 + 8 * i}: lag {i} is not finite")
    return order, lags, rest[_LAGS.size + 8 * held:]


def _decode_bank(b: bytes) -> tuple:
    def err(reason, detail):
        return StateError("bank", reason, detail)

    if b[0] != _BANK_MAGIC:
        raise err("bad-magic", f"byte 0 is 0x{b[0]:02x}, want 0x{_BANK_MAGIC:02x}")
    if len(b) < 2:
        raise err("truncated", "truncated at byte 1: no version byte")
    version = b[1]
    if version not in (1, 2, 3, 4):
        raise err("version", f"version {version} unsupported (this reads versions 1 to 4)")
    if len(b) < _BANK.size:
        raise err("truncated", f"truncated at byte {len(b)}: the header has {_BANK.size} bytes")
    _, _, n, count = _BANK.unpack_from(b)
    if n > _MAX_BANK_DIM:
        raise err("too-large", f"bytes 2-5: dim {n} above the limit {_MAX_BANK_DIM}")
    if count == 0:
        raise err("bad-value", "bytes 6-9: bank has no models")
    fixed = {1: _FIXED_V1, 2: _FIXED_V2, 3: _FIXED_V3}.get(version, _FIXED_V4)
    tri = n * (n + 1) // 2
    floats = struct.Struct(f"<{n + tri}d")
    models, names, pos = [], set(), _BANK.size
    for i in range(count):
        if pos >= len(b):
            raise err("truncated", f"truncated at byte {pos}: model {i} missing")
        ln = b[pos]
        if ln == 0:
            raise err("bad-value", f"byte {pos}: model {i} has an empty name")
        need = 1 + ln + fixed.size + floats.size
        if len(b) - pos < need:
            raise err("truncated", f"truncated at byte {len(b)}: model {i} needs {need} bytes from byte {pos}")
        try:
            name = b[pos + 1:pos + 1 + ln].decode("utf-8")
        except UnicodeDecodeError:
            raise err("bad-value", f"byte {pos + 1}: model {i} name is not valid UTF-8") from None
        if any(c == ":" or c < " " or c == "\x7f" for c in name):
            raise err("bad-value", f"byte {pos + 1}: model {i} name {name!r} contains ':' or a control character")
        if name in names:
            raise err("bad-value", f"byte {pos + 1}: model {i} name {name!r} is not unique")
        names.add(name)
        q = pos + 1 + ln
        f = fixed.unpack_from(b, q)
        if version == 1:
            f = f + (0.0, 0, 0.0, 0.0, 0.0, 0, 0, 0)
        if version <= 2:
            f = f + (0.0, 0.0, 0.0, 0, 0, 0.0, 0)
        if version <= 3:
            f = f + (0, 0.0, 0.0, 0.0, 0.0, 0)
        if not (0 < f[0] <= 1):
            raise err("bad-value", f"byte {q}: model {i} ({name}) lambda {f[0]} outside (0, 1]")
        if not (0 < f[1] < math.inf):
            raise err("bad-value", f"byte {q + 8}: model {i} ({name}) delta {f[1]} not a finite number > 0")
        if math.isnan(f[2]):
            raise err("bad-value", f"byte {q + 16}: model {i} ({name}) maxTrace is NaN")
        # mse, recent mse, σ̂², S⁺, S⁻, Sᵥ, anomaly scale, level, tail, peak,
        # spread var, spread tail: finite and >= 0
        for k in (4, 5, 6, 8, 9, 10, 14, 15, 16, 19, 23, 25):
            if not (0 <= f[k] < math.inf):
                raise err("bad-value", f"model {i} ({name}): field {k} = {f[k]} not a finite number >= 0")
        # spread mean, spread short: finite
        for k in (22, 24):
            if not math.isfinite(f[k]):
                raise err("bad-value", f"model {i} ({name}): field {k} = {f[k]} not finite")
        if not -1 <= f[26] <= 1:
            raise err("bad-value", f"byte {q + 208}: model {i} ({name}) spread side {f[26]} not -1, 0 or 1")
        v = floats.unpack_from(b, q + fixed.size)
        theta, upper = v[:n], v[n:]
        if not all(math.isfinite(x) for x in v):
            raise err("bad-value", f"model {i} ({name}): theta or P is not finite")
        k = 0
        for r in range(n):
            if not upper[k] > 0:
                raise err("bad-value", f"model {i} ({name}) P[{r}][{r}] = {upper[k]} is not > 0")
            k += n - r
        models.append(ModelState(name, *f, theta=_vector(theta), p=_symmetric(upper, n)))
        pos += need
    if pos != len(b):
        raise err("trailing-data", f"{len(b) - pos} extra bytes at byte {pos} after {count} models")
    return version, models


def _vector(v: Sequence[float]) -> Any:
    return np.array(v, dtype=np.float64) if np is not None else list(v)


def _symmetric(upper: Sequence[float], n: int) -> Any:
    """P from its upper triangle, row by row; both triangles hold the same bits."""
    if np is not None:
        p = np.zeros((n, n), dtype=np.float64)
        iu = np.triu_indices(n)
        p[iu] = upper
        p.T[iu] = upper
        return p
    p = [[0.0] * n for _ in range(n)]
    k = 0
    for r in range(n):
        for c in range(r, n):
            p[r][c] = p[c][r] = upper[k]
            k += 1
    return p


# --- JSON topics: scores and events -----------------------------------------


@dataclass
class ModelScore:
    """One model's score of one sample, before the sample updated it:
    ``z``, ``lo`` and ``hi`` are None while the model's noise variance is
    unknown; ``az`` is the anomaly test's statistic (None while its scale is
    unknown) and ``threshold`` the threshold on |az| in force."""

    model: str
    y_hat: float
    e: float
    z: Optional[float]
    lo: Optional[float]
    hi: Optional[float]
    az: Optional[float] = None
    threshold: float = 0.0


@dataclass
class ScoreSample:
    """One applied sample of a score record; ``seq`` and ``ts`` are the
    producer's (None when it sent none); ``sample_ts`` (unix ms) and
    ``sample_time`` (RFC 3339) the sample's own time: ``ts``, else the input
    record's timestamp."""

    seq: Optional[int]
    ts: Optional[int]
    y: float
    models: list
    sample_ts: int = 0
    sample_time: str = ""


@dataclass
class ScoreRecord:
    """A ``GROUP-scores`` value: the scores of one input message's applied
    samples, in order. Repeats after a crash share (partition, offset)."""

    sensor: str
    partition: int
    offset: int
    samples: list


@dataclass
class Event:
    """A ``GROUP-events`` value: ``kind`` "anomaly" (an episode opened, with
    ``test`` "error" or "spread", the test that opened it, and its ``z`` and
    ``threshold``), "anomaly-end" (it closed, with ``count`` and
    ``peak``) or "drift" (with ``statistic``); ``time`` is the processing
    time, ``sample_time`` the sample's own (both RFC 3339)."""

    sensor: str
    model: str
    kind: str
    partition: int
    offset: int
    samples: int
    time: str
    z: Optional[float] = None
    statistic: Optional[float] = None
    threshold: Optional[float] = None
    count: int = 0
    peak: Optional[float] = None
    seq: Optional[int] = None
    sample_ts: int = 0
    sample_time: str = ""
    test: str = ""


def _loads(b: Any) -> dict:
    d = json.loads(b)
    if not isinstance(d, dict):
        raise ValueError(f"record is a JSON {type(d).__name__}, want an object")
    return d


def is_transaction_marker(key: Optional[bytes], value: Optional[bytes]) -> bool:
    """Says whether a record is a transaction's commit or abort marker.

    The processor writes each batch in a Kafka transaction. kafka-python 2.0.2
    hands a consumer the markers that end transactions as records (key: the
    version and type, 0 for abort and 1 for commit, two big-endian int16;
    value: six bytes); no sensor ID has such a key. Skip them.
    """
    return (key in (b"\x00\x00\x00\x00", b"\x00\x00\x00\x01") and value is not None
            and len(value) == 6 and value[:2] == b"\x00\x00")


def read_score_record(b: Any) -> ScoreRecord:
    """Parses a ``GROUP-scores`` record's value (bytes or str)."""
    d = _loads(b)
    samples = [ScoreSample(s.get("seq"), s.get("ts"), s["y"],
                           [ModelScore(m["model"], m["y_hat"], m["e"], m.get("z"), m.get("lo"), m.get("hi"),
                                       m.get("az"), m.get("threshold", 0.0))
                            for m in s["models"]],
                           s.get("sample_ts", 0), s.get("sample_time", ""))
               for s in d["samples"]]
    return ScoreRecord(d["sensor"], d["partition"], d["offset"], samples)


def read_event(b: Any) -> Event:
    """Parses a ``GROUP-events`` record's value (bytes or str)."""
    d = _loads(b)
    return Event(d["sensor"], d["model"], d["kind"], d["partition"], d["offset"], d["samples"],
                 d["time"], d.get("z"), d.get("statistic"), d.get("threshold"), d.get("count", 0),
                 d.get("peak"), d.get("seq"), d.get("sample_ts", 0), d.get("sample_time", ""), d.get("test", ""))
