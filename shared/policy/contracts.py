"""Typed step contracts (docs/CONTRACTS.md): the provision input, step inputs and step results.

Inputs are frozen msgspec Structs with ``forbid_unknown_fields=True`` and ``kw_only=True``; field
constraints use ``msgspec.Meta`` (checked while decoding) and cross-field/syntax rules live in
``__post_init__`` (checked while decoding *and* on direct construction), raising
:class:`~shared.core.errors.InvalidInputError` naming the field. Decode with
``shared.policy.validation.decode(ProvisionInput, data)``, which turns every failure into an
``AlbMtlsError`` (``INVALID_INPUT``, ``APEX_CNAME_REFUSED``, ``RENEW_BEFORE_TOO_LONG``) whose
``field`` is the dotted path (``clients[0].common_name``).

A step function's event is :class:`StepEvent` (``{"input": ProvisionInput, "execution_name",
"attempt"}``, what ``workflows/provision.yaml`` sends).

Step results extend :class:`StepResult` (``status`` + optional ``error``)::

    class IssueOutput(StepResult, frozen=True, kw_only=True):
        certificates: list[ClientCertificateResult] = []

Results never carry key material: only secret *names*, fingerprints and ids.

Over 600 lines (608): the input's types and their cross-field rules are one schema (the JSON Schema
in schemas/ is generated from it) and read together; the holders and the CA specs are the parts to
move out next (a follow-up, not done this round).

One module (~540 lines): every input and result type a function or flow exchanges, in one place.
"""
from __future__ import annotations

import re
from typing import Annotated, Literal

from msgspec import Meta, Struct, field
from msgspec.structs import force_setattr

from shared.core.errors import Code, InvalidInputError
from shared.policy.ids import CertificateId, SecretNames, listener_key, secret_names
from shared.policy.nameconstraints import MAX_PERMITTED, PermittedDns, normalize_permitted
from shared.policy.ownca import DEFAULT_ISSUING_DAYS, DEFAULT_ROOT_DAYS, CaName
from shared.policy.pki import check_common_name, san_kind
from shared.policy.validation import pattern

__all__ = [
    "ProvisionInput", "StepEvent", "ClientSpec", "ServerGroupSpec", "ServerSpec", "HealthCheckSpec",
    "ServerCertificateSpec", "PcaCaSpec", "OwnCaSpec", "CaSpec", "StepResult", "StepError", "Status",
    "ClientCertificateResult", "ListenerResult",
    "DnsResult", "PropagationResult", "CnameEvent", "HealthResult", "BackendHealth", "ProbeResult",
    "ProbeWithCertificate", "ProbeRefusal",
    "SECRET_NAME_MAX", "PersonHolder", "SystemHolder", "Holder",
]

# ---------------------------------------------------------------------------------------------
# constrained scalar types
# ---------------------------------------------------------------------------------------------
Port = Annotated[int, Meta(ge=1, le=65535, description="TCP port 1-65535")]
Ttl = Annotated[int, Meta(ge=1, le=86400, description="TTL in seconds")]
Days = Annotated[int, Meta(ge=1, le=3650, description="validity in days")]
# Every pattern comes with what it allows in words (``shared.policy.validation.pattern``): the error
# message says those words, never the regex.
Region = Annotated[str, pattern(r"^[a-z]{2,}(-[a-z0-9]+)+$", "a region id such as cn-hangzhou (lowercase ASCII "
                                "letters and digits in hyphen-separated parts)", max_length=64)]
LoadBalancerId = Annotated[str, pattern(r"^alb-[a-z0-9]{1,64}$", "an ALB instance id: 'alb-' then 1-64 lowercase "
                                        "ASCII letters or digits", description="ALB instance id")]
