"""Bad input to the rotation functions (hypothesis): the ``rotation_scan`` timer event
(``{triggerTime, triggerName, payload}`` with the payload as JSON text — arbitrary, broken, not JSON,
not an object, wrong field types and ranges) and the issuer's event (the issuing lane's loop). Always
a clear error code naming the field, never an unhandled exception, never a write."""
from __future__ import annotations

import copy
import importlib
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError, Code

from .strategies import HUGE, JUNK, UNICODE

CODES = {c.value for c in Code} - {Code.INTERNAL.value}
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
JSONISH = st.recursive(JUNK, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)
POLICY_FIELDS = {"secret_prefix", "revoke_old", "revoke_after_days", "renew_before_days"}

# -- the rotation_scan timer event --------------------------------------------------------------
TIMER = {"triggerTime": "2026-01-01T02:00:00Z", "triggerName": "daily",
         "payload": json.dumps({"secret_prefix": "albmtls", "revoke_old": "never"})}
BAD_POLICY = {
    "secret_prefix": st.one_of(st.just(""), st.just("a b"), st.just("a/b"), HUGE, UNICODE),
    "revoke_old": st.one_of(st.text(max_size=12).filter(lambda s: s not in ("never", "after_grace", "immediately")),
                            st.just("NEVER")),
    "revoke_after_days": st.one_of(st.integers(max_value=-1), st.integers(min_value=3651), st.just("3")),
    "renew_before_days": st.one_of(st.integers(max_value=0), st.integers(min_value=3651), st.floats()),
    "unexpected_field": JUNK,
}


@st.composite
def broken_timer_event(draw) -> tuple[dict, set[str]]:
    """(a timer event with one thing broken, the field names an error may name)."""
    kind = draw(st.sampled_from(["payload_text", "payload_json", "policy_field", "event_field", "unknown"]))
    ev = copy.deepcopy(TIMER)
    if kind == "payload_text":           # not JSON at all (or JSON text of something else)
        ev["payload"] = draw(st.one_of(st.text(min_size=1, max_size=60), st.binary(max_size=40).map(
            lambda b: b.decode("latin-1")), st.just("{"), st.just("{\"a\": }"), st.just("null")))
        return ev, {"payload"} | POLICY_FIELDS
    if kind == "payload_json":           # JSON, but not an object / not a dict of the right kinds
        ev["payload"] = draw(st.one_of(JSONISH.map(json.dumps), JSONISH))
        return ev, {"payload"} | POLICY_FIELDS
    if kind == "policy_field":
        name = draw(st.sampled_from(sorted(BAD_POLICY)))
        pol = {"secret_prefix": "albmtls", name: draw(st.one_of(BAD_POLICY[name], JUNK))}
        ev["payload"] = json.dumps(pol, allow_nan=True)
        return ev, {"payload", name}
    if kind == "event_field":
        name = draw(st.sampled_from(["triggerTime", "triggerName", "secret_prefix", "revoke_after_days"]))
        ev[name] = draw(JUNK.filter(lambda v: not isinstance(v, str) and v is not None))
        return ev, {name, "payload"}
    ev[draw(st.text(min_size=1, max_size=10).filter(lambda k: k not in TIMER and k not in POLICY_FIELDS))] = \
        draw(JUNK)
    return ev, set()


def _scan_valid(raw) -> bool:
    from shared.policy.validation import decode
    from shared.steps.rotation import ScanEvent
    try:
        decode(ScanEvent, raw).policy()
        return True
    except AlbMtlsError:
        return False


def _payload(doc) -> bytes | dict:
    try:
        return json.dumps(doc, allow_nan=False).encode()
    except ValueError:
        return doc


def _assert_clear(out: dict, fields: set[str] | None) -> None:
    assert out["status"] == "failed", out
    err = out["error"]
    assert err["code"] in CODES, err
    assert err["message"] and "Traceback" not in err["message"], err
    if fields:
        named = err.get("field") or ""
        assert named and (named in fields or named.split(".")[0].split("[")[0] in fields), (err, fields)


def _no_writes(cloud, mark) -> None:
    calls = cloud.store.calls(mark)
    assert not [c for c in calls if c["write"]], [c for c in calls if c["write"]]


