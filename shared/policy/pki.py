"""Client-certificate PKI: keys, CSRs, certificates, fingerprints — and, by name, the leaf checks
(``shared.policy.leaf``) and the passwords and PKCS#12 files (``shared.policy.pfx``), so callers
keep one import (``pki.build_pfx`` loads ``shared.policy.pfx`` on first use).

Pure code over ``cryptography`` (no I/O, no logging, no cloud calls). The private key of a
client certificate is generated here, its CSR goes to the PCA sub-CA
(``CreateClientCertificateWithCsr``), and the issued leaf comes back here to be checked and
packed into a password-protected PKCS#12 (PFX) for the person who will hold it.

Rules this module keeps (docs/DECISIONS.md §3 "client certs", "leaf checks", "secrets"):

- The leaf key is of the issuing sub-CA's family: EC sub-CA → EC P-256, RSA sub-CA → RSA 2048.
- A leaf is usable for mTLS only with EKU ``clientAuth``, KeyUsage ``digitalSignature``,
  ``CA:FALSE``, a signature that verifies up to the CA bound on the listener, and a CA whose
  ``notAfter`` is not before the leaf's (:func:`check_leaf`).
- PKCS#12 comes in two profiles (:data:`PFX_PROFILES`): ``compat`` (PBES1 3DES for key and
  certificate bags, SHA-1 MAC — what older Windows and the macOS keychain import) and ``modern``
  (PBES2/PBKDF2-HMAC-SHA-256/AES-256-CBC, SHA-256 MAC). Never RC2, never an empty password. The
  bag holds the leaf, its key and the issuing sub-CA. Every file is re-read and its algorithms
  checked by parsing its ASN.1 (:func:`inspect_pfx`, :func:`verify_pfx`).
- Nothing here logs, and no exception message ever contains a password, a private key or a PEM.

Conventions
-----------
- Fingerprints: **lowercase hex without separators** (64 characters for SHA-256);
  :func:`normalize_fingerprint` turns any other spelling (``AB:CD:…``) into this form.
- Serial numbers: lowercase hex without separators or leading zeros (:func:`serial_hex`).
- Times: timezone-aware :class:`datetime.datetime` in UTC; naive datetimes are refused.
- Certificates may be passed as PEM ``str``/``bytes``, DER ``bytes`` or
  :class:`cryptography.x509.Certificate`.

Environment variables: none.
"""
from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from typing import TYPE_CHECKING, Any, Literal, Union

from shared.core.errors import invalid_input

# ``cryptography`` is imported inside the functions that use it (cold start, docs/PERFORMANCE.md: the
# x509/pkcs12 modules cost ~15 ms that a handler import must not pay before its first call).
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "KeyAlgorithm", "key_algorithm_of_certificate", "key_algorithm_of_key", "generate_key",
    "private_key_pem", "load_private_key_pem",
    "parse_san", "san_kind", "check_common_name", "build_csr", "load_certificate", "public_key_of",
    "fingerprint_sha256", "normalize_fingerprint", "serial_hex",
]

PrivateKey = Union["ec.EllipticCurvePrivateKey", "rsa.RSAPrivateKey"]
CertLike = Union[str, bytes, "x509.Certificate"]


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------

class KeyAlgorithm(enum.StrEnum):
    """Key algorithm of a client certificate's key pair.

    ``EC_P256`` is the default: small, fast, and what PCA's ``ECC_256`` sub-CAs issue for.
    """

    EC_P256 = "EC_P256"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"

    @property
    def family(self) -> Literal["EC", "RSA"]:
        """``"EC"`` or ``"RSA"``."""
        return "EC" if self is KeyAlgorithm.EC_P256 else "RSA"

    @property
    def rsa_bits(self) -> int | None:
        """Modulus size in bits for RSA algorithms, ``None`` for EC."""
        return None if self is KeyAlgorithm.EC_P256 else int(self.value.split("_")[1])


def _family_of_public_key(pub: object) -> Literal["EC", "RSA"] | None:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "EC"
    if isinstance(pub, rsa.RSAPublicKey):
        return "RSA"
    return None


