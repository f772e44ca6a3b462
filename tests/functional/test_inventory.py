"""The inventory (shared.steps.inventory) on the live local cloud: one row per certificate the
private CA lists, states from the cloud alone — orphaned (left the recorded desired state), revoked,
and certificates this automation did not issue."""
from __future__ import annotations

import copy
from datetime import UTC, datetime

from shared.adapters.base import CallPolicy
from shared.adapters.kms import Kms
from shared.core.settings import Settings
from shared.core.wait import Deadline
from shared.policy.contracts import ProvisionInput
from shared.policy.validation import decode
from shared.steps.desired import record_desired
from shared.steps.inventory import COLUMNS, inventory_report, to_csv


def _issue(invoke, inp: dict) -> list[dict]:
    out = invoke("albmtls-issue-client-cert", {"input": inp, "execution_name": "inv"})
    assert out["status"] == "ok", out
    return out["client_certificates"]


def test_states_and_holders_come_from_the_cloud(lane, live_cloud, invoke, writes, demo_input):
    from alibabacloud_cas20200630 import models as cm

    from tests.conftest import make_client
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": "alice"}, {"common_name": "bob"}, {"common_name": "carol"}]
    certs = {c["common_name"]: c for c in _issue(invoke, inp)}
    kms = Kms(CallPolicy(Deadline(30)), settings=Settings.load())
    # the last apply no longer lists bob (he left the input): his certificate is orphaned
    applied = copy.deepcopy(inp)
    applied["clients"] = [{"common_name": "alice"}, {"common_name": "carol"}]
    record_desired(kms, decode(ProvisionInput, applied), now=datetime.now(UTC))
    # carol's certificate revoked at the private CA
    make_client("pca", live_cloud.endpoints()).create_revoke_client_certificate(
        cm.CreateRevokeClientCertificateRequest(identifier=certs["carol"]["identifier"]))

    writes.mark()
    doc = inventory_report(Settings.load())
    assert writes.since() == []
    rows = {r["common_name"]: r for r in doc["rows"]}
    assert (rows["alice"]["state"], rows["bob"]["state"], rows["carol"]["state"]) == ("valid", "orphaned", "revoked")
    alice = rows["alice"]
    assert alice["listener"] == "alb-demostd000000000001-443" and alice["serial"] == certs["alice"]["serial"]
    assert alice["fingerprint_sha256"] == certs["alice"]["fingerprint_sha256"]
    assert alice["ca"] and alice["days_left"] > 29
    assert doc["listed"] == len(doc["rows"]) and doc["counts"]["orphaned"] == 1
    # every row the CA lists, with the columns in order
    text = to_csv(doc)
    assert text.splitlines()[0] == ",".join(COLUMNS) and len(text.splitlines()) == doc["listed"] + 1