#: X.509 ``ub-common-name`` (RFC 5280): 64 characters (ASCII here, so 64 bytes: cryptography's limit)
CN_MAX = 64
CommonName = Annotated[str, pattern(r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$",
                                    "made of ASCII letters, digits and . _ @ + - only, starting with a letter or "
                                    "digit (no spaces, no accented or non-Latin letters: the name is part of the KMS "
                                    "secret names)", min_length=1, max_length=CN_MAX,
                                    description="client CN: 1-64 letters, digits and . _ @ + - (used in KMS "
                                                "secret names; X.509 allows 64)",
                                    extra={"limit_words": f"1-{CN_MAX} characters long: the X.509 limit for a "
                                                          "common name (RFC 5280 ub-common-name)"})]
SECRET_PREFIX_PATTERN, SECRET_PREFIX_RULE = r"^[A-Za-z0-9_+=.@-]{1,64}$", "1-64 ASCII letters, digits or _ + = . @ -"
SecretPrefix = Annotated[str, pattern(SECRET_PREFIX_PATTERN, SECRET_PREFIX_RULE)]
PolicyId = Annotated[str, pattern(r"^[A-Za-z0-9_.-]{1,128}$", "a TLS security policy id: 1-128 ASCII letters, "
                                  "digits or _ . -")]
#: the characters only; which kind and its own rules: shared.policy.pki.san_kind (ClientSpec applies it)
San = Annotated[str, pattern(r"^[!-~]+$", "a DNS name, an email address, an IP address or a URI (scheme://… as "
                             "RFC 3986 writes it, or urn:…): printable ASCII without spaces (internationalised "
                             "names in xn-- form, URIs percent-encoded)", min_length=1, max_length=253)]
ServerId = Annotated[str, pattern(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", "a backend id such as i-bp1...: 1-128 "
                                  "ASCII letters, digits or . _ -, starting with a letter or digit")]
ServerGroupName = Annotated[str, pattern(r"^[A-Za-z][A-Za-z0-9._-]{1,127}$", "2-128 ASCII letters, digits or . _ -, "
                                         "starting with a letter", description="2-128 chars, starts with a letter")]
HttpPath = Annotated[str, pattern(r"^/[A-Za-z0-9/_.\-~%?=&+:]*$", "a path starting with / made of ASCII letters, "
                                  "digits and / _ . - ~ % ? = & + : (percent-encode anything else)", max_length=80)]
HealthCode = Literal["http_2xx", "http_3xx", "http_4xx", "http_5xx"]
ExecutionName = Annotated[str, pattern(r"^[A-Za-z0-9_-]+$", "ASCII letters, digits, _ and - only",
                                       min_length=1, max_length=128)]
KeySecretName = Annotated[str, pattern(r"^[A-Za-z0-9_/+=.@-]{1,192}$", "a KMS secret name: 1-192 ASCII letters, "
                                       "digits or _ / + = . @ -")]
Status = Literal["ok", "pending", "pending_propagation", "failed"]

#: KMS secret names: 1-192 ASCII letters, digits and _ / + = . @ - (docs/ALIBABA-APIS.md §6, CreateSecret)
SECRET_NAME_MAX = 192

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RR_LABEL = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$")


