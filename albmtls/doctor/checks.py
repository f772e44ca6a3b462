"""The checks of ``albmtls doctor``: each reads the target (the local cloud or a real account) —
reads and ``DryRun=true`` writes only — and says, for the assumptions it settles
(``localcloud/assumptions.py``), whether the target agrees.

Every check is ``check(env) -> Finding``; :data:`CHECKS` names them exactly as
``localcloud.assumptions.DOCTOR_CHECKS`` does (a test keeps the two the same).

One module (~600 lines): every check beside the others, so the catalogue's names are read in one place.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from shared.adapters.base import CallPolicy
from shared.core.errors import AlbMtlsError
from shared.core.settings import CA_ID_FORMS, Settings
from shared.core.wait import Deadline

REPO = Path(__file__).resolve().parents[2]
ABSENT_ID = "0" * 32


@dataclass
class Finding:
    """What a check found: ``result`` ``ok`` | ``fail`` (the target contradicts a setting or an
    assumption in a way that breaks a run) | ``warn`` | ``skip`` (could not run here); ``detail``;
    ``fix`` (what to change when it is not ``ok``); ``settles``: assumption key → verdict
    (``confirmed: …`` / ``contradicted: …`` / ``not seen: …``)."""

    check: str
    result: str
    detail: str
    fix: str = ""
    settles: dict[str, str] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorEnv:
    """What the checks share: the settings of the target, the provision input (``-f``), the result of
    earlier checks (a check may use what another resolved)."""

    settings: Settings
    target: str
    inp: Any = None                 # shared.policy.contracts.ProvisionInput
    raw: dict[str, Any] | None = None
    resolved: Any = None            # shared.policy.ids.ResolvedCa of the input's sub-CA

    def adapter(self, cls: type) -> Any:
        return cls(CallPolicy(Deadline(60), pca_qps=self.settings.pca_qps), settings=self.settings)


@dataclass
class Observed:
    """One read: ``ok`` with its ``value``, or the cloud's ``code`` and HTTP ``status``."""

    ok: bool
    value: Any = None
    code: str | None = None
    status: int | None = None

    def shows(self) -> str:
        return "answered" if self.ok else f"{self.code} (HTTP {self.status})"


def observe(adapter: Any, op: str, fn: Callable[[Any], Any]) -> Observed:
    """``fn(client)`` through the adapter's call policy: its value, or the cloud's code and status."""
    client = adapter.client
    try:
        return Observed(True, adapter.call(op, lambda: fn(client)))
    except AlbMtlsError as err:
        if err.retryable:
            raise
        return Observed(False, code=err.cloud_code or err.code, status=err.status_code)


def verdict(obs: Observed, code: str, status: int) -> str:
    """``confirmed`` when the target answered ``code``/``status``, else ``contradicted: …``."""
    if obs.ok:
        return "contradicted: the call succeeded"
    if obs.code == code and obs.status == status:
        return f"confirmed: {code} (HTTP {status})"
    return f"contradicted: the target answers {obs.shows()}, the local cloud {code} (HTTP {status})"


def _fix_for(key: str) -> str:
    product, kind, *rest = key.split(":")
    if kind == "code":
        return (f"change the code in localcloud/products/{product}/exceptions.py to what the account answered, and "
                "its handling in shared/ if the product branches on it")
    return f"update localcloud/products/{product}/models.py ASSUMPTIONS (and the product) to what was seen"


def _finish(name: str, settles: dict[str, str], detail: str, observed: dict[str, Any] | None = None) -> Finding:
    bad = [k for k, v in settles.items() if v.startswith("contradicted")]
    return Finding(name, "warn" if bad else "ok", detail, "; ".join(f"{k}: {_fix_for(k)}" for k in bad),
                   settles, observed or {})


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


# -- the CA id forms -------------------------------------------------------------------------------------
def _all_listeners(env: DoctorEnv) -> list[Any]:
    from shared.adapters.alb import Alb
    alb = env.adapter(Alb)
    m = __import__("alibabacloud_alb20200616.models", fromlist=["models"])
    lbs: list[str] = []
    token = None
    for _ in range(100):
        req = m.ListLoadBalancersRequest(max_results=100, next_token=token)
        body = alb.call("alb:ListLoadBalancers", lambda req=req: alb.client.list_load_balancers(req)).body
        lbs += [lb.load_balancer_id for lb in body.load_balancers or []]
        token = body.next_token
        if not token:
            break
    out = []
    for lb in lbs:
        for lst in alb.list_listeners(lb):
            if lst.protocol == "HTTPS":
                out.append(alb.get_listener(lst.id))
    return out