def key_algorithm_of_certificate(ca_pem: CertLike) -> KeyAlgorithm:
    """The leaf key algorithm to use under the CA ``ca_pem`` (same family, default size).

    An EC CA (any curve) gives :attr:`KeyAlgorithm.EC_P256`; an RSA CA (any size) gives
    :attr:`KeyAlgorithm.RSA_2048`. PCA refuses a CSR whose key family differs from the issuing
    sub-CA's.

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` (field ``ca_certificate``) if the certificate cannot be parsed or its
        key is neither EC nor RSA (e.g. SM2/Ed25519).
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    cert = load_certificate(ca_pem, field="ca_certificate")
    try:
        pub = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        pub = None
    family = _family_of_public_key(pub)
    if family == "EC":
        return KeyAlgorithm.EC_P256
    if family == "RSA":
        return KeyAlgorithm.RSA_2048
    raise invalid_input("ca_certificate", "the CA certificate's key is neither EC nor RSA")


def key_algorithm_of_key(key: object) -> KeyAlgorithm:
    """The :class:`KeyAlgorithm` of a private or public key (EC P-256 or RSA 2048/3072/4096).

    Raises ``AlbMtlsError("INVALID_INPUT", field="key")`` for any other key.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, ec.SECP256R1):
        return KeyAlgorithm.EC_P256
    if isinstance(pub, rsa.RSAPublicKey) and pub.key_size in (2048, 3072, 4096):
        return KeyAlgorithm(f"RSA_{pub.key_size}")
    raise invalid_input("key", "unsupported key: use EC P-256 or RSA 2048/3072/4096")


def generate_key(alg: KeyAlgorithm | str = KeyAlgorithm.EC_P256) -> PrivateKey:
    """A new private key (EC P-256 by default; RSA with public exponent 65537).

    Raises ``AlbMtlsError("INVALID_INPUT", field="key_algorithm")`` for an unknown name.
    """
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    try:
        alg = KeyAlgorithm(alg)
    except ValueError:
        raise invalid_input("key_algorithm", "unknown key algorithm; expected one of "
                             + ", ".join(a.value for a in KeyAlgorithm)) from None
    if alg is KeyAlgorithm.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    bits = alg.rsa_bits
    assert bits is not None  # every other algorithm is RSA
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: PrivateKey, password: str | None = None) -> bytes:
    """PKCS#8 PEM of ``key``; encrypted with ``password`` (best available) when given."""
    from cryptography.hazmat.primitives import serialization
    enc = (serialization.BestAvailableEncryption(password.encode()) if password
           else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


def load_private_key_pem(pem: str | bytes, password: str | None = None) -> PrivateKey:
    """Load a PEM private key. Raises ``INVALID_INPUT`` (field ``key``) without echoing it."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise invalid_input("key", "not a readable PEM private key (or wrong password)") from None
    key_algorithm_of_key(key)
    assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))  # key_algorithm_of_key refused others
    return key


# --------------------------------------------------------------------------------------------
# Certificates, CSR
# --------------------------------------------------------------------------------------------

def load_certificate(cert: CertLike, *, field: str = "certificate") -> x509.Certificate:
    """Parse one certificate from PEM (str/bytes), DER bytes, or pass a Certificate through.

    Raises ``AlbMtlsError("INVALID_INPUT", field=field)``; the message never includes the input.
    """
    from cryptography import x509
    if isinstance(cert, x509.Certificate):
        return cert
    try:
        if isinstance(cert, str):
            return x509.load_pem_x509_certificate(cert.encode("ascii"))
        if isinstance(cert, (bytes, bytearray)):
            data = bytes(cert)
            if b"-----BEGIN" in data:
                return x509.load_pem_x509_certificate(data)
            return x509.load_der_x509_certificate(data)
    except (ValueError, UnicodeEncodeError):
        pass
    raise invalid_input(field, "not a readable X.509 certificate")


def public_key_of(obj: object) -> object:
    """The public key of a private key, public key, certificate, CSR, or their PEM text."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    if isinstance(obj, (str, bytes)):
        data = obj.encode() if isinstance(obj, str) else obj
        for loader in (x509.load_pem_x509_csr, x509.load_pem_x509_certificate,
                       serialization.load_pem_public_key):
            try:
                return public_key_of(loader(data))
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
        raise invalid_input("expected_public_key", "not a readable CSR, certificate or public key")
    if isinstance(obj, (x509.Certificate, x509.CertificateSigningRequest)):
        return obj.public_key()
    if hasattr(obj, "public_key"):
        return obj.public_key()
    return obj


def _spki(pub: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization
    der: bytes = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


_CN_PUNCT = set(" -._@+:'()&/")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^\s]+$")
_URN_RE = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9\-]{0,31}:[^\s]+$", re.IGNORECASE)
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_EMAIL_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}$")