class _Input(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every input struct (frozen, unknown fields refused, keyword-only)."""


class _Output(Struct, frozen=True, kw_only=True):
    """Base of every result struct (frozen; unknown fields tolerated when read back)."""


# ---------------------------------------------------------------------------------------------
# input parts
# ---------------------------------------------------------------------------------------------
class HealthCheckSpec(_Input, frozen=True, kw_only=True):
    """Server group health check (ALB ``HealthCheckConfig``); seconds for interval/timeout."""

    path: HttpPath = "/"
    method: Literal["GET", "HEAD", "POST"] = "GET"
    interval: Annotated[int, Meta(ge=1, le=50)] = 2
    timeout: Annotated[int, Meta(ge=1, le=300)] = 2
    healthy_threshold: Annotated[int, Meta(ge=2, le=10)] = 2
    unhealthy_threshold: Annotated[int, Meta(ge=2, le=10)] = 2
    codes: Annotated[tuple[HealthCode, ...], Meta(min_length=1, max_length=4)] = ("http_2xx", "http_3xx")

    def __post_init__(self) -> None:
        if len(set(self.codes)) != len(self.codes):
            raise InvalidInputError("codes", "health check codes must not repeat")


class ServerSpec(_Input, frozen=True, kw_only=True):
    """One backend: ECS instance id (or ENI/IP per server group type), port, weight 0-100."""

    server_id: ServerId
    port: Port
    weight: Annotated[int, Meta(ge=0, le=100)] = 100


class ServerGroupSpec(_Input, frozen=True, kw_only=True):
    """The server group the listener forwards to."""

    name: ServerGroupName
    protocol: Literal["HTTP", "HTTPS", "gRPC"] = "HTTP"
    servers: Annotated[tuple[ServerSpec, ...], Meta(min_length=1, max_length=200)]
    health_check: HealthCheckSpec = field(default_factory=HealthCheckSpec)

    def __post_init__(self) -> None:
        seen: set[tuple[str, int]] = set()
        for i, s in enumerate(self.servers):
            if (s.server_id, s.port) in seen:
                raise InvalidInputError(f"servers[{i}]", f"server {s.server_id}:{s.port} is listed twice")
            seen.add((s.server_id, s.port))


class ServerCertificateSpec(_Input, frozen=True, kw_only=True):
    """How to get the listener's server certificate — exactly one of:

    * ``{certificate_id}``: an existing CAS certificate (``"123"`` or ``"123-cn-hangzhou"``);
    * ``{cert_pem, key_secret_name}``: upload; the key is read from that KMS secret (never inline);
    * ``{}``: find a valid CAS certificate covering the FQDN.
    """

    certificate_id: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    cert_pem: Annotated[str, Meta(min_length=1, max_length=65536)] | None = None
    key_secret_name: KeySecretName | None = None

    def __post_init__(self) -> None:
        if self.cert_pem is not None and "PRIVATE KEY" in self.cert_pem:
            raise InvalidInputError("cert_pem", "a private key must never be part of the input: store it in a KMS "
                                    "secret and name that secret in `key_secret_name`")
        if self.certificate_id is not None:
            if self.cert_pem is not None or self.key_secret_name is not None:
                raise InvalidInputError("certificate_id", "give either `certificate_id` or "
                                        "`cert_pem` + `key_secret_name`, not both")
            cid = CertificateId.parse(self.certificate_id, field="certificate_id")
            if not cid.is_cas:
                raise InvalidInputError("certificate_id", "the server certificate must be a CAS certificate id "
                                        "('123' or '123-cn-hangzhou'), not a private CA Identifier")
        elif (self.cert_pem is None) != (self.key_secret_name is None):
            missing = "key_secret_name" if self.key_secret_name is None else "cert_pem"
            raise InvalidInputError(missing, "uploading a server certificate needs both `cert_pem` and "
                                    "`key_secret_name`")
        if self.cert_pem is not None and "-----BEGIN CERTIFICATE-----" not in self.cert_pem:
            raise InvalidInputError("cert_pem", "cert_pem must be a PEM certificate chain "
                                    "('-----BEGIN CERTIFICATE-----' …)")
        if self.cert_pem is not None:
            _check_pem_certificates(self.cert_pem)

    @property
    def mode(self) -> Literal["id", "upload", "find"]:
        """``id`` (use ``certificate_id``), ``upload`` (``cert_pem`` + key secret) or ``find``."""
        if self.certificate_id is not None:
            return "id"
        return "upload" if self.cert_pem is not None else "find"

    @property
    def parsed_id(self) -> CertificateId | None:
        """``certificate_id`` as a :class:`~shared.policy.ids.CertificateId` (``None`` unless mode ``id``)."""
        return CertificateId.parse(self.certificate_id) if self.certificate_id is not None else None


def _check_pem_certificates(text: str) -> None:
    """``cert_pem`` must parse as one or more PEM certificates (else preflight would find out only
    after the execution started)."""
    from cryptography import x509  # here, not at import: only an upload input pays for it (cold start)

    try:
        x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeError):
        raise InvalidInputError("cert_pem", "cert_pem does not parse as PEM certificates: give the server "
                                "certificate, then its intermediates, each as '-----BEGIN CERTIFICATE-----', "
                                "base64 DER, '-----END CERTIFICATE-----'") from None


class PcaCaSpec(_Input, frozen=True, kw_only=True, tag="pca", tag_field="kind"):
    """``{"kind": "pca", "identifier": …}``: the CAS private CA's sub-CA, by either of its ids (what
    ``ca_identifier`` names)."""

    identifier: Annotated[str, Meta(min_length=1, max_length=128)]

    def __post_init__(self) -> None:
        cid = CertificateId.parse(self.identifier, field="identifier")
        if not cid.is_pca:
            raise InvalidInputError("identifier", f"{self.identifier[:80]!r} is not a private CA identifier: give "
                                    "the PCA sub-CA's Identifier or CertIdentifier (an own CA is "
                                    '{"kind": "own", "name": …})')
        if cid.identifier and cid.identifier != self.identifier:     # hex in the cloud's lower case
            force_setattr(self, "identifier", cid.identifier)


class OwnCaSpec(_Input, frozen=True, kw_only=True, tag="own", tag_field="kind"):
    """``{"kind": "own", "name": …}``: your own CA, its keys in KMS (``albmtls ca create``; created by
    the provisioning run when it does not exist yet, with ``key_spec``, ``root_days``,
    ``issuing_days``, and with ``permitted_dns``, which an existing CA keeps as it was made)."""

    name: CaName
    key_spec: Literal["EC_P256", "RSA_2048"] = "EC_P256"
    root_days: Annotated[int, Meta(ge=2, le=7300)] = DEFAULT_ROOT_DAYS
    issuing_days: Annotated[int, Meta(ge=1, le=7300)] = DEFAULT_ISSUING_DAYS
    #: name constraints of the issuing sub-CA the run creates (RFC 5280 dNSName permitted subtrees)
    permitted_dns: Annotated[tuple[PermittedDns, ...], Meta(max_length=MAX_PERMITTED)] = ()

    def __post_init__(self) -> None:
        if self.issuing_days >= self.root_days:
            raise InvalidInputError("issuing_days", f"the issuing sub-CA ({self.issuing_days} days) must end "
                                    f"before its root ({self.root_days} days)")
        force_setattr(self, "permitted_dns", normalize_permitted(self.permitted_dns, "ca.permitted_dns"))


CaSpec = PcaCaSpec | OwnCaSpec


HolderName = Annotated[str, pattern(r"^[^\x00-\x1f\x7f]{1,128}$", "1-128 printable characters",
                                    description="who holds the certificate (shown in messages)")]
Email = Annotated[str, pattern(r"^[A-Za-z0-9.!#$%&*+/=?^_{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                               r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
                               "an email address such as alice@example.com (ASCII; internationalised domains "
                               "in xn-- form)", max_length=254)]
DingTalkUser = Annotated[str, pattern(r"^(?:\+?[0-9][0-9-]{4,19}|[A-Za-z0-9_$-]{1,64})$",
                                      "the person's DingTalk mobile number (digits, optional leading +) or "
                                      "DingTalk user id, to @-mention them in the robot's message")]
#: an Alibaba Cloud account id (UID) is 16 digits (the RAM ARN examples' 1234567890123456); a shorter one
#: would build holder-policy resources for an account that cannot exist
RamPrincipal = Annotated[str, pattern(r"^acs:ram::[0-9]{16}:(?:user|role)/[A-Za-z0-9._@-]{1,128}$",
                                      "a RAM user or role ARN with the 16-digit account id, such as "
                                      "acs:ram::1234567890123456:role/billing-app")]
ChannelName = Annotated[str, pattern(r"^[a-z0-9][a-z0-9_-]{0,63}$", "a channel name from the notification "
                                     "configuration: 1-64 lowercase letters, digits, _ or -")]


class PersonHolder(_Input, frozen=True, tag="person", tag_field="kind", kw_only=True):
    """A person who installs the certificate by hand: gets a one-time download link by email on
    issue and on every renewal (``docs/DELIVERY.md``); ``dingtalk`` @-mentions them in the DingTalk
    robot's notice (the link itself only ever goes to ``email``)."""

    name: HolderName
    email: Email
    dingtalk: DingTalkUser | None = None