def ca_id_forms(env: DoctorEnv) -> Finding:
    from shared.adapters.pca import Pca
    pca = env.adapter(Pca)
    by_cert = {i.cert_identifier: i for i in pca.list_pca_ca_certificates()}
    by_ident = {c.identifier: c for c in pca.list_ca_certificates()}
    m = __import__("alibabacloud_cas20200630.models", fromlist=["models"])
    ext = observe(pca, "pca:DescribePcaAndExternalCACertificateList",
                  lambda c: c.describe_pca_and_external_cacertificate_list(
                      m.DescribePcaAndExternalCACertificateListRequest(current_page=1, show_size=50)))
    ext_ids = {i.identifier for i in (ext.value.body.certificate_list or [])} if ext.ok else set()
    same = sorted(set(by_cert) & set(by_ident))
    uses: dict[str, list[str]] = {"cert_identifier": [], "identifier": [], "other": []}
    for lst in _all_listeners(env):
        for cid in lst.ca_certificate_ids:
            form = ("cert_identifier" if cid in by_cert and cid not in by_ident else
                    "identifier" if cid in by_ident and cid not in by_cert else
                    "both" if cid in by_ident else "other")
            uses.setdefault(form, []).append(f"{lst.id}={cid}")
    form = env.settings.alb_ca_id_form
    other = next(f for f in CA_ID_FORMS if f != form)
    detail = (f"ListPcaCaCertificate lists {len(by_cert)} CA(s), DescribeCACertificateList {len(by_ident)}; "
              f"{len(same)} carry one id in both; listeners name CAs by CertIdentifier {len(uses['cert_identifier'])}, "
              f"by Identifier {len(uses['identifier'])}, by an id both lists share {len(uses.get('both', []))}, "
              f"by another id (an uploaded CA?) {len(uses['other'])}")
    settles = {
        "pca:behaviour:two CA identifiers": (
            "contradicted: every CA carries the same id in both lists (the form does not matter for them)"
            if by_cert and set(by_cert) == set(by_ident) else
            f"confirmed: {len(set(by_cert) - set(by_ident))} CertIdentifier(s) not among the Identifiers"
            if by_cert else "not seen: no CA in the account"),
        "pca:behaviour:ListPcaCaCertificate.IssuerIdentifier": (
            "confirmed: issuers are named by CertIdentifier"
            if all((i.issuer_identifier or "") in by_cert for i in by_cert.values()) and by_cert
            else "contradicted: an IssuerIdentifier is not a listed CertIdentifier" if by_cert
            else "not seen: no CA in the account"),
        "pca:behaviour:DescribePcaAndExternalCACertificateList": (
            f"not seen: {ext.shows()}" if not ext.ok else "not seen: no CA listed" if not ext_ids else
            "confirmed: it lists the CAs by their DescribeCACertificateList Identifier" if ext_ids <= set(by_ident)
            else "contradicted: it lists ids DescribeCACertificateList does not"),
    }
    finding = _finish("ca-id-forms", settles, detail, {"listeners": uses, "same_ids": same})
    if uses.get(other) and not uses.get(form):
        finding.result = "fail"
        finding.fix = (f"existing listeners name their CA by {other}: set ALBMTLS_ALB_CA_ID_FORM={other} "
                       "(and vars.albCaIdForm in s.yaml)")
    return finding


