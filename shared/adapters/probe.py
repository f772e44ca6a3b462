"""The live mTLS probe: real DNS, real TLS, real HTTP against ``https://<fqdn>:<port>/``.

1. Resolve the FQDN through the given DNS servers (the zone's name servers; locally the local DNS
   server): follow the CNAME chain to an A record (a target the servers do not answer is resolved
   by the system resolver).
2. Connect to ``<ip>:<listener_port + port_offset>`` (offset 0 in the cloud), TLS with SNI = FQDN,
   verifying the server certificate and host name (``ca_file`` or the system trust store), one
   HTTP/1.1 ``GET /`` per connection:

   * with the client certificate (N requests): every one must answer 2xx; the answering backend is
     read from the ``X-Instance-Id`` header or the JSON body's ``instance_id`` (``unknown`` when the
     backend does not say);
   * without a certificate, and with one from a throwaway foreign CA: must be refused. Under TLS 1.3
     the server checks the client certificate after the client's handshake has completed, so a
     refusal can show only as a failed or empty first read: a TLS alert, a reset, EOF or an
     ``ssl.SSLError`` before an HTTP response, or an HTTP 4xx/5xx, all count as refused. A failed
     *server* certificate check is never taken as a refusal.

Key material: the client key is loaded from the PFX in memory, written (encrypted with a one-time
password) to a 0600 file in a private 0700 temp directory only for ``SSLContext.load_cert_chain``,
and deleted right after. Nothing here logs or returns key material or passwords.

Every socket has a timeout.
"""
from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import tempfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import ProbeRefusal, ProbeResult, ProbeWithCertificate

__all__ = ["resolve_address", "server_context", "client_context_from_pfx", "foreign_client_context",
           "Outcome", "https_get", "run_probe", "judge", "TIMEOUT_S"]

TIMEOUT_S = 5.0
MAX_BODY = 64 * 1024


# ---------------------------------------------------------------------------------------------
# DNS
# ---------------------------------------------------------------------------------------------
def _canon(name: str) -> str:
    return name.strip().rstrip(".").lower()


