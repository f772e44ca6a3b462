"""The local cloud's coverage file: per product, the actions implemented versus the official SDK
client's methods, and every assumption a real account has not confirmed — the error codes whose
class says what is ``assumed`` (``products/<p>/exceptions.py``), the behaviour in
``products/<p>/models.py::ASSUMPTIONS``, plus the cross-product ones below.

``python -m localcloud.coverage`` rewrites ``localcloud/COVERAGE.md``; a test keeps it current.
"""
from __future__ import annotations

import importlib
import inspect
import re
import sys
from pathlib import Path

from . import errors
from .products import BY_KEY, PRODUCTS
from .registry import ACTIONS, Product

# Assumptions that span products, each kept in one place in the code (named here).
CROSS_PRODUCT_ASSUMPTIONS = {
    "ALB CaCertificates id": "An ALB `CaCertificates.N.CertificateId` takes a private CA by one of its two "
                             "identifiers, unchanged: by default its UUID `CertIdentifier` (ListPcaCaCertificate), "
                             "the only shape real-account evidence shows (the Terraform alicloud ALB listener "
                             "acceptance test, commit f940fba8, PR #8127, docs/ALIBABA-APIS.md §1.15); "
                             "`ALBMTLS_ALB_CA_ID_FORM=identifier` for the 32-hex `Identifier` "
                             "(DescribeCACertificateList). An uploaded CA (CAS `UploadPCACert`) by the `Identifier` "
                             "the upload returned (unconfirmed). The product reads the setting in "
                             "`shared/core/settings.py` and resolves the CA in "
                             "`shared/adapters/pca.py::Pca.resolve_ca` "
                             "(joining the two lists by common name, unconfirmed); the local cloud takes the form its "
                             "`alb_ca_id_form` setting names (`albmtls up --alb-ca-id-form`; "
                             "`localcloud/products/alb/models.py::ca_certificate_exists`).",
    "CloudFlow Fail in a branch": "A Fail inside a Parallel branch or Map item ends the whole execution, and a Catch "
                                  "on the enclosing state does not see it (the FDL's Fail page: \"all states in the "
                                  "current scope stop running and the flow ends\"; whether such a Catch could catch "
                                  "it is unconfirmed, and the workflows do not rely on it). Code: "
                                  "`localcloud/flow/runner.py` (Fail is fatal).",
    "CloudFlow Map concurrency key": "The FDL's field table spells it `MaxConcuccency` (inline-mode page, Mar 2026); "
                                     "which spelling the engine parses is unconfirmed. No workflow uses a Map now (the "
                                     "rotation runs in the issuing lane, workflows/issue.yaml); a Map should give both "
                                     "keys with one value, and the runner honours either "
                                     "(`localcloud/flow/definition.py::map_concurrency`).",
    "Alidns apex CNAME": "No API tells whether a zone flattens a CNAME at `@` (the FAQ's `ALIAS` type has no "
                         "documented `AddDomainRecord` value), so the product never places one beside other apex "
                         "records (docs/ALIBABA-APIS.md §3.3). Code: `shared/policy/dns.py::apex_allowed`.",
    "Alidns negative caching": "When no name server answers the zone's SOA, its negative-caching time is taken "
                               "as 600 s (the MINIMUM observed on Alibaba-hosted zones, docs/ALIBABA-APIS.md §3.5); "
                               "the local DNS server answers SOA TTL 600, MINIMUM 600. Code: "
                               "`shared/policy/dns.py::DEFAULT_NEGATIVE_TTL`, `localruntime/dnsserver.py::SOA_TIMES`.",
    "Date header": "Cloud endpoints send a `Date` header on success (RFC 9110 §6.6.1; not observed on a real "
                   "account); the product measures its clock skew from it (docs/ALIBABA-APIS.md §4.5.1). The local "
                   "control plane sends its own clock's time. Code: "
                   "`shared/steps/context.py::StepContext._measure_skew`, "
                   "`localcloud/server.py::_Handler.date_time_string`.",
    "ALB internal busy codes": "ALB's `-21020` (CreateListener), `-22001` (Start/Stop/UpdateListenerAttribute) and "
                              "`-22031` (DeleteListener) travel inside the error body under a `Code` no public "
                              "source names; the product retries when the body holds the code for that action, as "
                              "the Terraform alicloud provider does (`shared/core/errors.py::ALB_BODY_BUSY_MARKERS`). "
                              "The fault suite injects them as `OperationFailed` (HTTP 400), a stand-in "
                              "(`reliability/faults.py::ALB_BUSY`).",
    "Revocation at the listener": "A listener refuses (TLS handshake) a client certificate its PCA sub-CA revoked "
                                  "within 60 s (the PCA CreateRevokeClientCertificate page says a revoked "
                                  "certificate cannot establish HTTPS connections; ALB documents no CRL/OCSP check "
                                  "and no delay). Code: `shared/policy/offboarding.py::LISTENER_REFUSAL_BOUND`, "
                                  "`localruntime/dataplane.py` (refuses within `revocation_refresh_s`, 2 s); "
                                  "doctor check: `shared/steps/revocation_check.py::check_revocation_enforcement` "
                                  "(measures the exposure; settling it needs a write).",
    "SANs from the CSR": "CreateClientCertificateWithCsr without SanType copies the CSR's subjectAltNames, URI ones "
                         "included (every certificate carries the URI albmtls://<alb id>/<port>/<cn> beside the "
                         "client's SANs; SanType takes one kind). Code: `shared/policy/issuance.py::san_request` "
                         "(the issued certificate is checked: CERT_CHECK_FAILED otherwise), "
                         "`localcloud/products/pca/models.py::sans_from_request`.",
    "System holder reads": "A system holder's first read of its new secrets is seen in ActionTrail: every KMS call "
                           "but DescribeRegions is an event with the caller's identity (documented), so the daily "
                           "scan makes one LookupEvents query (EventName GetSecretValue, from the oldest pending "
                           "renewal, at most 20 pages of 50) and counts a read of the holder's pfx or password "
                           "secret, new version, by its ram_principal (a RAM user by name, a role in any session), "
                           "or by anyone but the automation when the holder names none. Not seen: reads through a "
                           "KMS instance endpoint (recorded in Simple Log Service only, documented) and reads not "
                           "yet queryable (how soon LookupEvents returns an event is unconfirmed; the local cloud "
                           "waits `actiontrail_delay_s`, 60 s). The local cloud makes keys for principals "
                           "(`POST /_admin/ram/access-keys`, `localcloud/ram.py`) and does not evaluate RAM "
                           "policies. The fingerprint the listener passes in `X-Forwarded-Clientcert-fingerprint` "
                           "is seen by the backends only (the local data plane keeps it for `albmtls status`: "
                           "`localruntime/dataplane.py::SEEN_KIND`). Code: `shared/policy/reads.py::first_reads`, "
                           "`shared/steps/reads.py`, `localcloud/products/actiontrail/models.py` (docs/DELIVERY.md "
                           "\"Adoption and retirement\").",
    "Chat robot answers": "DingTalk, WeCom and Lark answer HTTP 200 with an error code in the body: DingTalk "
                          "`errcode` 310000 for a bad signature or a timestamp over an hour old, WeCom 93000 for a bad "
                          "key, Lark `code` 19021 for a bad signature (their robot pages; docs/DELIVERY.md); the rate "
                          "limit codes retried are DingTalk 130101 and 90030, WeCom 45009, Lark 11232 (the same "
                          "pages; which codes a throttled robot really answers is unconfirmed). Code: "
                          "`shared/policy/notify.py::classify_http`, the local receiver "
                          "`localruntime/notifysinks.py`.",
}