def check_common_name(cn: str) -> None:
    """The rule a client certificate's CN follows (the CSR's and the input's, one rule):
    ``INVALID_INPUT`` (field ``common_name``) naming what to change."""
    if not isinstance(cn, str) or not 1 <= len(cn) <= 64:
        raise invalid_input("common_name", "common name must be 1 to 64 characters")
    if cn != cn.strip():
        raise invalid_input("common_name", "common name must not start or end with a space")
    for ch in cn:
        cat = unicodedata.category(ch)
        if cat[0] in "LNM" or ch in _CN_PUNCT:
            continue
        raise invalid_input(
            "common_name",
            f"common name contains a disallowed character U+{ord(ch):04X}; allowed are letters, "
            "digits, spaces and - . _ @ + : ' ( ) & /")


def _is_dns_name(value: str) -> bool:
    if not value.isascii() or len(value.rstrip(".")) > 253:
        return False
    labels = value.rstrip(".").split(".")
    return bool(labels) and all(_LABEL_RE.match(label) for label in labels)


SanKind = Literal["ip", "uri", "email", "dns"]


#: RFC 3986 §2: the characters a URI is written with (unreserved, reserved, and % of a pct-encoding)
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
_PCT_BAD = re.compile(r"%(?![0-9A-Fa-f]{2})")


def uri_problem(value: str) -> str | None:
    """Why ``value`` (``scheme://…`` or ``urn:…``) is no URI as RFC 3986 writes one — ``None`` when it is
    (pure string rules: the policy layer imports no urllib):
    the scheme (§3.1: a letter, then letters, digits, ``+ - .``), only the characters of §2 (anything
    else percent-encoded, ``%`` followed by two hex digits), and after ``//`` an authority with a host
    (§3.2: ``spiffe://corp.test/bob``, ``https://a.corp.test/``)."""
    if not value.isascii() or not _URI_CHARS.match(value):
        return "a URI SAN is written with RFC 3986's characters only: percent-encode the others (a space is %20)"
    if _PCT_BAD.search(value):
        return "a % in a URI starts a percent-encoding of two hex digits (%2F); write a % itself as %25"
    if "://" in value:      # §3.2: authority = [userinfo "@"] host [":" port], up to the first / ? #
        authority = re.split(r"[/?#]", value.split("://", 1)[1], maxsplit=1)[0]
        host = authority.rpartition("@")[2]
        host = host[1:host.find("]")] if host.startswith("[") and "]" in host else host.rpartition(":")[0] \
            if re.search(r":[0-9]*$", host) else host
        if not host or "[" in host or "]" in host:
            return "a URI with // names a host after it (scheme://host/path)"
    return None


def san_kind(value: str) -> SanKind:
    """The kind of one subjectAltName string — the rule the input validator (``ClientSpec``) and the
    CSR (:func:`parse_san`) both apply. Detection order: IP address (v4/v6); ``scheme://…`` or
    ``urn:nid:…`` → URI; ``local@domain`` → email; an ASCII LDH host name → DNS. Internationalised
    names must be given in A-label (``xn--``) form; wildcards are refused (this is a client
    certificate). Raises ``AlbMtlsError("INVALID_INPUT", field="sans")`` naming the SAN."""
    if not isinstance(value, str) or not value or value != value.strip():
        raise invalid_input("sans", f"SAN {value!r}: a SAN must be a non-empty string without surrounding spaces")
    try:
        ipaddress.ip_address(value)
        return "ip"
    except ValueError:
        pass
    if _URI_RE.match(value) or _URN_RE.match(value):
        problem = uri_problem(value)
        if problem:
            raise invalid_input("sans", f"SAN {value!r}: {problem}")
        return "uri"
    if "@" in value:
        local, _, domain = value.rpartition("@")
        if _EMAIL_LOCAL_RE.match(local) and _is_dns_name(domain) and "." in domain:
            return "email"
        raise invalid_input("sans", f"SAN {value!r}: an email SAN must be an ASCII local@domain address, "
                            "e.g. alice@example.com")
    if _is_dns_name(value):
        return "dns"
    raise invalid_input("sans", f"SAN {value!r}: a SAN must be a DNS name (letters, digits and - in each label; "
                        "no wildcards, no _), an email address, an IP address or a URI (scheme://…); "
                        "non-ASCII host names in xn-- form")