class SystemHolder(_Input, frozen=True, tag="system", tag_field="kind", kw_only=True):
    """A system that reads its ``pfx`` and ``password`` secrets itself (``ram_principal``: the RAM
    user or role ``albmtls holder-policy`` writes a least-privilege policy for); ``webhook`` names a
    configured channel notified on every renewal (default: the channels for systems)."""

    name: HolderName
    ram_principal: RamPrincipal | None = None
    webhook: ChannelName | None = None


Holder = PersonHolder | SystemHolder


class ClientSpec(_Input, frozen=True, kw_only=True):
    """One client certificate to issue (PCA sub-CA), delivered as PFX + password secrets; ``holder``
    (optional): who receives it — a person (download link) or a system (pull access)."""

    common_name: CommonName
    sans: Annotated[tuple[San, ...], Meta(max_length=20)] = ()
    days: Days = 30
    profile: Literal["compat", "modern"] = "compat"
    force_new: bool = False
    renew_before_days: Annotated[int, Meta(ge=1, le=3650)] | None = None
    holder: Holder | None = None

    def __post_init__(self) -> None:
        # the issuing step's own rules (shared.policy.pki: the CSR applies them too), so a client the
        # issuing step would refuse is refused here, before any step of the run writes
        from shared.core.errors import AlbMtlsError
        try:
            check_common_name(self.common_name)
        except AlbMtlsError as exc:
            raise InvalidInputError("common_name", f"client {self.common_name!r}: {exc.message}") from None
        for i, san in enumerate(self.sans):
            try:
                san_kind(san)
            except AlbMtlsError as exc:
                raise InvalidInputError(f"sans[{i}]", f"client {self.common_name!r}: {exc.message}") from None
        if self.renew_before_days is not None and self.renew_before_days >= self.days:
            raise InvalidInputError("renew_before_days", f"renew_before_days ({self.renew_before_days}) must be less "
                                    f"than days ({self.days}), or the certificate is due for renewal at once",
                                    code=Code.RENEW_BEFORE_TOO_LONG)


