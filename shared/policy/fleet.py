"""The fleet document: any number of listeners, their clients and holders, in one YAML or JSON file.

Shape (``schemas/fleet.schema.json`` is generated from these types by :func:`json_schema`; a test
keeps the file current)::

    # yaml-language-server: $schema=../schemas/fleet.schema.json
    x-demo-alb: &demo-alb                 # top-level keys starting with "x-" are ignored: a place
      load_balancer_id: alb-…             # for YAML anchors shared by listeners ("<<: *demo-alb")
    listeners:
      - <<: *demo-alb
        listener_port: 443
        clients: [{common_name: alice}]

Each item of ``listeners`` is exactly a provision input (``shared.policy.contracts.ProvisionInput``,
docs/CONTRACTS.md); a document without ``listeners`` — the single-listener input — is a fleet of
one. ``$schema`` is allowed at the top (JSON editors). Errors name the field by its path
(``listeners[1].clients[7].common_name``), with the rule and its limit.

Across listeners (:class:`FleetDocument` checks, before anything is read from the cloud): a listener
(ALB + port) appears once; listeners of one ALB that name the same server group define it the same
way (else each run would change it back); one host name (``rr.domain``) is the CNAME of one ALB and
has one TTL (else the record would flap); listeners naming one own CA (``ca.name`` under one
``secret_prefix``) define it the same way — key spec, name constraints, validity (else the CA an
apply creates would depend on which listener ran first, and the other would fail halfway).

Parsing YAML needs PyYAML (imported only for YAML); duplicate keys are refused (PyYAML would keep the
last one silently). Pure: no I/O.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Struct

from shared.core.errors import AlbMtlsError, Code, InvalidInputError
from shared.policy.contracts import ProvisionInput
from shared.policy.validation import decode, limit

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MAX_LISTENERS", "FleetDocument", "Fleet", "parse_fleet", "load_document", "json_schema", "SCHEMA_ID",
           "Media", "MAX_DEPTH", "nesting_depth"]

#: listeners in one document (the apply runs them a few at a time; a larger fleet is several files)
MAX_LISTENERS = 200
SCHEMA_ID = "https://github.com/alb-mtls/alb-mtls/schemas/fleet.schema.json"
Media = Literal["json", "yaml"]


class FleetDocument(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A fleet: ``listeners``, each a provision input (docs/CONTRACTS.md)."""

    listeners: Annotated[tuple[ProvisionInput, ...],
                         limit(f"1-{MAX_LISTENERS} listeners per document (split a larger fleet into several files)",
                               min_length=1, max_length=MAX_LISTENERS)]

    def __post_init__(self) -> None:
        _check_fleet(self.listeners)


def _server_group_key(inp: ProvisionInput) -> tuple[str, str, str]:
    return (inp.region or "", inp.load_balancer_id, inp.server_group.name)


def _check_fleet(listeners: tuple[ProvisionInput, ...]) -> None:
    """The cross-listener rules of the module doc; the first violation is raised."""
    keys: dict[tuple[str, str], int] = {}
    groups: dict[tuple[str, str, str], int] = {}
    hosts: dict[str, int] = {}
    cas: dict[tuple[str, str], int] = {}
    for i, inp in enumerate(listeners):
        own = inp.own_ca
        if own is not None:
            ck = (inp.secret_prefix, own.name)
            if ck in cas:
                _same_own_ca(listeners, cas[ck], i)
            cas.setdefault(ck, i)
        key = (inp.region or "", inp.listener_key)
        if key in keys:
            raise InvalidInputError(f"listeners[{i}].listener_port", f"listener {inp.listener_key} is also "
                                    f"listeners[{keys[key]}]; each ALB port appears once in a fleet")
        keys[key] = i
        gk = _server_group_key(inp)
        if gk in groups and listeners[groups[gk]].server_group != inp.server_group:
            raise InvalidInputError(f"listeners[{i}].server_group", f"server group {inp.server_group.name!r} of ALB "
                                    f"{inp.load_balancer_id} is also defined by listeners[{groups[gk]}] with other "
                                    "servers or health check; define it the same way in both or give it another name")
        groups.setdefault(gk, i)
        if inp.fqdn in hosts:
            other = listeners[hosts[inp.fqdn]]
            if other.load_balancer_id != inp.load_balancer_id or (other.region or "") != (inp.region or ""):
                raise InvalidInputError(f"listeners[{i}].rr", f"{inp.fqdn} is the CNAME of ALB "
                                        f"{other.load_balancer_id} in listeners[{hosts[inp.fqdn]}]; one host name "
                                        "points at one ALB: choose another `rr`")
            if other.ttl != inp.ttl:
                raise InvalidInputError(f"listeners[{i}].ttl", f"{inp.fqdn} has ttl {other.ttl} in "
                                        f"listeners[{hosts[inp.fqdn]}]; one record has one TTL: use the same `ttl`")
        else:
            hosts[inp.fqdn] = i


