"""The desired-state record in KMS (shared.steps.desired) and start_provision keeping it: written
when the input changes, never when it does not (zero writes), found by listing."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime

from shared.adapters.base import CallPolicy
from shared.adapters.kms import Kms
from shared.core.settings import Settings
from shared.core.wait import Deadline
from shared.policy.contracts import ProvisionInput
from shared.policy.validation import decode
from shared.steps.desired import list_desired, read_desired, record_desired

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _kms() -> Kms:
    return Kms(CallPolicy(Deadline(30)), settings=Settings.load())


def test_recorded_once_then_unchanged_then_updated(live_cloud, writes, demo_input):
    kms = _kms()
    inp = decode(ProvisionInput, demo_input)
    assert read_desired(kms, "albmtls", inp.listener_key) is None

    first = record_desired(kms, inp, now=NOW, execution="exec-1")
    assert (first.action, first.writes) == ("created", 1)
    assert first.secret == "albmtls/alb-demostd000000000001-443/desired"
    writes.mark()
    again = record_desired(kms, decode(ProvisionInput, copy.deepcopy(demo_input)), now=NOW, execution="exec-2")
    assert (again.action, again.writes, again.version) == ("unchanged", 0, first.version)
    assert writes.since() == []

    changed = decode(ProvisionInput, demo_input | {"ttl": 1200})
    upd = record_desired(kms, changed, now=NOW.replace(hour=13), execution="exec-3")
    assert (upd.action, upd.writes) == ("updated", 1) and upd.version != first.version
    rec = read_desired(kms, "albmtls", inp.listener_key)
    assert rec is not None and rec.input["ttl"] == 1200 and rec.execution == "exec-3"
    # the secret is tagged as a record (and holds no secret: the input only)
    stored = live_cloud.store.get("kms.secret", first.secret)
    assert {"TagKey": "albmtls:record", "TagValue": "desired-state"} in stored["Tags"]
    assert list(list_desired(kms, "albmtls")) == [inp.listener_key]
    assert list(list_desired(kms, "other-prefix")) == []


def test_back_to_an_earlier_input_stores_a_new_version(live_cloud, demo_input):
    kms = _kms()
    a, b = decode(ProvisionInput, demo_input), decode(ProvisionInput, demo_input | {"ttl": 1200})
    v1 = record_desired(kms, a, now=NOW).version
    record_desired(kms, b, now=NOW.replace(minute=1))
    v3 = record_desired(kms, a, now=NOW.replace(minute=2))
    assert v3.action == "updated" and v3.version != v1
    rec = read_desired(kms, "albmtls", a.listener_key)
    assert rec is not None and rec.input["ttl"] == 600


def test_a_hand_edited_record_is_reported_and_replaced_by_the_next_apply(live_cloud, demo_input):
    import pytest

    from shared.core.errors import AlbMtlsError
    kms = _kms()
    inp = decode(ProvisionInput, demo_input)
    kms.create_secret("albmtls/alb-demostd000000000001-443/desired", json.dumps({"hello": 1}), "v1")
    with pytest.raises(AlbMtlsError) as exc:
        read_desired(kms, "albmtls", inp.listener_key)
    assert "apply that listener again" in exc.value.message
    assert record_desired(kms, inp, now=NOW).action == "created"    # counted as none, replaced
    assert read_desired(kms, "albmtls", inp.listener_key) is not None