# ---------------------------------------------------------------------------------------------
# the provision input
# ---------------------------------------------------------------------------------------------
def _check_domain(name: str) -> str:
    d = name.strip().lower().rstrip(".")
    if not d.isascii():
        raise InvalidInputError("domain", "domain must be ASCII; write internationalised names in punycode (xn--…)")
    labels = d.split(".")
    if len(d) > 253 or len(labels) < 2 or not all(_LABEL.match(lb) for lb in labels):
        raise InvalidInputError("domain", f"{name[:80]!r} is not a DNS zone name like 'example.com' (labels of "
                                "letters, digits and inner hyphens, 1-63 chars each)")
    return d


def _check_rr(rr: str) -> str:
    r = rr.strip().lower()
    if r == "@":
        return r
    if not r.isascii():
        raise InvalidInputError("rr", "rr must be ASCII; write internationalised names in punycode (xn--…)")
    labels = r.split(".")
    for i, lb in enumerate(labels):
        if lb == "*" and i == 0:
            continue
        if not _RR_LABEL.match(lb):
            raise InvalidInputError("rr", f"{rr[:80]!r} is not a host record: use '@' or labels of letters, digits, "
                                    "'_' and inner hyphens ('app', 'api.eu', '*.app')")
    return r


class ProvisionInput(_Input, frozen=True, kw_only=True):
    """The provision input (docs/CONTRACTS.md); snake_case JSON; unknown fields refused."""

    region: Region | None = None
    load_balancer_id: LoadBalancerId
    listener_port: Port = 443
    domain: Annotated[str, Meta(min_length=1, max_length=254)]
    rr: Annotated[str, Meta(min_length=1, max_length=253)]
    ttl: Ttl = 600
    allow_apex: bool = False
    replace_owned_records: bool = True
    #: the PCA sub-CA by either of its ids (kept valid: the same as ``ca: {"kind": "pca", "identifier": …}``)
    ca_identifier: Annotated[str, Meta(min_length=1, max_length=128)] | None = None
    #: the CA: ``{"kind": "pca", "identifier": …}`` or ``{"kind": "own", "name": …}`` (exactly one of ``ca``
    #: and ``ca_identifier``)
    ca: CaSpec | None = None
    server_certificate: ServerCertificateSpec = field(default_factory=ServerCertificateSpec)
    security_policy_id: PolicyId = "tls_cipher_policy_1_2"
    server_group: ServerGroupSpec
    #: up to 1,000 holders per listener: issued by one order of the issuing lane at the PCA's quota
    #: (docs/PERFORMANCE.md); the whole input must still fit CloudFlow's 64 KiB execution input
    #: (``shared.steps.provisioning.start_provision`` says so before anything starts)
    clients: Annotated[tuple[ClientSpec, ...], Meta(min_length=1, max_length=1000)]
    client_cert_headers: bool = True
    probe_requests: Annotated[int, Meta(ge=1, le=100)] = 10
    secret_prefix: SecretPrefix = "albmtls"
    #: the daily drift check re-applies this listener's recorded desired state when the cloud drifted
    #: from it (``shared.steps.drift``); false: drift is reported only
    auto_repair: bool = False
    #: revoke the clients provisioned on this listener that are no longer in ``clients`` (else they
    #: are only reported as orphaned and never renewed; ``shared.steps.offboarding``)
    prune: bool = False

    def __post_init__(self) -> None:
        domain = _check_domain(self.domain)
        if domain != self.domain:
            force_setattr(self, "domain", domain)
        rr = _check_rr(self.rr)
        if rr != self.rr:
            force_setattr(self, "rr", rr)
        if rr == "@" and not self.allow_apex:
            raise InvalidInputError("rr", "a CNAME at the zone apex ('@') breaks the zone's SOA/NS/MX records; use a "
                                    "host record such as 'app', or set allow_apex=true if you really want it",
                                    code=Code.APEX_CNAME_REFUSED)
        if len(self.fqdn) > 253:
            raise InvalidInputError("rr", f"the name {self.fqdn[:60]}… is longer than 253 characters")
        if (self.ca is None) == (self.ca_identifier is None):
            raise InvalidInputError("ca" if self.ca else "ca_identifier",
                                    "give the CA once: `ca` ({\"kind\": \"own\", \"name\": …} for your own CA "
                                    "with its keys in KMS, or {\"kind\": \"pca\", \"identifier\": …} for a CAS private "
                                    "CA) or `ca_identifier` (a PCA sub-CA), not " + ("both" if self.ca else "neither"))
        if self.ca_identifier is not None:
            cid = CertificateId.parse(self.ca_identifier, field="ca_identifier")
            if cid.is_own:
                raise InvalidInputError("ca_identifier", f"name an own CA as ca: {{\"kind\": \"own\", \"name\": "
                                        f"\"{cid.own_name}\"}}")
            if cid.is_pca and cid.identifier and cid.identifier != self.ca_identifier:   # hex: the cloud's lower case
                force_setattr(self, "ca_identifier", cid.identifier)
        seen: dict[str, int] = {}
        for i, c in enumerate(self.clients):
            j = seen.setdefault(c.common_name.casefold(), i)
            if j != i and self.clients[j].common_name == c.common_name:
                raise InvalidInputError(f"clients[{i}].common_name", f"common name {c.common_name!r} is listed twice")
            if j != i:
                # refused, not normalised: the CN is kept as written in the certificate and the KMS
                # secret names, and two CNs differing in case would share one PFX file name on
                # case-insensitive file systems (macOS, Windows) and in case-folding tools
                raise InvalidInputError(f"clients[{i}].common_name", f"common name {c.common_name!r} differs from "
                                        f"clients[{j}].common_name {self.clients[j].common_name!r} only in letter "
                                        "case; the common names of one listener must differ in more than case")
            longest = self.secrets(c.common_name).password
            if len(longest) > SECRET_NAME_MAX:
                raise InvalidInputError(f"clients[{i}].common_name", f"the KMS secret name {longest[:40]}… would be "
                                        f"{len(longest)} characters; KMS allows at most {SECRET_NAME_MAX} "
                                        "(<secret_prefix>/<alb id>-<port>/<common name>/password): shorten "
                                        "secret_prefix or the common name")

    # -- derived values ----------------------------------------------------------------------------
    @property
    def listener_key(self) -> str:
        """``<load_balancer_id>-<listener_port>``."""
        return listener_key(self.load_balancer_id, self.listener_port)

    @property
    def fqdn(self) -> str:
        """``rr.domain`` (``domain`` for ``@``)."""
        return self.domain if self.rr == "@" else f"{self.rr}.{self.domain}"

    @property
    def ca_id(self) -> CertificateId:
        """The CA parsed: a PCA sub-CA (``ca_identifier`` or ``ca.identifier``) or an own CA (``own/<name>``)."""
        if isinstance(self.ca, OwnCaSpec):
            return CertificateId("own", identifier=f"own/{self.ca.name}")
        if isinstance(self.ca, PcaCaSpec):
            return CertificateId.parse(self.ca.identifier, field="ca.identifier")
        assert self.ca_identifier is not None     # __post_init__: exactly one of the two
        return CertificateId.parse(self.ca_identifier, field="ca_identifier")

    @property
    def own_ca(self) -> OwnCaSpec | None:
        """The own CA spec, when the CA is one."""
        return self.ca if isinstance(self.ca, OwnCaSpec) else None

    @property
    def ca_label(self) -> str:
        """The CA as written in the input (messages, reports): ``own CA demo`` or the PCA id."""
        if isinstance(self.ca, OwnCaSpec):
            return f"own CA {self.ca.name}"
        return self.ca.identifier if isinstance(self.ca, PcaCaSpec) else str(self.ca_identifier)

    def secrets(self, common_name: str) -> SecretNames:
        """The KMS secret names of client ``common_name`` (``shared.policy.ids.secret_names``)."""
        return secret_names(self.secret_prefix, self.listener_key, common_name)