def _same_own_ca(listeners: tuple[ProvisionInput, ...], first: int, i: int) -> None:
    """Listeners ``first`` and ``i`` name one own CA: they define it the same way (key spec, name
    constraints as a set, validity) — else the CA a parallel apply creates depends on which listener
    runs first and the other fails halfway."""
    from shared.policy.ownca import definition_conflict

    a, b = listeners[first].own_ca, listeners[i].own_ca
    assert a is not None and b is not None
    problem = definition_conflict(a.name, a.key_spec, a.permitted_dns, b.key_spec, b.permitted_dns,
                                  at=f"listeners[{i}].ca.", have=f"is defined in listeners[{first}] with",
                                  fix="define it the same way on every listener, or give one another name")
    if problem is None and set(a.permitted_dns) != set(b.permitted_dns):   # none on one of them is a difference too
        problem = InvalidInputError(f"listeners[{i}].ca.permitted_dns", f"own CA {a.name!r} is defined in "
                                    f"listeners[{first}] with name constraints {sorted(a.permitted_dns) or 'none'}, "
                                    f"not {sorted(b.permitted_dns) or 'none'}: define it the same way on every "
                                    "listener, or give one another name")
    for fld in ("root_days", "issuing_days"):
        if problem is None and getattr(a, fld) != getattr(b, fld):
            problem = InvalidInputError(f"listeners[{i}].ca.{fld}", f"own CA {a.name!r} is defined in "
                                        f"listeners[{first}] with {fld} {getattr(a, fld)}, not {getattr(b, fld)}: "
                                        "define it the same way on every listener, or give one another name")
    if problem is not None:
        raise problem