def listener_dry_run(env: DoctorEnv) -> Finding:
    if env.inp is None:
        return Finding("listener-dry-run", "skip", "no provision input: pass -f INPUT.json to dry-run the listener "
                       "write with your sub-CA", "albmtls doctor -f INPUT.json")
    from shared.adapters.alb import Alb
    from shared.adapters.pca import Pca
    inp = env.inp
    resolved = env.resolved or env.adapter(Pca).resolve_ca(inp.ca_id.for_pca())
    env.resolved = resolved
    ids = {"cert_identifier": resolved.cert_identifier, "identifier": resolved.identifier}
    alb = env.adapter(Alb)
    existing = alb.find_listener_on_port(inp.load_balancer_id, inp.listener_port)
    target: Callable[[str], Any]
    if existing is not None and existing.protocol == "HTTPS":
        how = f"UpdateListenerAttribute(DryRun) of {existing.id}"
        def target(ca: str) -> Any:
            return alb.update_listener(existing.id, ca_enabled=True, ca_certificate_id=ca, dry_run=True)
    elif existing is None:
        lb = alb.get_load_balancer(inp.load_balancer_id)
        groups = alb.list_server_groups(names=[inp.server_group.name]) or alb.list_server_groups(vpc_id=lb.vpc_id)
        cert_id = _server_certificate_id(env)
        if not groups or not cert_id:
            return Finding("listener-dry-run", "skip", "port free, but no server group in the ALB's VPC (or no server "
                           "certificate) to name in a CreateListener dry run", "run it against an existing HTTPS "
                           "listener, or after the first provisioning run")
        how = f"CreateListener(DryRun) on {inp.load_balancer_id}:{inp.listener_port}"
        def target(ca: str) -> Any:
            return alb.create_listener(load_balancer_id=inp.load_balancer_id, port=inp.listener_port,
                                       server_certificate_id=cert_id, ca_certificate_id=ca,
                                       security_policy_id=inp.security_policy_id, server_group_id=groups[0].id,
                                       dry_run=True)
    else:
        return Finding("listener-dry-run", "skip", f"port {inp.listener_port} holds a {existing.protocol} listener "
                       "(the provisioning would refuse it)", "choose another listener_port")
    answers: dict[str, str] = {}
    for form, ca in ids.items():
        if not ca:
            answers[form] = "no such id (not listed)"
            continue
        try:
            target(ca)
            answers[form] = "DryRunOperation"
        except AlbMtlsError as err:
            if err.retryable:
                raise
            answers[form] = f"{err.cloud_code or err.code} (HTTP {err.status_code})"
    form = env.settings.alb_ca_id_form
    other = next(f for f in CA_ID_FORMS if f != form)
    detail = f"{how} with the sub-CA as {form} ({ids[form]}): {answers[form]}; as {other} ({ids[other]}): " \
             f"{answers[other]}"
    settles: dict[str, str] = {}
    ok, ok_other = answers[form] == "DryRunOperation", answers[other] == "DryRunOperation"
    same = ids[form] == ids[other]
    if ok:
        settles["cross:ALB CaCertificates id"] = (f"confirmed: ALB takes the {form}" + (" (the same id as the other "
                                                 "form)" if same else "") + ("; it takes the other form too"
                                                 if ok_other and not same else ""))
    elif ok_other:
        settles["cross:ALB CaCertificates id"] = f"contradicted: ALB takes the {other}, not the {form}"
    else:
        settles["cross:ALB CaCertificates id"] = "not seen: ALB refused the sub-CA in both forms"
    settles["alb:behaviour:CaCertificates id"] = settles["cross:ALB CaCertificates id"]
    refused = answers[other] if ok and not ok_other and not same else None
    settles["alb:code:ResourceNotFound.CaCertificate"] = (
        ("confirmed: ResourceNotFound.CaCertificate (HTTP 404)"
         if refused == "ResourceNotFound.CaCertificate (HTTP 404)"
         else f"contradicted: ALB refuses a CA id it does not take with {refused}") if refused
        else "not seen: no refused form to observe")
    f = Finding("listener-dry-run", "ok" if ok else "fail", detail, settles=settles, observed=answers)
    if not ok:
        f.fix = (f"set ALBMTLS_ALB_CA_ID_FORM={other} (and vars.albCaIdForm in s.yaml)" if ok_other
                 else "check ca_identifier: ALB refused it in both forms (a sub-CA of this account and region?)")
    elif any(v.startswith("contradicted") for k, v in settles.items() if k.startswith("alb:code")):
        f.result, f.fix = "warn", _fix_for("alb:code:ResourceNotFound.CaCertificate")
    return f


def _server_certificate_id(env: DoctorEnv) -> str | None:
    """The server certificate the listener would get: the input's, else the preflight's choice."""
    from shared.policy.ids import CertificateId
    sc = env.inp.server_certificate
    if getattr(sc, "certificate_id", None):
        return CertificateId.parse(sc.certificate_id).for_alb(env.settings.cas_site_region)
    from shared.entry.handler import fc_handler
    from shared.policy.contracts import StepEvent
    from shared.steps import preflight
    run = fc_handler(StepEvent, preflight.run, step="preflight", settings=env.settings)
    res = json.loads(run(json.dumps({"input": env.raw}).encode(), None))
    return ((res.get("plan") or {}).get("server_certificate") or {}).get("id")


