"""The local cloud's core: flattened parameters, typed params, signatures, store, faults, clock."""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localcloud import errors
from localcloud.clock import Clock
from localcloud.faults import Faults
from localcloud.protocol import Params, unflatten, verify_acs3
from localcloud.store import Store


@pytest.mark.parametrize("pairs,expected", [
    ([("A", "1")], {"A": "1"}),
    ([("L.1", "x"), ("L.2", "y")], {"L": ["x", "y"]}),
    ([("L.2", "y"), ("L.1", "x")], {"L": ["x", "y"]}),
    ([("C.1.CertificateId", "1-cn-hangzhou")], {"C": [{"CertificateId": "1-cn-hangzhou"}]}),
    ([("D.1.F.T.1.Id", "sgp-1"), ("D.1.Type", "ForwardGroup")],
     {"D": [{"F": {"T": [{"Id": "sgp-1"}]}, "Type": "ForwardGroup"}]}),
    ([("X.Enabled", "True")], {"X": {"Enabled": "True"}}),
])
def test_unflatten(pairs, expected):
    assert unflatten(pairs) == expected


@given(st.lists(st.text(alphabet="abc", min_size=1, max_size=5), min_size=1, max_size=12))
def test_unflatten_list_round_trip(values):
    pairs = [(f"Name.{i + 1}", v) for i, v in enumerate(values)]
    assert unflatten(pairs) == {"Name": values}


@pytest.mark.parametrize("raw,value", [("True", True), ("false", False), ("TRUE", True), ("0", False)])
def test_params_bool(raw, value):
    assert Params({"B": raw}).bool("B") is value


@pytest.mark.parametrize("call,code", [
    (lambda p: p.str("Missing", required=True), "MissingParameter"),
    (lambda p: p.int("S"), "InvalidParameter"),
    (lambda p: p.int("N", min=1, max=10), "InvalidParameter"),
    (lambda p: p.str("S", enum=["a", "b"]), "InvalidParameter"),
    (lambda p: p.bool("S"), "InvalidParameter"),
])
def test_params_errors(call, code):
    with pytest.raises(errors.ApiError) as exc:
        call(Params({"S": "text", "N": "11"}))
    assert exc.value.code == code


def _sign(secret: str, query, headers, signed, body=b""):
    from urllib.parse import quote
    canon_q = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in sorted(query))
    canon_h = "".join(f"{h}:{headers[h]}\n" for h in signed)
    h = hashlib.sha256(body).hexdigest()
    req = "\n".join(["POST", "/", canon_q, canon_h, ";".join(signed), h])
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(req.encode()).hexdigest()
    return hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest(), h


def test_acs3_signature_checks():
    query = [("RR", "a b"), ("DomainName", "例子.com")]
    headers = {"host": "127.0.0.1:1", "x-acs-action": "X", "x-acs-version": "2015-01-09"}
    signed = sorted(headers)
    sig, h = _sign("s3cret", query, headers, signed)
    headers = dict(headers, **{"x-acs-content-sha256": h,
                               "authorization": "ACS3-HMAC-SHA256 Credential=AK,"
                                                f"SignedHeaders={';'.join(signed)},Signature={sig}"})
    assert verify_acs3("POST", "/", query, headers, b"", {"AK": "s3cret"}) == "AK"
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_acs3("POST", "/", query, headers, b"", {"AK": "other"})
    with pytest.raises(errors.InvalidAccessKeyIdNotFound):
        verify_acs3("POST", "/", query, headers, b"", {"BK": "s3cret"})
    with pytest.raises(errors.SignatureDoesNotMatch):
        verify_acs3("POST", "/", query + [("Extra", "1")], headers, b"", {"AK": "s3cret"})


def test_store_persists_and_pages(tmp_path):
    s = Store(tmp_path / "db.sqlite3")
    for i in range(25):
        s.put("k", f"id{i}", {"n": i}, key2="even" if i % 2 == 0 else "odd")
    s.put("k", "id3", {"n": 3, "changed": True})
    assert [d["n"] for d in s.page("k", 0, 5)] == [0, 1, 2, 3, 4]
    assert s.page("k", 0, 5)[3]["changed"] is True
    assert s.count("k", key2="even") == 13
    assert [d["n"] for d in s.page("k", 2, 3, key2="odd")] == [5, 7, 9]
    s.close()
    s2 = Store(tmp_path / "db.sqlite3")
    assert s2.get("k", "id24") == {"n": 24}
    assert s2.next_seq("docs") == 26


def test_store_tx_rolls_back():
    s = Store(None)
    with pytest.raises(RuntimeError):
        with s.tx():
            s.put("k", "a", {})
            raise RuntimeError("boom")
    assert s.get("k", "a") is None


def test_clock_set_and_advance():
    c = Clock()
    when = datetime(2030, 1, 1, tzinfo=UTC)
    c.set(when)
    assert abs((c.now() - when).total_seconds()) < 1
    c.advance(86400)
    assert abs((c.now() - when - timedelta(days=1)).total_seconds()) < 1
    with pytest.raises(ValueError):
        c.set(datetime(2030, 1, 1))


def test_faults_rate_and_qps():
    f = Faults(seed=1)
    f.configure({"rules": [{"kind": "busy", "rate": 1.0, "product": "alb", "writes_only": True}], "qps": {"pca": 2}})
    assert f.decide("alb", "CreateListener", True).error.code == "IncorrectStatus.Listener"
    assert f.decide("alb", "GetListenerAttribute", False).kind is None
    f.check_qps("pca")
    f.check_qps("pca")
    with pytest.raises(errors.ApiError) as exc:
        f.check_qps("pca")
    assert exc.value.retry_after_ms and exc.value.retry_after_ms > 0


@pytest.mark.parametrize("spec", [{"rules": [{"kind": "explode"}]}, {"rules": [{"kind": "5xx", "rate": 2}]},
                                  {"rules": [{"kind": "5xx", "bogus": 1}]}])
def test_faults_refuse_bad_specs(spec):
    f = Faults()
    with pytest.raises((ValueError, TypeError)):
        f.configure(spec)
    assert f.rules == []


def test_state_files_are_owner_only_wal_and_shm_included(tmp_path):
    """The database holds emulated secrets and keys: it and its -wal/-shm files are 0600 whatever the umask."""
    import os
    import stat

    from localcloud.store import Store
    old = os.umask(0o022)
    try:
        store = Store(tmp_path / "st" / "cloud.sqlite3")
        store.set_meta("x", 1)
    finally:
        os.umask(old)
    files = sorted((tmp_path / "st").iterdir())
    assert {f.name for f in files} >= {"cloud.sqlite3", "cloud.sqlite3-wal", "cloud.sqlite3-shm"}
    assert {f.name: oct(stat.S_IMODE(f.stat().st_mode)) for f in files} == {f.name: "0o600" for f in files}