@dataclass(frozen=True, slots=True)
class Fleet:
    """A validated fleet: ``listeners`` (provision inputs), ``raw`` (each listener's input as JSON
    builtins, what its execution receives) and ``single`` (the document was one provision input)."""

    listeners: tuple[ProvisionInput, ...]
    raw: tuple[dict[str, Any], ...]
    single: bool

    def __iter__(self) -> Iterator[tuple[ProvisionInput, dict[str, Any]]]:
        return iter(zip(self.listeners, self.raw, strict=True))

    def __len__(self) -> int:
        return len(self.listeners)

    def path(self, index: int) -> str:
        """The path of listener ``index`` in the document (``listeners[1]``; empty for a single input)."""
        return "" if self.single else f"listeners[{index}]"


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without ``$schema`` and the ``x-…`` keys (YAML anchors)."""
    return {k: v for k, v in doc.items() if k != "$schema" and not (isinstance(k, str) and k.startswith("x-"))}


def parse_fleet(doc: Any) -> Fleet:
    """Validate a parsed document (builtins): a fleet (``listeners``) or one provision input.

    Raises ``AlbMtlsError`` (``INVALID_INPUT``, or a listener's own code such as
    ``APEX_CNAME_REFUSED``) whose ``field`` is the path, e.g. ``listeners[1].clients[7].common_name``."""
    if not isinstance(doc, dict):
        raise AlbMtlsError(Code.INVALID_INPUT, "the document must be a mapping with `listeners` (a fleet) or one "
                           "provision input", field="document")
    doc = _strip(doc)
    if "listeners" in doc:
        fleet = decode(FleetDocument, doc)
        raw = tuple(json.loads(msgspec.json.encode(inp)) for inp in fleet.listeners)
        return Fleet(fleet.listeners, raw, single=False)
    inp = decode(ProvisionInput, doc)
    return Fleet((inp,), (json.loads(msgspec.json.encode(inp)),), single=True)


# ---------------------------------------------------------------------------------------------
# reading the text
# ---------------------------------------------------------------------------------------------
def _yaml_loader() -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def mapping(loader: Any, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:              # the mapping's own keys ("<<" merges may be overridden)
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one mapping",
                                                        key_node.start_mark)
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    # YAML 1.2's booleans only (true/false): YAML 1.1 also reads yes/no/on/off/y/n as booleans, so a
    # region, CN or rr `NO` (Norway) or `on` would silently become false/true
    Loader.yaml_implicit_resolvers = {k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
                                      for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    import re
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


#: how deep a document may nest (a provision input is five levels deep; a fleet six)
MAX_DEPTH = 32


def _no_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different (``json`` keeps the last of a key given twice)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Twice(key)
        out[key] = value
    return out


class _Twice(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def nesting_depth(text: str) -> int:
    """How deep brackets nest outside strings (checked before parsing: no parser recursion limit hit)."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def load_document(text: str | bytes, media: Media) -> Any:
    """Parse the document text: JSON, or YAML (a superset of JSON; YAML 1.2's ``true``/``false`` are
    its only booleans). Raises ``AlbMtlsError`` (``INVALID_INPUT``, field ``document``) naming the
    line and what is wrong, in the document's terms: a key given twice is named, a UTF-8 byte order
    mark (as Windows editors write) is skipped, and nesting, numbers and encodings are said as what
    to write."""
    if isinstance(text, bytes):
        if text.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise AlbMtlsError(Code.INVALID_INPUT, "the document is UTF-16 text; save it as UTF-8", field="document")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AlbMtlsError(Code.INVALID_INPUT, f"the document is not UTF-8 text (byte {exc.start + 1} is not); "
                               "save it as UTF-8", field="document") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise AlbMtlsError(Code.INVALID_INPUT, "the document is empty", field="document")
    if (deep := nesting_depth(text)) > MAX_DEPTH:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the document is nested too deeply ({deep} levels of [ or {{; "
                           f"an input is at most a few levels deep, {MAX_DEPTH} are allowed)", field="document")
    if media == "json":
        try:
            return json.loads(text, object_pairs_hook=_no_twice)
        except _Twice as exc:
            raise AlbMtlsError(Code.INVALID_INPUT, f"the key {exc.key!r} is given twice in one object; keep one "
                               "(JSON parsers would keep the last silently)", field="document") from None
        except json.JSONDecodeError as exc:
            raise AlbMtlsError(Code.INVALID_INPUT, f"the document is not valid JSON: line {exc.lineno}, column "
                               f"{exc.colno}: {exc.msg}", field="document") from None
        except ValueError:     # a number of more than 4300 digits
            raise AlbMtlsError(Code.INVALID_INPUT, "the document holds a number too long to be a value (more than "
                               "4300 digits); write each number as its field says (e.g. \"ttl\": 600)",
                               field="document") from None
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise AlbMtlsError(Code.INVALID_INPUT, f"the document is not valid YAML: {where}{exc.problem or exc}",
                           field="document") from None
    except yaml.YAMLError as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the document is not valid YAML: {exc}", field="document") from None
    except RecursionError:
        raise AlbMtlsError(Code.INVALID_INPUT, "the document is nested too deeply (an input is at most a few levels "
                           "deep)", field="document") from None
    except ValueError:               # an integer of more than 4300 digits
        raise AlbMtlsError(Code.INVALID_INPUT, "the document holds a number too long to be a value (more than 4300 "
                           "digits); write each number as its field says (e.g. ttl: 600)", field="document") from None


# ---------------------------------------------------------------------------------------------
# the published JSON Schema
# ---------------------------------------------------------------------------------------------
#: what each field means, for editors (the schema's ``description``); a test checks every field of
#: every type the document uses has one, so a new field cannot go undocumented.
FIELD_HELP: dict[str, dict[str, str]] = {
    "FleetDocument": {
        "listeners": "The listeners of the fleet; each is one provision input (README, input reference).",
    },
    "ProvisionInput": {
        "region": "The ALB's region (default: the deployment's region, e.g. cn-hangzhou).",
        "load_balancer_id": "The ALB instance (edition Standard or StandardWithWaf; Basic has no mTLS).",
        "listener_port": "The HTTPS listener's port: free → created; HTTPS → its mTLS fields updated.",
        "domain": "The DNS zone in Alibaba Cloud DNS (Alidns).",
        "rr": "Host record of the CNAME: 'app' → app.<domain>; '@' (apex) only with allow_apex.",
        "ttl": "CNAME TTL in seconds; at least the zone edition's minimum (free edition: 600).",
        "allow_apex": "Allow a CNAME at the zone apex ('@').",
        "replace_owned_records": "Repoint a CNAME this automation created earlier (marked in its remark).",
        "ca_identifier": "The PCA sub-CA Identifier: issues the client certificates and is the listener's CA "
                         "(or give `ca`).",
        "ca": "The CA: {kind: own, name} (your own CA, its keys in KMS; created when missing) or {kind: pca, "
              "identifier} (a CAS private CA's sub-CA). Exactly one of `ca` and `ca_identifier`.",
        "server_certificate": "{certificate_id} of a CAS certificate, {cert_pem, key_secret_name} to upload, "
                              "or {} to find a valid one covering <rr>.<domain>.",
        "security_policy_id": "The listener's TLS security policy.",
        "server_group": "The server group the listener forwards to, and its backends.",
        "clients": "The client certificates issued for this listener (one per holder).",
        "client_cert_headers": "Pass X-Forwarded-Clientcert-subjectdn/-issuerdn/-fingerprint/-clientverify "
                               "to the backends.",
        "probe_requests": "Requests of the health check's live probe.",
        "secret_prefix": "KMS secret names: <prefix>/<alb id>-<port>/<common name>/{pfx,password,meta}.",
        "auto_repair": "The daily drift check re-applies this listener when the cloud drifted from it.",
        "prune": "Revoke the clients provisioned on this listener that are no longer in `clients` (else they are "
                 "reported as orphaned and never renewed).",
    },
    "PcaCaSpec": {
        "kind": "pca: a CAS private CA.",
        "identifier": "The PCA sub-CA, by its Identifier or its CertIdentifier.",
    },
    "OwnCaSpec": {
        "kind": "own: your own CA, its keys in KMS.",
        "name": "The own CA's name (albmtls ca create --name): 2-32 lowercase letters, digits, inner hyphens.",
        "key_spec": "KMS key spec of a CA created by this run: EC_P256 (default) or RSA_2048.",
        "root_days": "Validity of a created root, days (default 3650).",
        "issuing_days": "Validity of a created issuing sub-CA, days (default 730; shorter than the root).",
        "permitted_dns": "Name constraints of a created CA's sub-CA: the DNS names (and those below them) it may "
                         "issue for; clients outside are refused (default: none).",
    },
    "ServerCertificateSpec": {
        "certificate_id": "A CAS certificate id: '123' or '123-cn-hangzhou'.",
        "cert_pem": "The server certificate chain (PEM, leaf first) to upload to CAS.",
        "key_secret_name": "The KMS secret holding the server certificate's private key (never inline).",
    },
    "ServerGroupSpec": {
        "name": "Server group name (found by name in the ALB's VPC, created when missing).",
        "protocol": "Backend protocol.",
        "servers": "The backends (ECS instances, ENIs, ECIs) and their ports and weights.",
        "health_check": "The server group's health check.",
    },
    "ServerSpec": {
        "server_id": "Backend id, e.g. i-bp1… (ECS).",
        "port": "Backend port.",
        "weight": "Backend weight 0-100.",
    },
    "HealthCheckSpec": {
        "path": "Health check path.",
        "method": "Health check HTTP method.",
        "interval": "Seconds between checks.",
        "timeout": "Seconds before a check fails.",
        "healthy_threshold": "Successes before a backend is healthy.",
        "unhealthy_threshold": "Failures before a backend is unhealthy.",
        "codes": "HTTP status classes that count as healthy.",
    },
    "ClientSpec": {
        "common_name": "The certificate's CN: 1-64 letters, digits and . _ @ + - (X.509 limit 64; part of "
                       "the KMS secret names, at most 192 characters in all).",
        "sans": "Subject alternative names (DNS names, emails, IP addresses, URIs).",
        "days": "Validity in days (never past the sub-CA's end).",
        "profile": "PKCS#12 profile: compat (Windows, macOS keychain) or modern (AES-256, OpenSSL 3).",
        "force_new": "Issue a new certificate even if the stored one is valid.",
        "renew_before_days": "Renew this many days before the end (default: at 2/3 of the lifetime).",
        "holder": "Who receives the certificate: a person (one-time download link by email) or a system "
                  "(reads its secrets; its webhook is told). Omit it: the operator delivers the PFX.",
    },
    "PersonHolder": {
        "kind": "person: someone who installs the certificate by hand (gets a download link).",
        "name": "The person's name, as shown in the messages.",
        "email": "Where the one-time download link goes (the only place it goes).",
        "dingtalk": "The person's DingTalk mobile number or user id, @-mentioned in the robot's notice.",
    },
    "SystemHolder": {
        "kind": "system: an application that reads its secrets from KMS itself.",
        "name": "The system's name, as shown in the messages.",
        "ram_principal": "The RAM user or role that reads the pfx and password secrets "
                         "(albmtls holder-policy --cn prints its policy).",
        "webhook": "A configured channel told of every renewal (default: the channels for systems).",
    },
}


def _describe(components: dict[str, Any]) -> None:
    for name, comp in components.items():
        helps = FIELD_HELP.get(name, {})
        for field_name, prop in (comp.get("properties") or {}).items():
            if field_name in helps:
                prop["description"] = helps[field_name]


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a fleet document or a single provision input, generated from the
    types (``msgspec.json.schema_components``) plus the field help above; what
    ``schemas/fleet.schema.json`` holds. Cross-field and cross-listener rules are checked by the
    types' own ``__post_init__`` (the schema cannot say them)."""
    _, generated = msgspec.json.schema_components([FleetDocument, ProvisionInput], ref_template="#/$defs/{name}")
    components: dict[str, Any] = json.loads(json.dumps(generated))     # ours to change (msgspec may share them)
    _describe(components)
    for name in ("FleetDocument", "ProvisionInput"):
        props = components[name].setdefault("properties", {})
        props["$schema"] = {"type": "string", "description": "The JSON Schema of this document (for editors)."}
    components["FleetDocument"]["patternProperties"] = {
        "^x-": {"description": "Ignored: a place for YAML anchors that listeners share (<<: *name)."}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "alb-mtls fleet",
        "description": "Listeners with mutual TLS on Alibaba Cloud ALB, their client certificates and holders: "
                       "a fleet (listeners) or one provision input. Generated from shared/policy/fleet.py "
                       "(python -m shared.policy.fleet > schemas/fleet.schema.json).",
        "anyOf": [{"$ref": "#/$defs/FleetDocument"}, {"$ref": "#/$defs/ProvisionInput"}],
        "$defs": components,
    }


if __name__ == "__main__":  # pragma: no cover - regenerate the published schema
    import sys

    sys.stdout.write(json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n")
