"""The issuing lane at a small size (``bench.lane`` with ``PROFILES_SMALL["lane"]``: 40 holders on
one listener, a second apply, their rotation once due), checked by exact counts only — no timed
assertion (the 1,000-holder figures: ``make bench``, docs/PERFORMANCE.md):

* first issue: one ``CreateClientCertificateWithCsr`` per holder, the CA's reads once per order
  (not per certificate), the three secrets per certificate and one key-log version per batch,
  no throttled answer;
* second apply: zero writes; the PCA read is one status call per 50 holders (the first 16 alone);
* rotation: exactly one new certificate per holder, no revocation, the PCA calls = the renewals +
  the list page + the CA's two reads (≤ 2 per renewal), three KMS versions per renewal;
* every execution's state far under CloudFlow's 64 KiB.
"""
from __future__ import annotations

import math

import pytest

from bench import PROFILES_SMALL as SMALL

pytestmark = pytest.mark.slow

#: the CA's PCA reads of a first issue: the preflight's check order reads and checks the sub-CA
#: (DescribeCACertificate, GetCAInstanceStatus) and resolves it for ALB with the same answer
#: (ListPcaCaCertificate, DescribeCACertificateList); the provisioning order checks it again (2)
FIRST_ISSUE_CA_READS = 6
#: the rotation order's CA facts, once: DescribeCACertificate + GetCAInstanceStatus
ROTATION_CA_READS = 2


@pytest.fixture(scope="module")
def lane_run():
    from bench import lane
    return lane.run(**SMALL["lane"])


def test_first_issue_one_pca_call_per_certificate(lane_run):
    from shared.policy import keylog
    n, first = lane_run["holders"], lane_run["first_issue"]
    by = first["by_action"]
    assert by["pca:CreateClientCertificateWithCsr"] == n == first["certificates"]
    # + the CA's list read twice: by the check order in the lane (the preflight's check of a CN that
    # differs only in letter case from a holder the listener has, or from a revoked one) and by
    # ReconcileClients outside it, at the share the lane leaves (orphans)
    assert by["pca:ListClientCertificate"] == 2 * math.ceil(n / 100)
    assert first["pca_calls"] == n + FIRST_ISSUE_CA_READS + 2 * math.ceil(n / 100), by
    assert "pca:DescribeClientCertificate" not in by            # the issue's answer carries the certificate
    assert "pca:CreateRevokeClientCertificate" not in by
    assert first["throttled"] == 0
    kms = first["kms_versions"]
    assert kms["client_secret_versions"] == 3 * n                # password, PFX, record
    assert kms["keylog_versions"] == math.ceil(n / keylog.EC_BATCH)   # the demo sub-CA is EC P-256
    assert first["kms_writes"] == 3 * n + kms["keylog_versions"] + kms["other_versions"]
    assert kms["other_versions"] == 1                            # the listener's desired state
    assert first["largest_state_bytes"] < 32 * 1024


def test_second_apply_writes_nothing(lane_run):
    n, again = lane_run["holders"], lane_run["second_apply"]
    by = again["by_action"]
    assert again["writes"] == 0 and again["kms_writes"] == 0, by
    assert "pca:CreateClientCertificateWithCsr" not in by
    from shared.steps.issuer import FIRST_CHUNK, OBSERVE_CHUNK
    # the first chunk small (the first issue starts early), then 50 a call
    assert by["pca:DescribeClientCertificateStatus"] == 1 + math.ceil((n - FIRST_CHUNK) / OBSERVE_CHUNK)
    assert again["pca_calls"] == again["pca_reads_expected"], by
    assert again["throttled"] == 0


def test_rotation_exactly_one_replacement_each_at_most_two_pca_calls(lane_run):
    from shared.policy import keylog
    n, rot = lane_run["holders"], lane_run["rotation"]
    by = rot["by_action"]
    assert rot["due"] == n
    assert rot["new_certificates"] == rot["distinct_holders_renewed"] == n
    assert rot["revocations"] == 0 and "pca:CreateRevokeClientCertificate" not in by
    assert by["pca:CreateClientCertificateWithCsr"] == n
    pages = by["pca:ListClientCertificate"]
    assert pages == math.ceil(n / 100)                           # the certificates there at the start
    assert rot["pca_calls"] == n + pages + ROTATION_CA_READS, by
    assert rot["pca_calls_per_renewal"] <= 2
    assert rot["throttled"] == 0
    kms = rot["kms_versions"]
    assert kms["client_secret_versions"] == 3 * n and kms["client_versions_per_certificate"] == 3.0
    assert kms["keylog_versions"] == math.ceil(n / keylog.EC_BATCH)
    assert rot["kms_writes"] == 3 * n + kms["keylog_versions"]
    assert "kms:CreateSecret" not in by                          # the key log exists: written, not guessed
    assert rot["largest_state_bytes"] < 32 * 1024