def resolve_address(servers: list[tuple[str, int]], fqdn: str, *, timeout: float = 2.0) -> tuple[str, list[str]]:
    """``(ipv4, chain)`` for ``fqdn``: ``chain`` = the names followed (``[fqdn, cname target, …]``).

    Asks ``servers`` (``(ip, port)``, dnspython ``Resolver(configure=False)``); a CNAME target they
    leave unanswered is asked of them again, then of the system resolver. Raises
    ``AlbMtlsError(PROBE_FAILED)`` when no address is found."""
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    chain = [_canon(fqdn)]

    def ask(name: str) -> tuple[list[str], str | None]:
        for host, port in servers:
            r = dns.resolver.Resolver(configure=False)
            r.nameservers, r.port, r.lifetime, r.timeout, r.cache = [host], port, timeout, timeout, None
            try:
                ans = r.resolve(name, "A", raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                return [], None
            except (dns.exception.DNSException, OSError):
                continue
            cnames: dict[str, str] = {}
            addrs: dict[str, list[str]] = {}
            for rrset in ans.response.answer:
                owner = _canon(rrset.name.to_text())
                if rrset.rdtype == dns.rdatatype.CNAME:
                    cnames[owner] = _canon(next(iter(rrset)).target.to_text())
                elif rrset.rdtype == dns.rdatatype.A:
                    addrs.setdefault(owner, []).extend(rd.address for rd in rrset)
            cur = _canon(name)
            while cur in cnames and len(chain) < 16:
                cur = cnames[cur]
                chain.append(cur)
            if addrs.get(cur):
                return addrs[cur], None
            return [], (cur if cur != _canon(name) else None)
        return [], None

    name = chain[0]
    for _ in range(4):
        addrs, follow = ask(name)
        if addrs:
            return addrs[0], chain
        if follow is None:
            break
        name = follow
    if len(chain) > 1:   # a CNAME target outside the zone's servers (the ALB's own name in the cloud)
        try:
            infos = socket.getaddrinfo(chain[-1], 443, socket.AF_INET, socket.SOCK_STREAM)
            if infos:
                return str(infos[0][4][0]), chain
        except OSError:
            pass
    raise AlbMtlsError(Code.PROBE_FAILED, f"{fqdn} does not resolve to an address through the name servers "
                       f"{[f'{h}:{p}' for h, p in servers]} (followed {' → '.join(chain)}); wait for DNS "
                       "propagation and run again")


# ---------------------------------------------------------------------------------------------
# TLS contexts
# ---------------------------------------------------------------------------------------------
def server_context(ca_file: str | None) -> ssl.SSLContext:
    """A client-side context verifying the server certificate and host name against ``ca_file``
    (PEM bundle) or the system trust store."""
    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def _load_chain(ctx: ssl.SSLContext, key: Any, certs: list[Any]) -> None:
    """Load key + certificate chain into ``ctx`` through a short-lived private file (ssl needs a
    file); the key in it is encrypted with a one-time password; file and directory are removed."""
    from cryptography.hazmat.primitives import serialization

    one_time = secrets.token_bytes(32).hex().encode()
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    pem += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(one_time))
    tmpdir = tempfile.mkdtemp(prefix="albmtls-probe-")   # 0700
    try:
        path = os.path.join(tmpdir, "client.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        ctx.load_cert_chain(path, password=one_time)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def client_context_from_pfx(ca_file: str | None, pfx: bytes, password: str | bytes) -> ssl.SSLContext:
    """:func:`server_context` plus the client certificate (and its chain) from a PKCS#12 file.
    Raises ``AlbMtlsError(PFX_CHECK_FAILED)`` when the PFX does not open (no details of it)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    pw = password.encode() if isinstance(password, str) else password
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(pfx, pw)
    except (ValueError, TypeError):
        raise AlbMtlsError(Code.PFX_CHECK_FAILED, "the stored client PFX does not open with its stored password; "
                           "issue the client certificate again") from None
    if key is None or cert is None:
        raise AlbMtlsError(Code.PFX_CHECK_FAILED, "the stored client PFX holds no key or no certificate")
    ctx = server_context(ca_file)
    _load_chain(ctx, key, [cert, *(extra or [])])
    return ctx


def foreign_client_context(ca_file: str | None) -> ssl.SSLContext:
    """:func:`server_context` with a client certificate from a throwaway CA made on the fly (EC P-256,
    clientAuth) — a certificate the listener must not trust."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alb-mtls probe foreign CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alb-mtls-probe-foreign")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ctx = server_context(ca_file)
    _load_chain(ctx, key, [leaf, ca])
    return ctx


# ---------------------------------------------------------------------------------------------
# one request
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Outcome:
    """One connection: ``status`` HTTP status (0 = no HTTP response); ``stage`` where it ended
    (``connect``, ``handshake``, ``server_cert``, ``read``, ``response``); ``backend`` the instance
    that answered (or ``unknown``); ``detail`` a short description (never secrets)."""

    status: int
    stage: str
    detail: str
    backend: str | None = None

    @property
    def refused(self) -> bool:
        """Refused by the listener: handshake or first read failed (not a server-certificate
        failure, not a connect failure), or an HTTP error status."""
        if self.stage in ("handshake", "read"):
            return True
        return self.stage == "response" and self.status >= 400


def _backend_of(resp: http.client.HTTPResponse, body: bytes) -> str:
    hdr = resp.getheader("X-Instance-Id")
    if hdr:
        return hdr.strip()
    try:
        doc = json.loads(body.decode("utf-8", "replace"))
        if isinstance(doc, dict) and doc.get("instance_id"):
            return str(doc["instance_id"])
    except ValueError:
        pass
    return "unknown"