class StepEvent(_Input, frozen=True, kw_only=True):
    """The event a workflow Task sends to a step function (``workflows/provision.yaml``)::

        {"input": <ProvisionInput>, "execution_name": "<flow execution>", "attempt": 0}

    ``input`` is the execution's input unchanged (``$Context.Execution.Input``); ``attempt`` is the
    number of earlier calls of this step in its wait loop (looping steps return ``attempt + 1``,
    the flow's Choice bounds it). Extend with ``class X(StepEvent, frozen=True, kw_only=True)`` for extras.
    """

    input: ProvisionInput
    execution_name: ExecutionName | None = None
    attempt: Annotated[int, Meta(ge=0, le=10000)] = 0


class CnameEvent(StepEvent, frozen=True, kw_only=True):
    """``create_cname``'s event: a :class:`StepEvent` plus ``since``, the cloud time (ISO 8601 UTC) of
    the loop's first call as that call returned it (``""`` on the first call). The flow passes it
    back on every call, so the propagation wait is bounded in time (the record's TTL and the zone's
    negative-caching time), not by a count of attempts."""

    since: Annotated[str, Meta(max_length=40)] = ""


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
class StepError(_Output, frozen=True, kw_only=True, omit_defaults=True):
    """``error`` of a failed step: stable ``code``, ``message`` saying what to change."""

    code: str
    message: str
    field: str | None = None
    request_id: str | None = None


