"""`albmtls up` as a user runs it: a separate process, clients built only from the endpoints file
it writes (issue "Local Alibaba Cloud, part 1", Done when)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_client

REPO = Path(__file__).resolve().parents[2]


def start_up(state: Path, ep: Path) -> tuple[subprocess.Popen, float]:
    from localruntime.ports import free_offset
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "albmtls", "up", "--seed", "demo", "--state-dir", str(state),
                             "--endpoints-file", str(ep), "--alb-job-seconds", "0.2",
                             "--port-offset", str(free_offset((443, 8443)))],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ep.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"albmtls up did not become ready: {err[-2000:]}")
        time.sleep(0.05)
    return proc, time.monotonic() - t0


def stop_up(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("albmtls up did not exit on SIGTERM")


def wait_running(alb, listener_id: str) -> str:
    from alibabacloud_alb20200616 import models as m
    for _ in range(100):
        status = alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=listener_id)).body.listener_status
        if status == "Running":
            return status
        time.sleep(0.05)
    return status


def test_up_serves_the_demo_account_to_the_real_sdks(tmp_path):
    from alibabacloud_alb20200616 import models as alb_m
    from alibabacloud_alidns20150109 import models as dns_m
    from alibabacloud_cas20200630 import models as pca_m
    from alibabacloud_kms20160120 import models as kms_m
    from alibabacloud_tea_openapi.exceptions import ClientException
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    state, ep = tmp_path / "state", tmp_path / "endpoints.json"
    proc, ready_s = start_up(state, ep)
    print(f"albmtls up ready in {ready_s:.2f} s")
    try:
        doc = json.loads(ep.read_text())
        for key in ("alb", "cas", "pca", "alidns", "kms", "dns", "access_key_id", "access_key_secret", "region",
                    "dataplane_port_offset"):
            assert key in doc, key
        seed = doc["seed"]
        alb, pca, dns, kms = (make_client(p, doc) for p in ("alb", "pca", "alidns", "kms"))

        lb = alb.get_load_balancer_attribute(alb_m.GetLoadBalancerAttributeRequest(
            load_balancer_id=seed["load_balancer_id"])).body
        assert lb.load_balancer_edition == "Standard" and lb.dnsname == seed["dns_name"]

        sg = alb.create_server_group(alb_m.CreateServerGroupRequest(
            server_group_name="up-test", vpc_id=seed["vpc_id"],
            health_check_config=alb_m.CreateServerGroupRequestHealthCheckConfig(health_check_enabled=True))).body
        tuples = [alb_m.CreateListenerRequestDefaultActionsForwardGroupConfigServerGroupTuples(
            server_group_id=sg.server_group_id)]
        forward = alb_m.CreateListenerRequestDefaultActionsForwardGroupConfig(server_group_tuples=tuples)
        listener = dict(listener_protocol="HTTPS", listener_port=443, ca_enabled=True,
                        certificates=[alb_m.CreateListenerRequestCertificates(
                            certificate_id=seed["server_cert_identifier"])],
                        ca_certificates=[alb_m.CreateListenerRequestCaCertificates(
                            certificate_id=seed["pca_sub_cert_identifier"])],
                        default_actions=[alb_m.CreateListenerRequestDefaultActions(
                            type="ForwardGroup", forward_group_config=forward)])
        time.sleep(0.3)
        created = alb.create_listener(alb_m.CreateListenerRequest(load_balancer_id=seed["load_balancer_id"],
                                                                  **listener)).body
        assert wait_running(alb, created.listener_id) == "Running"
        got = alb.get_listener_attribute(alb_m.GetListenerAttributeRequest(listener_id=created.listener_id)).body
        assert got.ca_enabled is True and got.ca_certificates[0].certificate_id == seed["pca_sub_cert_identifier"]

        with pytest.raises(ClientException) as refused:
            alb.create_listener(alb_m.CreateListenerRequest(load_balancer_id=seed["basic_load_balancer_id"],
                                                            **listener))
        assert refused.value.code == "OperationDenied.LoadBalancerEdition"

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bob")])
        csr = (x509.CertificateSigningRequestBuilder().subject_name(subject)
               .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
        issued = pca.create_client_certificate_with_csr(pca_m.CreateClientCertificateWithCsrRequest(
            parent_identifier=seed["pca_sub_identifier"], csr=csr, days=30)).body
        cert = pca.describe_client_certificate(
            pca_m.DescribeClientCertificateRequest(identifier=issued.identifier)).body.certificate
        root = pca.describe_cacertificate(
            pca_m.DescribeCACertificateRequest(identifier=seed["pca_root_identifier"])).body.certificate
        sub = pca.describe_cacertificate(
            pca_m.DescribeCACertificateRequest(identifier=seed["pca_sub_identifier"])).body.certificate
        for name, pem in (("leaf.pem", cert.x_509certificate), ("root.pem", root.x_509certificate),
                          ("sub.pem", sub.x_509certificate)):
            (tmp_path / name).write_text(pem)
        verify = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                                 str(tmp_path / "sub.pem"), str(tmp_path / "leaf.pem")],
                                capture_output=True, text=True, timeout=20)
        assert verify.returncode == 0 and ": OK" in verify.stdout, verify.stdout + verify.stderr

        add = dns_m.AddDomainRecordRequest(domain_name="example.test", rr="app", type="CNAME", value=seed["dns_name"])
        record_id = dns.add_domain_record(add).body.record_id
        assert isinstance(record_id, str)
        with pytest.raises(ClientException) as dup:
            dns.add_domain_record(add)
        assert dup.value.code == "DomainRecordDuplicate"
        with pytest.raises(ClientException) as conflict:
            dns.add_domain_record(dns_m.AddDomainRecordRequest(domain_name="example.test", rr="legacy", type="CNAME",
                                                               value=seed["dns_name"]))
        assert conflict.value.code == "DomainRecordConflict"

        kms.create_secret(kms_m.CreateSecretRequest(secret_name="up-test/secret", secret_data="s3cr3t-value",
                                                    version_id="v1", secret_data_type="text"))
        got_secret = kms.get_secret_value(kms_m.GetSecretValueRequest(secret_name="up-test/secret")).body
        assert got_secret.secret_data == "s3cr3t-value"

        bad = dict(doc, access_key_secret="not-the-secret")
        with pytest.raises(ClientException) as sig:
            make_client("alb", bad).get_load_balancer_attribute(alb_m.GetLoadBalancerAttributeRequest(
                load_balancer_id=seed["load_balancer_id"]))
        assert sig.value.code == "SignatureDoesNotMatch"
    finally:
        assert stop_up(proc) == 0

    # Stop and start again on the same state directory: every object is still there.
    proc, _ = start_up(state, tmp_path / "endpoints2.json")
    try:
        doc = json.loads((tmp_path / "endpoints2.json").read_text())
        alb, pca, dns, kms = (make_client(p, doc) for p in ("alb", "pca", "alidns", "kms"))
        got = alb.get_listener_attribute(alb_m.GetListenerAttributeRequest(listener_id=created.listener_id)).body
        assert got.ca_enabled is True and got.listener_port == 443
        assert pca.describe_client_certificate(pca_m.DescribeClientCertificateRequest(
            identifier=issued.identifier)).body.certificate.common_name == "bob"
        recs = dns.describe_sub_domain_records(
            dns_m.DescribeSubDomainRecordsRequest(sub_domain="app.example.test")).body
        assert [r.record_id for r in recs.domain_records.record] == [record_id]
        got_secret = kms.get_secret_value(kms_m.GetSecretValueRequest(secret_name="up-test/secret")).body
        assert got_secret.secret_data == "s3cr3t-value"
    finally:
        assert stop_up(proc) == 0


def test_coverage_file_is_current():
    from localcloud.coverage import PATH, render
    assert PATH.read_text() == render(), "run: python -m localcloud.coverage"