# -- ALB, PCA, CAS, Alidns, KMS reads ------------------------------------------------------------------
def alb_read(env: DoctorEnv) -> Finding:
    from shared.adapters.alb import Alb
    if env.inp is None:
        return Finding("alb-read", "skip", "no provision input (-f): which ALB to read", "albmtls doctor -f INPUT.json")
    alb = env.adapter(Alb)
    lb = alb.get_load_balancer(env.inp.load_balancer_id)
    listeners = alb.list_listeners(lb.id)
    detail = (f"{lb.id}: edition {lb.edition}, status {lb.status}, {len(listeners)} listener(s) "
              f"(ports {', '.join(str(x.port) for x in listeners) or '-'})")
    if not lb.supports_mtls:
        return Finding("alb-read", "fail", detail, f"the {lb.edition} edition has no mutual TLS: use a Standard or "
                       "StandardWithWaf ALB (ALB_EDITION_UNSUPPORTED)")
    return Finding("alb-read", "ok", detail)


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
    return _finish("pca-codes", settles, f"unknown CA: {ca.shows()}; unknown client certificate: {cl.shows()}; "
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
    return _finish("cas-codes", settles, f"unknown CertId: {detail.shows()}; certificate repositories: "
                   f"{wh.shows() if not wh.ok else len(wh.value.body.cert_warehouse_list or [])}")


def alidns_codes(env: DoctorEnv) -> Finding:
    from shared.adapters.alidns import Alidns
    dns = env.adapter(Alidns)
    m = __import__("alibabacloud_alidns20150109.models", fromlist=["models"])
    name = f"albmtls-doctor-{uuid.uuid4().hex[:8]}.invalid"
    obs = observe(dns, "alidns:DescribeDomainInfo",
                  lambda c: c.describe_domain_info(m.DescribeDomainInfoRequest(domain_name=name)))
    return _finish("alidns-codes", {"alidns:code:InvalidDomainName.NoExist":
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
    return _finish("kms-access", settles, f"ListSecrets answered ({len(names)} on the first page); DescribeSecret of "
                   f"a name that does not exist: {missing.shows()}; GetKmsInstance of an instance that does not "
                   f"exist: {instance.shows()}")


# -- your own CA: its KMS instance, its keys, its upload ---------------------------------------------------
def _key_problems(keys: Any, ref: Any, cert_pem: str, role: str) -> list[str]:
    """What is wrong with one CA key (``DescribeKey`` + ``GetPublicKey``) against its certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    info = keys.describe_key(ref.key_id)
    if info is None:
        return [f"{role} key {ref.key_id} does not exist"]
    out = []
    if info.spec not in ("EC_P256", "RSA_2048") or info.spec != ref.spec:
        out.append(f"{role} key {ref.key_id} is {info.spec}, the CA records {ref.spec}")
    if info.usage != "SIGN/VERIFY":
        out.append(f"{role} key {ref.key_id} has KeyUsage {info.usage}, not SIGN/VERIFY")
    if info.state != "Enabled":
        out.append(f"{role} key {ref.key_id} is {info.state}: enable it (EnableKey, or CancelKeyDeletion)")
        return out                                     # KMS refuses GetPublicKey of a disabled key
    pub = keys.get_public_key(ref.key_id, ref.version_id).encode()
    cert_pub = x509.load_pem_x509_certificate(cert_pem.encode()).public_key()
    spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    if serialization.load_pem_public_key(pub).public_bytes(*spki) != cert_pub.public_bytes(*spki):
        out.append(f"{role} key {ref.key_id} version {ref.version_id} is not the key of its certificate")
    return out


def own_ca(env: DoctorEnv) -> Finding:
    """The KMS instance own CAs' keys are made in, and each own CA under the prefix: its keys (spec,
    SIGN/VERIFY, enabled, the certificate's public key) and its upload in the certificate repository."""
    from shared.adapters.cas import CasRepository
    from shared.adapters.kms import Kms
    from shared.adapters.kmskeys import KmsKeys
    from shared.adapters.ownca import list_ca_names, read_record
    keys, kms = env.adapter(KmsKeys), env.adapter(Kms)
    settles: dict[str, str] = {}
    inst_id = env.settings.kms_instance_id
    prefix = (env.inp.secret_prefix if env.inp is not None else None) or env.settings.secret_prefix or "albmtls"
    problems: list[str] = []
    lines: list[str] = []
    if not inst_id:
        lines.append("ALBMTLS_KMS_INSTANCE_ID is not set: own CAs cannot be created")
    else:
        inst = keys.get_kms_instance(inst_id)
        if inst is None:
            problems.append(f"the KMS instance {inst_id} (ALBMTLS_KMS_INSTANCE_ID) does not exist here")
        else:
            lines.append(f"KMS instance {inst_id}: {inst.status}, {inst.product_type or 'type ?'}, "
                         f"{inst.key_num if inst.key_num is not None else '?'} keys")
    names = list_ca_names(kms, prefix)
    protections: set[str] = set()
    for name in names:
        found = read_record(kms, prefix, name)
        if found is None or not found[0].complete:
            problems.append(f"own CA {name!r} is not complete: run albmtls ca create --name {name}")
            continue
        rec = found[0]
        for g in rec.generations:
            if g.retired_at:
                continue
            problems += _key_problems(keys, g.root_key, g.root_pem, f"{name} G{g.gen} root")
            problems += _key_problems(keys, g.issuing_key, g.issuing_pem, f"{name} G{g.gen} issuing")
            protections |= {p for p in (g.root_key.protection_level, g.issuing_key.protection_level) if p}
        trusted = rec.trusted
        up = env.adapter(CasRepository).describe_uploaded_ca(trusted.uploaded) \
            if trusted is not None and trusted.uploaded else None
        if up is None:
            problems.append(f"own CA {name!r}: the upload listeners trust "
                            f"({trusted.uploaded if trusted else None}) is not in the certificate repository")
        lines.append(f"own CA {name}: G{rec.issuing_gen} issues, listeners trust G{rec.trusted_gen}"
                     + (f" (upload {trusted.uploaded})" if trusted is not None else ""))
    if not names:
        lines.append(f"no own CA under secret prefix {prefix!r}")
    settles["kms:behaviour:ProtectionLevel"] = (
        f"confirmed: the CA keys report {', '.join(sorted(protections))}" if protections else
        "not seen: no own CA key to read")
    f = _finish("own-ca", settles, "; ".join(lines + problems),
                {"kms_instance_id": inst_id, "own_cas": names, "problems": problems})
    if problems:
        f.result = "fail"
        f.fix = "; ".join(problems) + " — set ALBMTLS_KMS_INSTANCE_ID to an existing instance, or re-create the CA"
    return f


# -- CloudFlow and the functions --------------------------------------------------------------------------
FLOWS = {"albmtls-provision": REPO / "workflows" / "provision.yaml",
         "albmtls-rotate": REPO / "workflows" / "rotate.yaml",
         "albmtls-revoke": REPO / "workflows" / "revoke.yaml"}


def cloudflow(env: DoctorEnv) -> Finding:
    from shared.adapters.fnf import Fnf
    from shared.steps.provisioning import execution_failure, history, step_failure
    fnf = env.adapter(Fnf)
    states, problems = [], []
    kept = "not seen: albmtls-rotate is not deployed"
    for name, path in FLOWS.items():
        cur = fnf.describe_flow(name)
        if cur is None:
            states.append(f"{name} not deployed")
            problems.append(f"deploy {name} (s deploy, or albmtls provision on this target)")
            continue
        current = (cur.definition or "") == path.read_text()
        states.append(f"{name} {'current' if current else 'differs from ' + path.name}")
        if name == "albmtls-rotate":
            text = cur.definition or ""
            kept = ("confirmed: the deployed definition keeps both MaxConcuccency and MaxConcurrency (which one the "
                    "engine applies is not visible)" if "MaxConcuccency" in text and "MaxConcurrency" in text
                    else "contradicted: the deployed definition lost a concurrency key")
    out_v, hist_v = "not seen: no failed execution to read", "not seen: no failed execution to read"
    failed = next((e for e in fnf.list_executions("albmtls-provision", status="Failed")), None) \
        if fnf.describe_flow("albmtls-provision") else None
    if failed is not None:
        body = fnf.describe_execution("albmtls-provision", failed.name)
        events = history(env.settings, "albmtls-provision", failed.name)
        ended = execution_failure(events, None)
        own = step_failure(events)
        out_v = (f"confirmed: Output {body.output[:80]!r}" if body and body.output and "Code" in body.output
                 else f"contradicted: a failed execution's Output is {(body.output if body else '')!r:.80}")
        hist_v = (f"confirmed: the history names the failure ({ended['code']}"
                  + (f"; step {own['step']} {own['code']}" if own else "") + ")"
                  if ended["code"] != "EXECUTION_FAILED" else
                  "contradicted: no ExecutionFailed event with an error the product can read")
    settles = {"cross:CloudFlow Map concurrency key": kept, "fnf:behaviour:Output of a failed execution": out_v,
               "fnf:behaviour:History events": hist_v}
    f = _finish("cloudflow", settles, "; ".join(states))
    if problems:
        f.result, f.fix = "warn", "; ".join(problems)
    return f


def functions(env: DoctorEnv) -> Finding:
    import yaml
    spec = yaml.safe_load((REPO / "s.yaml").read_text())
    fns = {str(r["props"]["functionName"]): str(r["props"].get("code", "")).rsplit("/", 1)[-1]
           for r in (spec.get("resources") or {}).values() if r.get("component") == "fc3"}
    if env.target == "local":
        import importlib

        from localruntime.fc import function_module
        missing = [n for n in fns
                   if not callable(getattr(importlib.import_module(function_module(n)), "handler", None))]
        return Finding("functions", "fail" if missing else "ok",
                       f"{len(fns) - len(missing)} of {len(fns)} functions of s.yaml have a handler in functions/",
                       f"add {', '.join(missing)}" if missing else "")
    try:
        from alibabacloud_fc20230330 import models as fm
        from alibabacloud_fc20230330.client import Client as FcClient
    except ImportError:
        return Finding("functions", "skip", "the FC 3.0 SDK is not installed", "pip install alibabacloud-fc20230330")
    from alibabacloud_tea_openapi.utils_models import Config

    from shared.adapters.clients import _default_credential
    s = env.settings
    cfg = Config(region_id=s.region, protocol=s.protocol, read_timeout=s.read_timeout_ms,
                 connect_timeout=s.connect_timeout_ms)
    if s.access_key_id and s.access_key_secret:
        cfg.access_key_id, cfg.access_key_secret, cfg.security_token = s.access_key_id, s.access_key_secret, \
            s.security_token
    else:
        cfg.credential = _default_credential()
    client, policy = FcClient(cfg), CallPolicy(Deadline(60))
    seen: list[str] = []
    problems: list[str] = []

    def get(name: str) -> Any:
        return client.get_function(name, fm.GetFunctionRequest())
    for name in fns:
        try:
            fn = policy(f"fc:GetFunction {name}", partial(get, name), product="fc").body
        except AlbMtlsError as err:
            if err.retryable:
                raise
            problems.append(f"{name}: {err.cloud_code or err.code}")
            continue
        envs = dict(fn.environment_variables or {})
        form = envs.get("ALBMTLS_ALB_CA_ID_FORM", "cert_identifier")
        if fn.runtime != "python3.12":
            problems.append(f"{name}: runtime {fn.runtime}")
        if form != s.alb_ca_id_form:
            problems.append(f"{name}: ALBMTLS_ALB_CA_ID_FORM={form}, here {s.alb_ca_id_form}")
        seen.append(name)
    return Finding("functions", "fail" if problems else "ok",
                   f"{len(seen)} of {len(fns)} functions deployed" + (f"; {'; '.join(problems)}" if problems else ""),
                   "deploy again (s deploy) with the ALBMTLS_ALB_CA_ID_FORM this doctor settled" if problems else "")


# -- revocation at the listener ----------------------------------------------------------------------------
def revocation(env: DoctorEnv) -> Finding:
    """``shared.steps.revocation_check.check_revocation_enforcement``: the assumption that a listener
    refuses a revoked PCA certificate takes a write to settle; this measures the exposure instead."""
    from shared.steps.revocation_check import check_revocation_enforcement
    from shared.steps.rotation import make_context
    out = check_revocation_enforcement(make_context(env.settings, "doctor", deadline_s=120))
    verdict = f"not seen: {out['how'].split(';', 1)[0]}; {out['detail']}"
    f = _finish("revocation", {"cross:Revocation at the listener": verdict}, out["detail"])
    if out["result"] == "at_risk":
        f.result, f.fix = "warn", out["fix"]
    return f


#: check name → function, in the order the doctor runs them (credentials first)
CHECKS: dict[str, Callable[[DoctorEnv], Finding]] = {
    "credentials": credentials, "ca-id-forms": ca_id_forms, "listener-dry-run": listener_dry_run,
    "alb-read": alb_read, "pca-quota": pca_quota, "pca-codes": pca_codes, "cas-codes": cas_codes,
    "alidns-codes": alidns_codes, "kms-access": kms_access, "cloudflow": cloudflow, "functions": functions,
    "revocation": revocation, "own-ca": own_ca,
}


def _late() -> None:
    """Checks kept in their own modules (they import this one)."""
    from .trail import actiontrail
    CHECKS["actiontrail"] = actiontrail


_late()
