"""The read checks of ``albmtls doctor``: the credentials (STS), and the codes and quotas the
products answer reads with — PCA, CAS, Alidns, KMS."""
from __future__ import annotations

import json
import uuid

from .base import ABSENT_ID, DoctorEnv, Finding, finish, observe, verdict


# -- credentials --------------------------------------------------------------------------------------
def credentials(env: DoctorEnv) -> Finding:
    from shared.adapters.credentials import check_credentials
    from shared.adapters.sts import Sts
    source = check_credentials(env.settings)
    sts = env.adapter(Sts)
    resp = sts.call("sts:GetCallerIdentity", lambda: sts.client.get_caller_identity())
    body, headers = resp.body, dict(getattr(resp, "headers", None) or {})
    date = headers.get("date")
    return Finding("credentials", "ok",
                   f"account {body.account_id} ({body.identity_type} {body.arn}), region {env.settings.region}; "
                   f"credentials from {source.provider} ({source.access_key_id})",
                   settles={"cross:Date header": f"confirmed: Date {date}" if date else
                            "contradicted: no Date header on a successful answer"},
                   observed={"account_id": body.account_id, "arn": body.arn, "identity_type": body.identity_type})


def pca_quota(env: DoctorEnv) -> Finding:
    from shared.adapters.pca import Pca
    pca = env.adapter(Pca)
    if env.inp is None:
        subs = [c for c in pca.list_ca_certificates() if c.certificate_type == "SUB_ROOT"]
        return Finding("pca-quota", "ok" if subs else "warn", f"{len(subs)} sub-CA(s): "
                       + ", ".join(f"{c.identifier} ends {c.not_after:%Y-%m-%d}" for c in subs if c.not_after),
                       "" if subs else "create a subordinate CA in the PCA console")
    resolved = env.resolved or pca.resolve_ca(env.inp.ca_id.for_pca())
    env.resolved = resolved
    ca = pca.describe_ca_certificate(resolved.identifier)
    inst = pca.get_ca_instance_status(resolved.identifier)
    end = inst.use_expire_time if inst else None
    detail = (f"sub-CA {resolved.identifier}: {ca.remaining_count} certificate(s) left, ends "
              f"{ca.not_after:%Y-%m-%d}" + (f", subscription ends {end:%Y-%m-%d}" if end else ""))
    if ca.remaining_count is not None and ca.remaining_count <= 0:
        return Finding("pca-quota", "fail", detail, "buy more certificates for the sub-CA (QUOTA_EXCEEDED)")
    return Finding("pca-quota", "ok", detail)


def pca_codes(env: DoctorEnv) -> Finding:
    from shared.adapters.pca import Pca
    pca = env.adapter(Pca)
    m = __import__("alibabacloud_cas20200630.models", fromlist=["models"])
    ca = observe(pca, "pca:DescribeCACertificate",
                 lambda c: c.describe_cacertificate(m.DescribeCACertificateRequest(identifier=ABSENT_ID)))
    cl = observe(pca, "pca:DescribeClientCertificate",
                 lambda c: c.describe_client_certificate(m.DescribeClientCertificateRequest(identifier=ABSENT_ID)))
    inst = observe(pca, "pca:GetCAInstanceStatus",
                   lambda c: c.get_cainstance_status(
                       m.GetCAInstanceStatusRequest(instance_id="cas-pca-albmtlsdoctor0")))
    page = observe(pca, "pca:ListClientCertificate",
                   lambda c: c.list_client_certificate(m.ListClientCertificateRequest(current_page=1, show_size=100)))
    settles = {"pca:code:CaCertificate.NotFound": verdict(ca, "CaCertificate.NotFound", 404),
               "pca:code:Certificate.NotFound": verdict(cl, "Certificate.NotFound", 404),
               "pca:code:CaInstance.NotFound": verdict(inst, "CaInstance.NotFound", 404),
               "pca:behaviour:ShowSize": "confirmed: ShowSize 100 accepted" if page.ok else
               f"contradicted: ShowSize 100 refused with {page.shows()}"}
    return finish("pca-codes", settles, f"unknown CA: {ca.shows()}; unknown client certificate: {cl.shows()}; "
                   f"unknown instance: {inst.shows()}; ShowSize=100: {page.shows()}")