def test_rotation_scan_refuses_bad_timer_events_without_writes(live_cloud):
    handler = importlib.import_module("functions.rotation_scan.index").handler
    mark = live_cloud.store.last_call_n()

    @PROPS
    @given(case=broken_timer_event())
    def broken(case):
        ev, fields = case
        assume(not _scan_valid(ev))
        try:   # an unknown key inside the payload object is named as it is
            inner = json.loads(ev["payload"]) if isinstance(ev.get("payload"), str) else ev.get("payload")
        except ValueError:
            inner = None
        if isinstance(inner, dict) and fields:
            fields = fields | {f'"{k}"' if k == "" else k for k in inner}
        _assert_clear(json.loads(handler(_payload(ev))), fields)

    @PROPS
    @given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                         JSONISH.map(lambda v: json.dumps(v).encode())))
    def garbage(raw):
        try:
            ok = _scan_valid(raw)
        except Exception:
            ok = False
        assume(not ok)
        _assert_clear(json.loads(handler(raw)), None)

    broken()
    garbage()
    _no_writes(live_cloud, mark)


# -- the issuer's event (the issuing lane's loop) ---------------------------------------------------
ORDER = {"kind": "rotate", "policy": {"secret_prefix": "albmtls", "revoke_old": "immediately"}}
BAD_DRAIN = {
    ("order",): st.one_of(JSONISH, st.just({}), st.just([ORDER])),
    ("order", "kind"): st.one_of(st.text(max_size=8).filter(lambda s: s not in ("rotate", "provision")), JUNK),
    ("order", "policy"): st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2)),
    ("order", "policy", "secret_prefix"): BAD_POLICY["secret_prefix"],
    ("order", "policy", "revoke_old"): BAD_POLICY["revoke_old"],
    ("order", "policy", "revoke_after_days"): BAD_POLICY["revoke_after_days"],
    ("order", "unexpected_field"): JUNK,
    ("cursor",): st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2)),
    ("cursor", "next"): st.one_of(st.text(max_size=3), st.floats(allow_nan=False)),
    ("attempt",): st.one_of(st.just(-1), st.integers(min_value=100_001), st.text(max_size=3)),
    ("execution_name",): st.one_of(st.just(""), st.just("a b"), st.just("x" * 129), UNICODE),
    ("unexpected_field",): JUNK,
}


@st.composite
def broken_drain_event(draw) -> tuple[dict, str]:
    ev = {"order": json.loads(json.dumps(ORDER)), "cursor": {"next": 0}, "attempt": 0,
          "execution_name": "rotate-albmtls-20260101"}
    path = draw(st.sampled_from(sorted(BAD_DRAIN, key=str)))
    cur = ev
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = draw(st.one_of(BAD_DRAIN[path], JUNK))
    return ev, path[0]


def _drain_valid(raw) -> bool:
    from shared.policy.orders import DrainEvent
    from shared.policy.validation import decode
    try:
        decode(DrainEvent, raw)
        return True
    except AlbMtlsError:
        return False


def test_issuer_refuses_bad_events_without_writes(lane):
    """Whatever reaches ``albmtls-issuer``, a clear answer and nothing written: a malformed event is
    refused naming its field; a well-formed one for an order that is not running waits its turn."""
    handler = importlib.import_module("functions.issuer.index").handler
    mark = lane.store.last_call_n()

    @PROPS
    @given(case=broken_drain_event())
    def broken(case):
        ev, top = case
        out = json.loads(handler(_payload(ev)))
        if _drain_valid(ev):
            assert out["status"] == "waiting" or out["error"]["code"] in CODES, out
            return
        _assert_clear(out, {top} if top != "unexpected_field" else None)

    @PROPS
    @given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                         JSONISH.map(lambda v: json.dumps(v).encode())))
    def garbage(raw):
        try:
            ok = _drain_valid(raw)
        except Exception:
            ok = False
        assume(not ok)
        _assert_clear(json.loads(handler(raw)), None)

    broken()
    garbage()
    _no_writes(lane, mark)


def test_an_order_that_is_not_running_waits_and_writes_nothing(lane):
    """The well-formed case pinned: an order that is not (yet) listed as running never works — it
    waits for its turn (``waiting``, 1 s) and makes no write."""
    handler = importlib.import_module("functions.issuer.index").handler
    mark = lane.store.last_call_n()
    out = json.loads(handler(json.dumps({"order": ORDER, "execution_name": "not-running"}).encode()))
    assert out["status"] == "waiting" and out["wait_s"] == 1 and out["position"] is None, out
    _no_writes(lane, mark)