class StepResult(_Output, frozen=True, kw_only=True):
    """Base of every step result: ``status`` and, when failed, ``error``."""

    status: Status = "ok"
    error: StepError | None = None


class ClientCertificateResult(_Output, frozen=True, kw_only=True):
    """An issued (or reused) client certificate. Times are ISO 8601 UTC (``…Z``)."""

    common_name: str
    identifier: str
    serial: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    pfx_secret: str
    password_secret: str
    pfx_version: str | None = None
    reused: bool = False


class ListenerResult(_Output, frozen=True, kw_only=True):
    """The HTTPS listener as read back after the change."""

    id: str
    port: int
    ca_enabled: bool
    ca_certificate_id: str | None
    security_policy_id: str
    status: str
    server_certificate_id: str | None = None
    server_group_id: str | None = None


class PropagationResult(_Output, frozen=True, kw_only=True):
    """How the zone's authoritative name servers answered the CNAME (``shared.steps.dns``).

    ``name_servers``: every server asked (``dns1.hichina.com (203.0.113.53:53)``); ``answered``: those
    that answered the CNAME with the ALB's name; ``waited_s``: seconds since the loop's first call
    (``since``); ``negative_ttl_s``: how long resolvers cache "no such name" for the zone
    (RFC 2308: min(SOA TTL, SOA MINIMUM), read with a DNS query; ``negative_ttl_source`` ``soa`` or
    ``default`` when no server answered the SOA); ``bound_s``: how long the wait may last
    (:func:`shared.policy.dns.propagation_bound`)."""

    name_servers: list[str] = []
    answered: list[str] = []
    since: str = ""
    waited_s: float = 0.0
    ttl_s: int = 0
    negative_ttl_s: int = 0
    negative_ttl_source: str = "default"
    bound_s: int = 0


