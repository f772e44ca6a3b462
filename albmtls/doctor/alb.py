"""The ALB checks of ``albmtls doctor``: the listener reads, which CA id form ALB takes (both PCA
lists, the existing listeners) and a ``DryRun`` listener write in each form."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shared.core.errors import AlbMtlsError
from shared.core.settings import CA_ID_FORMS

from .base import DoctorEnv, Finding, finish, fix_for, observe


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
    finding = finish("ca-id-forms", settles, detail, {"listeners": uses, "same_ids": same})
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
        f.result, f.fix = "warn", fix_for("alb:code:ResourceNotFound.CaCertificate")
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
    run = fc_handler(StepEvent, preflight.check, step="preflight", settings=env.settings)
    res = json.loads(run(json.dumps({"input": env.raw}).encode(), None))
    return ((res.get("plan") or {}).get("server_certificate") or {}).get("id")


# -- the ALB read ----------------------------------------------------------------------------------------
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