def https_get(ip: str, port: int, fqdn: str, ctx: ssl.SSLContext, *, host_header: str | None = None,
              timeout: float = TIMEOUT_S) -> Outcome:
    """One TLS connection to ``ip:port`` with SNI ``fqdn``, one ``GET /`` (HTTP/1.1, ``Connection:
    close``). Never raises for network/TLS failures: they come back as an :class:`Outcome`."""
    try:
        raw = socket.create_connection((ip, port), timeout=timeout)
    except OSError as exc:
        return Outcome(0, "connect", f"connect to {ip}:{port} failed ({type(exc).__name__})")
    try:
        raw.settimeout(timeout)
        try:
            tls = ctx.wrap_socket(raw, server_hostname=fqdn)
        except ssl.SSLCertVerificationError as exc:
            return Outcome(0, "server_cert", f"server certificate not trusted: {exc.verify_message}")
        except (ssl.SSLError, ConnectionError) as exc:
            return Outcome(0, "handshake", f"TLS handshake failed ({_short(exc)})")
        except TimeoutError:
            return Outcome(0, "timeout", "TLS handshake timed out")
        with tls:
            try:
                req = (f"GET / HTTP/1.1\r\nHost: {host_header or fqdn}\r\nUser-Agent: alb-mtls-probe\r\n"
                       "Accept: */*\r\nConnection: close\r\n\r\n").encode()
                tls.sendall(req)
                resp = http.client.HTTPResponse(tls)
                resp.begin()
                body = resp.read(MAX_BODY)
            except TimeoutError:
                return Outcome(0, "timeout", "no response within the timeout")
            except (ssl.SSLError, ConnectionError, http.client.HTTPException, OSError) as exc:
                return Outcome(0, "read", f"connection closed without an HTTP response ({_short(exc)})")
            return Outcome(resp.status, "response", f"HTTP {resp.status}", _backend_of(resp, body))
    finally:
        try:
            raw.close()
        except OSError:
            pass


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    if reason:
        return f"{type(exc).__name__}: {reason}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:120]}" if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# the probe
# ---------------------------------------------------------------------------------------------
def run_probe(ip: str, port: int, fqdn: str, *, with_cert: ssl.SSLContext, ca_file: str | None, requests: int,
              public_port: int = 443, foreign: bool = True,
              timeout: float = TIMEOUT_S) -> tuple[ProbeResult, list[Outcome]]:
    """Run the three probes against ``ip:port`` (SNI/Host ``fqdn``). ``with_cert``: a context from
    :func:`client_context_from_pfx`. Returns the :class:`ProbeResult` and the with-certificate
    outcomes (for :func:`judge`)."""
    host = fqdn if public_port == 443 else f"{fqdn}:{public_port}"
    outs = [https_get(ip, port, fqdn, with_cert, host_header=host, timeout=timeout) for _ in range(requests)]
    ok = [o for o in outs if o.stage == "response" and 200 <= o.status < 300]
    backends = Counter(o.backend or "unknown" for o in ok)
    last = outs[-1].status if outs else 0
    with_result = ProbeWithCertificate(status=last, backends=dict(backends), requests=len(outs), succeeded=len(ok))

    bare = https_get(ip, port, fqdn, server_context(ca_file), host_header=host, timeout=timeout)
    without = ProbeRefusal(refused=bare.refused, detail=bare.detail)
    foreign_result = None
    if foreign:
        f = https_get(ip, port, fqdn, foreign_client_context(ca_file), host_header=host, timeout=timeout)
        foreign_result = ProbeRefusal(refused=f.refused, detail=f.detail)
    return ProbeResult(with_certificate=with_result, without_certificate=without,
                       foreign_certificate=foreign_result), outs


def judge(result: ProbeResult, outcomes: list[Outcome], *, expected_backends: int) -> list[str]:
    """What is wrong with a probe result (empty = as expected): every request with the certificate
    answered 2xx; when the backends identify themselves and there are several, at least
    ``min(expected_backends, requests)`` distinct ones answered; both refusals happened."""
    problems: list[str] = []
    w = result.with_certificate
    if w.succeeded != w.requests:
        bad = Counter(o.detail for o in outcomes if not (o.stage == "response" and 200 <= o.status < 300))
        problems.append(f"with the client certificate {w.requests - w.succeeded} of {w.requests} requests failed: "
                        + "; ".join(f"{d} ×{n}" for d, n in bad.most_common(3)))
    known = {b for b in w.backends if b != "unknown"}
    want = min(expected_backends, w.requests)
    if known and "unknown" not in w.backends and want >= 2 and len(known) < want:
        problems.append(f"responses came from {sorted(known)} only; expected {want} backends to answer")
    if not result.without_certificate.refused:
        problems.append(f"a request without a client certificate was not refused ({result.without_certificate.detail})")
    if result.foreign_certificate is not None and not result.foreign_certificate.refused:
        problems.append("a request with a certificate from a foreign CA was not refused "
                        f"({result.foreign_certificate.detail})")
    return problems