class DnsResult(_Output, frozen=True, kw_only=True):
    """The CNAME record (``type`` normally ``CNAME``); ``propagated`` once every authoritative name
    server answers it (``propagation`` says which were asked and how long it took)."""

    record_id: str
    rr: str
    domain: str
    type: str
    value: str
    ttl: int
    propagated: bool = False
    propagation: PropagationResult | None = None


class BackendHealth(_Output, frozen=True, kw_only=True):
    """One backend's health as the listener reports it."""

    server_id: str
    port: int
    status: str
    reason: str | None = None


class HealthResult(_Output, frozen=True, kw_only=True):
    """Listener health: ``healthy`` when every backend is ``Healthy``; the others in ``non_normal``."""

    healthy: bool
    backends: list[BackendHealth] = []
    non_normal: list[BackendHealth] = []


class ProbeWithCertificate(_Output, frozen=True, kw_only=True):
    """Requests with the client certificate: ``status`` = HTTP status of the last response (0 when
    none), ``backends`` = responses per backend instance name."""

    status: int
    backends: dict[str, int] = {}
    requests: int = 0
    succeeded: int = 0


class ProbeRefusal(_Output, frozen=True, kw_only=True):
    """A request that must be refused (no/foreign certificate): ``refused`` and how (no secrets)."""

    refused: bool
    detail: str | None = None


class ProbeResult(_Output, frozen=True, kw_only=True):
    """The live probe of ``https://<fqdn>:<port>``."""

    with_certificate: ProbeWithCertificate
    without_certificate: ProbeRefusal
    foreign_certificate: ProbeRefusal | None = None