def parse_san(value: str) -> x509.GeneralName:
    """One subjectAltName string as its ``x509`` general name (kind by :func:`san_kind`: IP →
    ``x509.IPAddress``, URI → ``x509.UniformResourceIdentifier``, email → ``x509.RFC822Name``, DNS →
    ``x509.DNSName``). Raises ``AlbMtlsError("INVALID_INPUT", field="sans")`` for anything else."""
    from cryptography import x509
    kind = san_kind(value)
    if kind == "ip":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "uri":
        return x509.UniformResourceIdentifier(value)
    return x509.RFC822Name(value) if kind == "email" else x509.DNSName(value)


def build_csr(key: PrivateKey, common_name: str, sans: list[str] | tuple[str, ...] = (),
              *, client_auth_extensions: bool = True) -> str:
    """A PEM CSR (PKCS#10) for a client certificate, signed with SHA-256 by ``key``.

    Parameters
    ----------
    key
        The EC or RSA private key (see :func:`generate_key`); it never leaves this process.
    common_name
        1–64 characters: letters/digits of any script, spaces (not leading/trailing) and
        ``- . _ @ + : ' ( ) & /``. Encoded as UTF8String.
    sans
        Strings typed by :func:`parse_san` (DNS / email / IP / URI); duplicates dropped, order
        kept. Empty → no subjectAltName extension.
    client_auth_extensions
        Also request ``extendedKeyUsage=clientAuth`` and critical ``keyUsage=digitalSignature``.

    Returns
    -------
    str
        ``-----BEGIN CERTIFICATE REQUEST-----`` … PEM text.

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` with field ``common_name``, ``sans`` or ``key``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    key_algorithm_of_key(key)
    check_common_name(common_name)
    names: list[x509.GeneralName] = []
    for raw in sans or ():
        gn = parse_san(raw)
        if gn not in names:
            names.append(gn)
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if client_auth_extensions:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                          crl_sign=False, encipher_only=False, decipher_only=False),
            critical=True)
    csr = builder.sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --------------------------------------------------------------------------------------------
# Fingerprints and serials
# --------------------------------------------------------------------------------------------

def fingerprint_sha256(cert_pem: CertLike) -> str:
    """SHA-256 over the certificate's DER, as **lowercase hex without colons** (64 chars)."""
    from cryptography.hazmat.primitives import hashes
    return load_certificate(cert_pem).fingerprint(hashes.SHA256()).hex()


def normalize_fingerprint(value: str) -> str:
    """``"AB:CD:…"``, ``"ab cd …"`` or ``"abcd…"`` → ``"abcd…"`` (to compare with ours)."""
    return re.sub(r"[^0-9a-fA-F]", "", value).lower()


def serial_hex(cert: CertLike) -> str:
    """The serial number as lowercase hex without separators or leading zeros (``"1a2b"``)."""
    return format(load_certificate(cert).serial_number, "x")


# --------------------------------------------------------------------------------------------
# The rest of the PKI, by name (PEP 562): leaf checks, passwords, PKCS#12
# --------------------------------------------------------------------------------------------
_ELSEWHERE = {
    **dict.fromkeys(("LeafProblem", "check_leaf", "verify_leaf"), "shared.policy.leaf"),
    **dict.fromkeys(("PASSWORD_ALPHABET", "PASSWORD_ALPHABET_ALNUM", "PASSWORD_SYMBOLS", "MIN_PASSWORD_LENGTH",
                     "MAX_PASSWORD_LENGTH", "generate_password", "validate_password", "PfxProfile", "PFX_PROFILES",
                     "MIN_PFX_ITERATIONS", "DEFAULT_PFX_ITERATIONS", "MAX_PFX_ITERATIONS", "MAX_PFX_BYTES",
                     "PbeInfo", "PfxInfo", "build_pfx", "inspect_pfx", "verify_pfx"), "shared.policy.pfx"),
    "_read": "shared.policy.der",
}


def __getattr__(name: str) -> Any:
    module = _ELSEWHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)