def cas_codes(env: DoctorEnv) -> Finding:
    from shared.adapters.cas import Cas
    cas = env.adapter(Cas)
    m = __import__("alibabacloud_cas20200407.models", fromlist=["models"])
    detail = observe(cas, "cas:GetUserCertificateDetail",
                     lambda c: c.get_user_certificate_detail(m.GetUserCertificateDetailRequest(cert_id=1)))
    wh = observe(cas, "cas:ListCertWarehouse", lambda c: c.list_cert_warehouse(m.ListCertWarehouseRequest()))
    types = sorted({w.type for w in (wh.value.body.cert_warehouse_list or []) if w.type}) if wh.ok else []
    settles = {"cas:code:Certificate.NotFound": verdict(detail, "Certificate.NotFound", 404),
               "cas:behaviour:warehouse Type": (f"confirmed: the repositories report Type {', '.join(types)}"
                                                if types else "not seen: no certificate repository in the account")}
    return finish("cas-codes", settles, f"unknown CertId: {detail.shows()}; certificate repositories: "
                   f"{wh.shows() if not wh.ok else len(wh.value.body.cert_warehouse_list or [])}")


def alidns_codes(env: DoctorEnv) -> Finding:
    from shared.adapters.alidns import Alidns
    dns = env.adapter(Alidns)
    m = __import__("alibabacloud_alidns20150109.models", fromlist=["models"])
    name = f"albmtls-doctor-{uuid.uuid4().hex[:8]}.invalid"
    obs = observe(dns, "alidns:DescribeDomainInfo",
                  lambda c: c.describe_domain_info(m.DescribeDomainInfoRequest(domain_name=name)))
    return finish("alidns-codes", {"alidns:code:InvalidDomainName.NoExist":
                                    verdict(obs, "InvalidDomainName.NoExist", 400)},
                   f"a domain not in the account ({name}): {obs.shows()}")


def kms_access(env: DoctorEnv) -> Finding:
    from shared.adapters.kms import Kms
    kms = env.adapter(Kms)
    m = __import__("alibabacloud_kms20160120.models", fromlist=["models"])
    listed = observe(kms, "kms:ListSecrets", lambda c: c.list_secrets(m.ListSecretsRequest(page_size=10)))
    if not listed.ok:
        return Finding("kms-access", "fail", f"ListSecrets: {listed.shows()}", "grant kms:ListSecrets/DescribeSecret "
                       "(deploy/ram/function-role-policy.json) to the identity you run as")
    names = [s.secret_name for s in (listed.value.body.secret_list.secret or [])] \
        if listed.value.body.secret_list else []
    absent = f"albmtls-doctor/{uuid.uuid4().hex[:8]}"
    filtered = observe(kms, "kms:ListSecrets", lambda c: c.list_secrets(m.ListSecretsRequest(
        page_size=10, filters=json.dumps([{"Key": "SecretName", "Values": [absent]}]))))
    fnames = [s.secret_name for s in (filtered.value.body.secret_list.secret or [])] \
        if filtered.ok and filtered.value.body.secret_list else []
    missing = observe(kms, "kms:DescribeSecret",
                      lambda c: c.describe_secret(m.DescribeSecretRequest(secret_name=absent)))
    instance = observe(kms, "kms:GetKmsInstance", lambda c: c.get_kms_instance(m.GetKmsInstanceRequest(
        kms_instance_id=f"kst-{uuid.uuid4().hex[:21]}")))
    settles = {"kms:behaviour:ListSecrets.Filters":
               "not seen: no secret in the account to filter out" if not names else
               "confirmed: the filter was ignored" if fnames else
               "contradicted: the filter applies (no secret matched a name that does not exist)",
               "kms:code:Forbidden.ResourceNotFound": verdict(instance, "Forbidden.ResourceNotFound", 404)}
    return finish("kms-access", settles, f"ListSecrets answered ({len(names)} on the first page); DescribeSecret of "
                   f"a name that does not exist: {missing.shows()}; GetKmsInstance of an instance that does not "
                   f"exist: {instance.shows()}")