def _camel(name: str) -> str:
    return "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def sdk_actions(product: str) -> list[str]:
    """The API actions of a product's SDK client (from its sync ``*_with_options`` methods)."""
    mod = importlib.import_module(BY_KEY[product].sdk_client)
    names = set()
    for name, _ in inspect.getmembers(mod.Client, inspect.isfunction):
        if name.endswith("_with_options") and not name.endswith("_async"):
            names.add(name[: -len("_with_options")])
    return sorted(names)


def _wire_name(method: str, implemented: set[str]) -> str | None:
    flat = method.replace("_", "").lower()
    for action in implemented:
        if action.lower() == flat:
            return action
    return None


def assumed_codes(product: Product) -> list[type[errors.ApiError]]:
    """The product's error classes that say what is assumed about them."""
    exc = importlib.import_module(f"{product.package.__name__}.exceptions")
    found = [c for _, c in inspect.getmembers(exc, inspect.isclass)
             if issubclass(c, errors.ApiError) and c.__module__ == exc.__name__ and c.assumed]
    return sorted(found, key=lambda c: c.code)


def render() -> str:
    out = ["# Local cloud coverage", "",
           "Generated by `python -m localcloud.coverage` (a test checks it is current). Per product: the",
           "actions the emulator implements versus the official SDK client's actions, then every assumption",
           "a real account has not confirmed. Each lives in one place in the code: an error code's in its",
           "class in the product's `exceptions.py` (`assumed`, with the HTTP status answered), behaviour in",
           "its `models.py` (`ASSUMPTIONS`), the cross-product ones where named.", ""]
    for product in PRODUCTS:
        key = product.key
        implemented = sorted(a.name for a in ACTIONS.values() if a.product == key)
        sdk = sdk_actions(key)
        covered = {_wire_name(m, set(implemented)) for m in sdk} - {None}
        out += [f"## {product.title} (`{key}`)", "",
                f"Implemented {len(implemented)} of the SDK's {len(sdk)} actions:", ""]
        out += [f"- `{a}`" + ("" if a in covered else " (not in this SDK version)") for a in implemented]
        missing = [m for m in sdk if _wire_name(m, set(implemented)) is None]
        out += ["", f"<details><summary>{len(missing)} SDK actions not emulated</summary>", "",
                ", ".join(f"`{_camel(m)}`" for m in missing), "", "</details>", ""]
        codes = assumed_codes(product)
        if codes:
            out += ["Error codes assumed:", ""]
            out += [f"- **{c.code}** (HTTP {c.status}): {_one_line(c.assumed)}" for c in codes]
            out.append("")
        models = importlib.import_module(f"{product.package.__name__}.models")
        assumptions = getattr(models, "ASSUMPTIONS", {})
        if assumptions:
            out += ["Behaviour assumed:", ""]
            out += [f"- **{k}**: {_one_line(v)}" for k, v in assumptions.items()]
            out.append("")
    out += ["## Throttling", "",
            "How each product answers a call over its quota (a QPS cap, a per-action quota or an injected "
            "`throttle` fault; `localcloud/products/__init__.py`, `Product.throttle` and `Product.quotas`).", "",
            "| product | code | HTTP | `x-acs-retry-after` | quota enforced | status |",
            "|---|---|---|---|---|---|"]
    for product in PRODUCTS:
        t = product.throttle
        quota = ", ".join([f"{product.qps:g}/s" for _ in [0] if product.qps]
                          + [f"{q.action} {q.count}/{q.window_s:g} s" for q in product.quotas]) or "none"
        status = f"documented: {t.source}" if t.source else "assumed (the POP gateway's generic code; unconfirmed)"
        qsrc = "; ".join(sorted({q.source for q in product.quotas if q.source} | ({product.qps_source} - {""})))
        if qsrc:
            status += f"; quota documented: {qsrc}"
        out.append(f"| `{product.key}` | `{t.code}` | {t.status} | {'yes' if t.retry_after else 'no'} | {quota} | "
                   f"{status} |")
    out.append("")
    from .flow.errors import TASK_ERROR_NAMES
    out += ["## CloudFlow Task error names", "",
            "The names a failing `FC:InvokeFunction` Task gets (`localcloud/flow/errors.py`); the workflows "
            "retry and catch with `FnF.ALL` and never branch on them.", "",
            "| name | when | status | source |", "|---|---|---|---|"]
    out += [f"| `{e.name}` | {e.when} | {e.status} | {e.source} |" for e in TASK_ERROR_NAMES]
    out.append("")
    out += ["## Across products", ""]
    out += [f"- **{k}**: {v}" for k, v in CROSS_PRODUCT_ASSUMPTIONS.items()]
    out += ["", "## Every assumption: status, source, and the check that settles it", "",
            "`albmtls doctor [--target cloud] [-f INPUT.json] [--json]` runs each check against the target and "
            "reports every assumption below (`localcloud/assumptions.py`; a test keeps this table, the catalogue "
            "and the doctor's checks the same). Status: `documented` (a public page or SDK model says so), "
            "`partly` (the shape is documented, the detail is not), `sample`/`pattern` (a public sample or "
            "naming rule), `unconfirmed` (no public source).", "",
            "| assumption | status | public source | doctor check |", "|---|---|---|---|"]
    from .assumptions import DOCTOR_CHECKS, catalogue
    for a in catalogue():
        check = f"`{a.check}`: {DOCTOR_CHECKS[a.check]}" if a.check else f"none: {a.why_not}"
        out.append(f"| `{a.key}` | {a.status} | {_one_line(a.source)} | {check} |")
    return "\n".join(out) + "\n"


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


PATH = Path(__file__).with_name("COVERAGE.md")


def main() -> int:
    PATH.write_text(render())
    sys.stdout.write(f"wrote {PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
