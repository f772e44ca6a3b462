"""Settings: explicit arguments > environment > endpoints file > defaults, resolved in one place.

Environment variables (all optional):

===============================  ==========================================================
``ALBMTLS_TARGET``               ``local`` or ``cloud``; default ``local`` when an endpoints
                                 file is given, else ``cloud``
``ALBMTLS_REGION`` /             region (first set wins, in this order; then ``FC_REGION``,
``ALIBABA_CLOUD_REGION`` /       then the endpoints file's ``region``); default ``cn-hangzhou``
``ALIBABA_CLOUD_REGION_ID``
``ALBMTLS_ENDPOINTS_FILE``       the local cloud's endpoints JSON (``{alb, cas, pca, alidns,
                                 kms, fnf, dns, access_key_id, access_key_secret, region, …}``)
``ALBMTLS_ENDPOINT_<PRODUCT>``   ``host[:port]`` override for ``ALB``, ``CAS``, ``PCA``,
                                 ``ALIDNS``, ``KMS``, ``FNF``
``ALBMTLS_PROTOCOL``             ``http``/``https``; default ``http`` on local, ``https`` on cloud
``ALBMTLS_DNS_SERVER``           ``host:port`` for propagation checks (locally the file's ``dns``)
``ALBMTLS_CONNECT_TIMEOUT_MS``   SDK connect timeout, ms (default 5000)
``ALBMTLS_READ_TIMEOUT_MS``      SDK read timeout, ms (default 10000)
``ALBMTLS_DEADLINE_MARGIN_MS``   kept free before the FC deadline, ms (default 3000)
``ALBMTLS_DEFAULT_DEADLINE_MS``  budget when the context has no deadline, ms (default 120000)
``ALBMTLS_SECRET_PREFIX``        KMS secret name prefix (default ``albmtls``)
``ALBMTLS_CAS_SITE_REGION``      CAS site suffix for ALB certificate ids (default ``cn-hangzhou``;
                                 ``ap-southeast-1`` on the International site)
``ALBMTLS_PCA_QPS``              client-side rate limit for the private CA API, req/s (default 10)
``ALBMTLS_ALB_CA_ID_FORM``       which of a private CA's identifiers ALB's ``CaCertificates`` takes:
                                 ``cert_identifier`` (default; the UUID ``ListPcaCaCertificate``
                                 returns) or ``identifier`` (``DescribeCACertificateList``'s);
                                 locally the endpoints file's ``alb_ca_id_form`` (see below)
``ALBMTLS_KMS_INSTANCE_ID``      the KMS instance (``kst-…``) that holds an own CA's keys (KMS 3.0
                                 accounts keep asymmetric keys in an instance; locally the seeded
                                 one, the endpoints file's ``seed.kms_instance_id``)
``ALBMTLS_CRL_BASE_URL``         where own CAs' CRLs are served (``<url>/<prefix>/<ca>/g<n>.crl``:
                                 the HTTP API's ``GET /crl/…``); unset: certificates name no CRL
``ALBMTLS_RETRIES``              ``off`` disables the retry layer (read by ``shared.adapters.retry``)
``ALBMTLS_DATAPLANE_PORT_OFFSET``  added to a listener port for the live probe (locally the file's
                                 ``dataplane_port_offset``; 0 in the cloud)
``ALBMTLS_PROBE_CA_FILE``        CA bundle the probe trusts (locally ``<state_dir>/server-root-ca.pem``;
                                 default the system trust store)
===============================  ==========================================================

The ALB CA id form is the one unsettled fact about the listener's CA (docs/ALIBABA-APIS.md §1.15,
§5.1), read here and nowhere else: the only real-account evidence — the Terraform alicloud
provider's ALB listener acceptance test (``alicloud/resource_alicloud_alb_listener_test.go``,
commit f940fba8, PR #8127) — passes UUID version 6 ids such as
``1efd3cac-e8c1-611d-b971-f96e5e432aba`` to ``ca_certificates``, the shape of PCA's
``CertIdentifier``. ``albmtls doctor`` checks it against an account with ``DryRun`` writes.

Importing this module imports no SDK.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shared.core.errors import AlbMtlsError, Code
from shared.core.products import PRODUCT_KEYS

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Settings", "PRODUCTS", "CA_ID_FORMS", "retries_enabled"]

#: the two identifiers of a private CA; ``Settings.alb_ca_id_form`` names the one ALB takes
CaIdForm = Literal["cert_identifier", "identifier"]
CA_ID_FORMS: tuple[CaIdForm, ...] = ("cert_identifier", "identifier")

#: product keys with an endpoint setting (``shared.core.products``)
PRODUCTS: tuple[str, ...] = PRODUCT_KEYS

_REGION_ENV = ("ALBMTLS_REGION", "ALIBABA_CLOUD_REGION", "ALIBABA_CLOUD_REGION_ID", "FC_REGION")
_HOSTPORT = re.compile(r"^[A-Za-z0-9.\-\[\]:]+$")
_REGION = re.compile(r"^[a-z]{2,}(-[a-z0-9]+)+$")


def retries_enabled(env: Mapping[str, str] | None = None) -> bool:
    """False when ``ALBMTLS_RETRIES`` is ``off``/``0``/``false``/``no`` (read at each call)."""
    env = os.environ if env is None else env
    return env.get("ALBMTLS_RETRIES", "on").strip().lower() not in ("off", "0", "false", "no")


def _cfg_error(name: str, message: str) -> AlbMtlsError:
    return AlbMtlsError(Code.CONFIG_INVALID, message, field=name)


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved runtime settings (immutable, hashable). Build with :meth:`load`.

    Attributes
    ----------
    region: ALB/SDK region id.
    target: ``"local"`` (the embedded cloud, plain HTTP, fixed key) or ``"cloud"``.
    endpoints: ``((product, "host[:port]"), …)`` explicit endpoint per product; products absent
        here use the SDK's public endpoint on the cloud target (see ``shared.adapters.clients``).
    protocol: ``"http"`` or ``"https"``.
    dns_server: ``"host:port"`` to ask for propagation checks, or ``None`` (authoritative NS).
    access_key_id / access_key_secret / security_token: the local cloud's fixed key (local target),
        or explicit credentials on the cloud target (an FC context's, ``shared.entry.handler``);
        otherwise the cloud target uses the ``alibabacloud_credentials`` default chain.
    connect_timeout_ms / read_timeout_ms: SDK timeouts in milliseconds.
    deadline_margin_ms: time kept free before the function deadline, ms.
    default_deadline_ms: budget of an invocation whose context has no deadline, ms.
    secret_prefix: KMS secret name prefix.
    cas_site_region: suffix of ALB certificate ids (``<CertId>-<site region>``).
    pca_qps: client-side rate limit (requests/s) for the private CA API.
    endpoints_file: the file the local endpoints came from (informational).
    dataplane_port_offset: added to a listener port to reach it (local data plane; 0 in the cloud).
    probe_ca_file: CA bundle (PEM) the health probe verifies server certificates with, or ``None``.
    alb_ca_id_form: ``"cert_identifier"`` or ``"identifier"``: the id ALB's ``CaCertificates`` takes
        for a private CA (module doc).
    kms_instance_id: the KMS instance own CAs' keys are created in (``None``: not configured).
    crl_base_url: where own CAs' CRLs are served (``None``: their certificates name no CRL).
    """

    region: str = "cn-hangzhou"
    target: Literal["local", "cloud"] = "cloud"
    endpoints: tuple[tuple[str, str], ...] = ()
    protocol: Literal["http", "https"] = "https"
    dns_server: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    access_key_secret: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    connect_timeout_ms: int = 5000
    read_timeout_ms: int = 10000
    deadline_margin_ms: int = 3000
    default_deadline_ms: int = 120_000
    secret_prefix: str = "albmtls"
    cas_site_region: str = "cn-hangzhou"
    pca_qps: float = 10.0
    endpoints_file: str | None = None
    dataplane_port_offset: int = 0
    probe_ca_file: str | None = None
    alb_ca_id_form: CaIdForm = "cert_identifier"
    kms_instance_id: str | None = None
    crl_base_url: str | None = None

    # -- accessors --------------------------------------------------------------------------------
    def endpoint(self, product: str) -> str | None:
        """The explicit ``host[:port]`` for ``product`` or ``None`` (then the SDK's public one)."""
        for name, value in self.endpoints:
            if name == product:
                return value
        return None

    @property
    def is_local(self) -> bool:
        """True on the embedded local cloud target."""
        return self.target == "local"

    def dns_server_address(self) -> tuple[str, int] | None:
        """``dns_server`` split into ``(host, port)`` (port 53 when absent), or ``None``."""
        if not self.dns_server:
            return None
        host, sep, port = self.dns_server.rpartition(":")
        if not sep or not port.isdigit():
            return self.dns_server, 53
        return host.strip("[]"), int(port)

    def with_(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (no environment lookup)."""
        return replace(self, **changes)

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings: ``overrides`` (``None`` values ignored) > ``env`` > endpoints file > defaults.

        Parameters
        ----------
        env: the environment to read (default ``os.environ``).
        overrides: any attribute of :class:`Settings`; ``endpoints`` may be a ``dict``
            ``{product: "host:port"}`` (merged over env/file endpoints); ``endpoints_file`` a path.

        Raises
        ------
        AlbMtlsError
            ``CONFIG_INVALID`` naming the setting when a value is malformed or the endpoints file is
            unreadable.
        """
        env = os.environ if env is None else env
        ov = {k: v for k, v in overrides.items() if v is not None}
        known = {f.name for f in fields(cls)}
        unknown = set(ov) - known
        if unknown:
            raise _cfg_error(sorted(unknown)[0], f"unknown setting(s) {sorted(unknown)}; known: {sorted(known)}")

        # endpoints file -------------------------------------------------------------------------
        ep_file = ov.get("endpoints_file") or env.get("ALBMTLS_ENDPOINTS_FILE") or None
        doc: dict[str, Any] = {}
        if ep_file:
            doc = _read_endpoints_file(str(ep_file))

        def pick(name: str, env_names: tuple[str, ...] = (), file_key: str | None = None, default: Any = None) -> Any:
            if name in ov:
                return ov[name]
            for e in env_names:
                if env.get(e):
                    return env[e]
            if file_key and doc.get(file_key) not in (None, ""):
                return doc[file_key]
            return default

        target_name = str(pick("target", ("ALBMTLS_TARGET",), default="local" if ep_file else "cloud")).strip().lower()
        target: Literal["local", "cloud"]
        if target_name == "local":
            target = "local"
        elif target_name == "cloud":
            target = "cloud"
        else:
            raise _cfg_error("target", f"target must be 'local' or 'cloud', got {target_name!r} (ALBMTLS_TARGET)")

        region = str(pick("region", _REGION_ENV, "region", "cn-hangzhou")).strip()
        if not _REGION.match(region):
            raise _cfg_error("region", f"region {region!r} is not a region id like 'cn-hangzhou'")

        endpoints: dict[str, str] = {}
        for p in PRODUCTS:
            if doc.get(p):
                endpoints[p] = str(doc[p])
            if env.get(f"ALBMTLS_ENDPOINT_{p.upper()}"):
                endpoints[p] = env[f"ALBMTLS_ENDPOINT_{p.upper()}"]
        explicit = ov.get("endpoints") or {}
        if isinstance(explicit, (tuple, list)):
            explicit = dict(explicit)
        for p, value in dict(explicit).items():
            endpoints[p] = value
        for p, value in endpoints.items():
            if p not in PRODUCTS:
                raise _cfg_error("endpoints", f"unknown product {p!r} in endpoints; known: {list(PRODUCTS)}")
            value = str(value).strip()
            if "://" in value:  # tolerate "http://host:port" but the SDK wants host[:port]
                value = value.split("://", 1)[1]
            value = value.rstrip("/")
            if not value or not _HOSTPORT.match(value):
                raise _cfg_error(f"endpoints.{p}", f"endpoint for {p} must be 'host[:port]', got {value!r}")
            endpoints[p] = value

        default_protocol = "http" if target == "local" else "https"
        protocol_name = str(pick("protocol", ("ALBMTLS_PROTOCOL",), default=default_protocol)).lower()
        protocol: Literal["http", "https"]
        if protocol_name == "http":
            protocol = "http"
        elif protocol_name == "https":
            protocol = "https"
        else:
            raise _cfg_error("protocol", f"protocol must be 'http' or 'https', got {protocol_name!r}")

        dns_server = pick("dns_server", ("ALBMTLS_DNS_SERVER",), "dns")
        if target == "local":
            ak = pick("access_key_id", (), "access_key_id")
            sk = pick("access_key_secret", (), "access_key_secret")
        else:
            ak = ov.get("access_key_id")
            sk = ov.get("access_key_secret")
        token = ov.get("security_token") if target == "cloud" else None

        def num(name: str, env_name: str, default: float, kind: type = int, lo: float = 0) -> Any:
            raw = pick(name, (env_name,), default=default)
            try:
                val = kind(raw)
            except (TypeError, ValueError):
                raise _cfg_error(name, f"{name} must be a number, got {raw!r} ({env_name})") from None
            if val < lo:
                raise _cfg_error(name, f"{name} must be >= {lo}, got {val} ({env_name})")
            return val

        secret_prefix = str(pick("secret_prefix", ("ALBMTLS_SECRET_PREFIX",), default="albmtls"))
        if not re.fullmatch(r"[A-Za-z0-9_+=.@\-]{1,64}", secret_prefix):
            raise _cfg_error("secret_prefix", "secret_prefix must be 1-64 of letters, digits, _ + = . @ -")
        site = str(pick("cas_site_region", ("ALBMTLS_CAS_SITE_REGION",), default="cn-hangzhou"))
        if not _REGION.match(site):
            raise _cfg_error("cas_site_region", f"cas_site_region {site!r} is not a region id")

        form_name = str(pick("alb_ca_id_form", ("ALBMTLS_ALB_CA_ID_FORM",), "alb_ca_id_form", "cert_identifier"))
        ca_form = next((f for f in CA_ID_FORMS if f == form_name.strip().lower()), None)
        if ca_form is None:
            raise _cfg_error("alb_ca_id_form", f"ALBMTLS_ALB_CA_ID_FORM must be {' or '.join(CA_ID_FORMS)}, got "
                             f"{form_name.strip().lower()!r}")

        return cls(
            region=region,
            target=target,
            endpoints=tuple(sorted(endpoints.items())),
            protocol=protocol,
            dns_server=str(dns_server) if dns_server else None,
            access_key_id=str(ak) if ak else None,
            access_key_secret=str(sk) if sk else None,
            security_token=str(token) if token else None,
            connect_timeout_ms=num("connect_timeout_ms", "ALBMTLS_CONNECT_TIMEOUT_MS", 5000, int, 1),
            read_timeout_ms=num("read_timeout_ms", "ALBMTLS_READ_TIMEOUT_MS", 10000, int, 1),
            deadline_margin_ms=num("deadline_margin_ms", "ALBMTLS_DEADLINE_MARGIN_MS", 3000, int, 0),
            default_deadline_ms=num("default_deadline_ms", "ALBMTLS_DEFAULT_DEADLINE_MS", 120_000, int, 1),
            secret_prefix=secret_prefix,
            cas_site_region=site,
            pca_qps=num("pca_qps", "ALBMTLS_PCA_QPS", 10.0, float, 0.001),
            endpoints_file=str(ep_file) if ep_file else None,
            dataplane_port_offset=int(pick("dataplane_port_offset", ("ALBMTLS_DATAPLANE_PORT_OFFSET",),
                                           "dataplane_port_offset", 0)),
            probe_ca_file=_probe_ca_file(pick("probe_ca_file", ("ALBMTLS_PROBE_CA_FILE",)), doc, target),
            alb_ca_id_form=ca_form,
            kms_instance_id=_kms_instance(pick("kms_instance_id", ("ALBMTLS_KMS_INSTANCE_ID",)), doc),
            crl_base_url=_crl_base_url(pick("crl_base_url", ("ALBMTLS_CRL_BASE_URL",))),
        )


def _kms_instance(explicit: Any, doc: dict[str, Any]) -> str | None:
    """The KMS instance of own CAs' keys: explicit, else the local cloud's seeded one."""
    value = str(explicit).strip() if explicit else str((doc.get("seed") or {}).get("kms_instance_id") or "")
    if value and not re.fullmatch(r"kst-[a-z0-9]{3,64}", value):
        raise _cfg_error("kms_instance_id", f"ALBMTLS_KMS_INSTANCE_ID must be a KMS instance id such as "
                         f"kst-hzz6…, got {value[:40]!r}")
    return value or None


def _crl_base_url(explicit: Any) -> str | None:
    value = str(explicit).strip() if explicit else ""
    if value and not re.fullmatch(r"https?://[^\s?#]+", value):
        raise _cfg_error("crl_base_url", f"ALBMTLS_CRL_BASE_URL must be an http(s) URL without query, got "
                         f"{value[:60]!r}")
    return value.rstrip("/") or None


def _probe_ca_file(explicit: Any, doc: dict[str, Any], target: str) -> str | None:
    """CA bundle the health probe trusts: explicit, else locally ``<state_dir>/server-root-ca.pem``,
    else ``None`` (the system trust store)."""
    if explicit:
        return str(explicit)
    if target == "local" and doc.get("state_dir"):
        return str(Path(doc["state_dir"]) / "server-root-ca.pem")
    return None


def _read_endpoints_file(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise _cfg_error("endpoints_file", f"endpoints file {path} does not exist; start the local cloud with "
                         "`albmtls up --endpoints-file FILE` or unset ALBMTLS_ENDPOINTS_FILE") from None
    except (OSError, ValueError) as exc:
        raise _cfg_error("endpoints_file",
                         f"endpoints file {path} is not readable JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise _cfg_error("endpoints_file", f"endpoints file {path} must hold a JSON object")
    return doc
