"""Client-certificate PKI: keys, CSRs, leaf checks, fingerprints, passwords and PKCS#12 files.

Pure code over ``cryptography`` (no I/O, no logging, no cloud calls). The private key of a
client certificate is generated here, its CSR goes to the PCA sub-CA
(``CreateClientCertificateWithCsr``), and the issued leaf comes back here to be checked and
packed into a password-protected PKCS#12 (PFX) for the person who will hold it.

Rules this module keeps (DESIGN.md §3 "client certs", "PKCS#12", "leaf checks", "secrets"):

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

import datetime as _dt
import enum
import ipaddress
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Union

from shared.core.errors import AlbMtlsError, Code, invalid_input

# ``cryptography`` is imported inside the functions that use it (cold start, DESIGN §6: the
# x509/pkcs12 modules cost ~15 ms that a handler import must not pay before its first call).
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = [
    "KeyAlgorithm", "key_algorithm_of_certificate", "key_algorithm_of_key", "generate_key",
    "private_key_pem", "load_private_key_pem",
    "parse_san", "build_csr", "load_certificate", "public_key_of",
    "LeafProblem", "check_leaf", "verify_leaf",
    "fingerprint_sha256", "normalize_fingerprint", "serial_hex",
    "PASSWORD_ALPHABET", "MIN_PASSWORD_LENGTH", "generate_password", "validate_password",
    "PfxProfile", "PFX_PROFILES", "MIN_PFX_ITERATIONS", "DEFAULT_PFX_ITERATIONS",
    "PbeInfo", "PfxInfo", "build_pfx", "inspect_pfx", "verify_pfx",
]

PrivateKey = Union["ec.EllipticCurvePrivateKey", "rsa.RSAPrivateKey"]
CertLike = Union[str, bytes, "x509.Certificate"]


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------

class KeyAlgorithm(str, enum.Enum):
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


def _family_of_public_key(pub) -> Literal["EC", "RSA"] | None:
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


def key_algorithm_of_key(key) -> KeyAlgorithm:
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
    return rsa.generate_private_key(public_exponent=65537, key_size=alg.rsa_bits)


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
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise invalid_input("key", "not a readable PEM private key (or wrong password)") from None
    key_algorithm_of_key(key)
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


def public_key_of(obj) -> object:
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


def _spki(pub) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


_CN_PUNCT = set(" -._@+:'()&/")
_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://[^\s]+$")
_URN_RE = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9\-]{0,31}:[^\s]+$", re.IGNORECASE)
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_EMAIL_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]{1,64}$")


def _validate_common_name(cn: str) -> None:
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


def parse_san(value: str) -> x509.GeneralName:
    """Type one subjectAltName string.

    Detection order: IP address (v4/v6) → ``x509.IPAddress``; ``scheme://…`` or ``urn:nid:…`` →
    ``x509.UniformResourceIdentifier``; ``local@domain`` → ``x509.RFC822Name`` (email); an ASCII
    LDH host name → ``x509.DNSName``. Internationalised names must be given in A-label
    (``xn--``) form; wildcards are refused (this is a client certificate).

    Raises ``AlbMtlsError("INVALID_INPUT", field="sans")`` for anything else.
    """
    from cryptography import x509
    if not isinstance(value, str) or not value or value != value.strip():
        raise invalid_input("sans", "a SAN must be a non-empty string without surrounding spaces")
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        pass
    if _URI_RE.match(value) or _URN_RE.match(value):
        if not value.isascii():
            raise invalid_input("sans", "a URI SAN must be ASCII (percent-encode it)")
        return x509.UniformResourceIdentifier(value)
    if "@" in value:
        local, _, domain = value.rpartition("@")
        if _EMAIL_LOCAL_RE.match(local) and _is_dns_name(domain) and "." in domain:
            return x509.RFC822Name(value)
        raise invalid_input("sans", "an email SAN must be an ASCII local@domain address")
    if _is_dns_name(value):
        return x509.DNSName(value)
    raise invalid_input("sans", "a SAN must be a DNS name, email address, IP address "
                        "or URI (non-ASCII host names in xn-- form, no wildcards)")


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
    _validate_common_name(common_name)
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
# Leaf checks
# --------------------------------------------------------------------------------------------

class LeafProblem(NamedTuple):
    """One failed leaf check: a stable ``code`` and a human sentence (no PEM, no key)."""

    code: str
    message: str


def _utc(value: _dt.datetime, field: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime) or value.tzinfo is None:
        raise invalid_input(field, "a timezone-aware datetime is required")
    return value.astimezone(_dt.timezone.utc)


def _ext(cert: x509.Certificate, cls):
    from cryptography import x509
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _common_name(cert: x509.Certificate) -> str | None:
    from cryptography.x509.oid import NameOID
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    """``None`` when ``parent`` signed ``child``; else ``"issuer_mismatch"``/``"bad_signature"``."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    try:
        child.verify_directly_issued_by(parent)
    except ValueError:
        return "issuer_mismatch"
    except (InvalidSignature, TypeError, UnsupportedAlgorithm):
        return "bad_signature"
    return None


def check_leaf(leaf_pem: CertLike, ca_pem: CertLike, chain_pems: list[CertLike] | tuple = (),
               now: _dt.datetime | None = None, expected_cn: str | None = None,
               expected_public_key=None, *,
               clock_skew: _dt.timedelta = _dt.timedelta(0)) -> list[LeafProblem]:
    """Every reason why ``leaf_pem`` would fail mTLS against the listener's CA; ``[]`` if none.

    Parameters
    ----------
    leaf_pem
        The issued client certificate.
    ca_pem
        The CA certificate bound on the listener (``CaCertificates``), normally the issuing
        sub-CA.
    chain_pems
        The chain shipped with the leaf: issuing sub-CA first, then optionally its parents.
        Empty → the leaf must be issued directly by ``ca_pem``.
    now
        Current time (timezone-aware, required). The leaf must satisfy
        ``notBefore ≤ now + clock_skew`` and ``now ≤ notAfter`` — a backdated ``notBefore``
        is fine.
    expected_cn
        If given, the leaf's subject CN must equal it.
    expected_public_key
        If given (private/public key, CSR or its PEM), the leaf must carry that public key.

    Returns
    -------
    list[LeafProblem]
        Codes: ``no_client_auth_eku``, ``no_digital_signature``, ``is_ca``,
        ``issuer_mismatch``, ``bad_signature``, ``chain_broken``, ``not_chained_to_listener_ca``,
        ``ca_ends_before_leaf``, ``ca_not_valid_now``, ``not_yet_valid``, ``expired``,
        ``cn_mismatch``, ``public_key_mismatch``, ``key_family_mismatch``,
        ``weak_signature_hash``.

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` when an input cannot be parsed or ``now`` is missing/naive.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID
    if now is None:
        raise invalid_input("now", "now is required (inject the clock)")
    now = _utc(now, "now")
    leaf = load_certificate(leaf_pem, field="leaf")
    ca = load_certificate(ca_pem, field="ca_certificate")
    chain = [load_certificate(c, field="chain") for c in (chain_pems or ())]
    problems: list[LeafProblem] = []

    def add(code: str, message: str) -> None:
        problems.append(LeafProblem(code, message))

    # Extensions of the leaf.
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        add("no_client_auth_eku", "extendedKeyUsage does not include clientAuth")
    ku = _ext(leaf, x509.KeyUsage)
    if ku is None or not ku.digital_signature:
        add("no_digital_signature", "keyUsage does not include digitalSignature")
    bc = _ext(leaf, x509.BasicConstraints)
    if bc is not None and bc.ca:
        add("is_ca", "basicConstraints says CA:TRUE; a client certificate must be CA:FALSE")
    hash_alg = leaf.signature_hash_algorithm
    if isinstance(hash_alg, (hashes.SHA1, hashes.MD5)):
        add("weak_signature_hash", f"signed with {hash_alg.name}; ALB wants SHA-256 or better")

    # Chain: leaf → chain[0] → chain[1] …, and the listener CA somewhere on that path.
    path = [leaf, *chain]
    chained = False
    link_failed = False
    for i in range(len(path)):
        if path[i] == ca and i > 0:
            chained = True
            break
        if i + 1 < len(path):
            err = _issued_by(path[i], path[i + 1])
            if err is not None:
                link_failed = True
                if i == 0:
                    add(err, "the leaf is not signed by the first certificate of the chain"
                        if err == "bad_signature" else
                        "the leaf's issuer is not the first certificate of the chain")
                else:
                    add("chain_broken", f"chain certificate {i} is not issued by chain "
                        f"certificate {i + 1}")
                break
        else:
            err = _issued_by(path[i], ca)
            if err is None:
                chained = True
                path.append(ca)
            elif i == 0:
                link_failed = True
                add(err, "the leaf is not issued by the listener's CA certificate"
                    if err == "issuer_mismatch" else
                    "the leaf's signature does not verify with the listener's CA key")
    if not chained and not link_failed:
        add("not_chained_to_listener_ca", "the chain does not lead to the CA bound on the listener")

    issuer = path[1] if len(path) > 1 else ca
    leaf_family = _family_of_public_key(leaf.public_key())
    if leaf_family != _family_of_public_key(issuer.public_key()):
        add("key_family_mismatch", "the leaf key family differs from the issuing CA's")

    # Validity.
    leaf_nb, leaf_na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    cas_on_path = [c for c in path[1:]] or [ca]
    if ca not in cas_on_path:
        cas_on_path.append(ca)
    if any(c.not_valid_after_utc < leaf_na for c in cas_on_path):
        add("ca_ends_before_leaf", "a CA certificate expires before the leaf (notAfter)")
    if any(not (c.not_valid_before_utc <= now + clock_skew and now <= c.not_valid_after_utc)
           for c in cas_on_path):
        add("ca_not_valid_now", "a CA certificate is not valid at the given time")
    if now + clock_skew < leaf_nb:
        add("not_yet_valid", "the leaf's notBefore is in the future")
    if now > leaf_na:
        add("expired", "the leaf's notAfter has passed")

    # Identity.
    if expected_cn is not None and _common_name(leaf) != expected_cn:
        add("cn_mismatch", "the leaf's common name is not the one requested")
    if expected_public_key is not None:
        if _spki(leaf.public_key()) != _spki(public_key_of(expected_public_key)):
            add("public_key_mismatch", "the leaf's public key is not the CSR's key")
    return problems


def verify_leaf(leaf_pem: CertLike, ca_pem: CertLike, chain_pems: list[CertLike] | tuple = (),
                now: _dt.datetime | None = None, expected_cn: str | None = None,
                expected_public_key=None, *,
                clock_skew: _dt.timedelta = _dt.timedelta(0)) -> None:
    """:func:`check_leaf`, raising ``AlbMtlsError("CERT_CHECK_FAILED")`` on any problem.

    The message lists the problem codes and sentences (never certificate or key text).
    """
    problems = check_leaf(leaf_pem, ca_pem, chain_pems, now, expected_cn, expected_public_key,
                          clock_skew=clock_skew)
    if problems:
        raise AlbMtlsError("CERT_CHECK_FAILED", "client certificate check failed: "
                           + "; ".join(f"{p.code} ({p.message})" for p in problems))


# --------------------------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------------------------

#: Characters of generated passwords: letters and digits without look-alikes (0 O 1 l I) and
#: ``- _ . + @``. No quotes, backslash, space, ``$ % ! ^ & ` ~ # ;`` — nothing a shell,
#: ``cmd.exe``, PowerShell or a dialog would interpret. Symbols never come first or last.
PASSWORD_ALPHABET_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
PASSWORD_SYMBOLS = "-_.+@"
PASSWORD_ALPHABET = PASSWORD_ALPHABET_ALNUM + PASSWORD_SYMBOLS
#: Shortest password :func:`build_pfx` accepts (generated ones are ≥ 20).
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128


def generate_password(length: int = 24) -> str:
    """A random PFX password from :mod:`secrets` (≈ 5.95 bits/char; 24 chars ≈ 143 bits).

    ``length`` ≥ 20 (default 24, at most 128). Characters come from :data:`PASSWORD_ALPHABET`;
    the result holds at least one upper-case letter, lower-case letter, digit and symbol, and
    starts and ends with a letter or digit.

    Raises ``AlbMtlsError("INVALID_INPUT", field="length")`` for a length out of range.
    """
    if not isinstance(length, int) or isinstance(length, bool) or not 20 <= length <= 128:
        raise invalid_input("length", "password length must be 20 to 128")
    while True:
        middle = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length - 2))
        pw = (secrets.choice(PASSWORD_ALPHABET_ALNUM) + middle
              + secrets.choice(PASSWORD_ALPHABET_ALNUM))
        if (any(c.isupper() for c in pw) and any(c.islower() for c in pw)
                and any(c.isdigit() for c in pw) and any(c in PASSWORD_SYMBOLS for c in pw)):
            return pw


def validate_password(password: str) -> bytes:
    """Check a PFX password and return it as bytes for ``cryptography``.

    Must be a ``str`` of :data:`MIN_PASSWORD_LENGTH`–128 printable ASCII characters
    (U+0020–U+007E): non-ASCII passwords are encoded differently by Windows, macOS and OpenSSL,
    so an importer may call the right password wrong.

    Raises ``AlbMtlsError("INVALID_INPUT", field="password")`` (the message never echoes it).
    """
    if not isinstance(password, str) or not password:
        raise invalid_input("password", "a non-empty password is required")
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise invalid_input("password", f"the password must be {MIN_PASSWORD_LENGTH} to "
                            f"{MAX_PASSWORD_LENGTH} characters")
    if not all(" " <= c <= "~" for c in password):
        raise invalid_input("password", "the password must be printable ASCII")
    return password.encode("ascii")


# --------------------------------------------------------------------------------------------
# PKCS#12: a tiny DER/BER reader (no cryptography API exposes the PBE algorithms of a file)
# --------------------------------------------------------------------------------------------

class _DerError(ValueError):
    pass


class _Node(NamedTuple):
    tag: int          # the identifier octet (single-byte tags only)
    data: bytes       # the whole buffer
    start: int        # first content octet
    end: int          # one past the last content octet
    next: int         # one past this element (after an end-of-contents for indefinite length)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    @property
    def content(self) -> bytes:
        return self.data[self.start:self.end]


_MAX_DEPTH = 32


def _read(data: bytes, pos: int = 0, limit: int | None = None, depth: int = 0) -> _Node:
    limit = len(data) if limit is None else limit
    if depth > _MAX_DEPTH:
        raise _DerError("nesting too deep")
    if pos + 2 > limit:
        raise _DerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("multi-byte tags are not used in PKCS#12")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:                       # BER indefinite length: children up to 00 00
        if not tag & 0x20:
            raise _DerError("indefinite length on a primitive")
        cur = pos
        while True:
            if cur + 2 > limit:
                raise _DerError("truncated")
            if data[cur] == 0 and data[cur + 1] == 0:
                return _Node(tag, data, pos, cur, cur + 2)
            cur = _read(data, cur, limit, depth + 1).next
    else:
        n = first & 0x7F
        if n > 4 or pos + n > limit:
            raise _DerError("bad length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > limit:
        raise _DerError("truncated")
    return _Node(tag, data, pos, pos + length, pos + length)


def _children(node: _Node, depth: int = 0) -> list[_Node]:
    if not node.constructed:
        raise _DerError("expected a constructed element")
    out, pos = [], node.start
    while pos < node.end:
        child = _read(node.data, pos, node.end, depth + 1)
        out.append(child)
        pos = child.next
    return out


def _expect(node: _Node, tag: int) -> _Node:
    if node.tag != tag:
        raise _DerError(f"expected tag {tag:#x}, got {node.tag:#x}")
    return node


def _octets(node: _Node) -> bytes:
    """Content of an OCTET STRING, primitive (0x04) or BER-constructed (0x24)."""
    if node.tag == 0x04:
        return node.content
    if node.tag == 0x24:
        return b"".join(_octets(c) for c in _children(node))
    raise _DerError("expected an OCTET STRING")


def _oid(node: _Node) -> str:
    raw = _expect(node, 0x06).content
    if not raw:
        raise _DerError("empty OID")
    arcs, value = [], 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _int(node: _Node) -> int:
    return int.from_bytes(_expect(node, 0x02).content, "big", signed=True)


def _explicit0(node: _Node) -> _Node:
    kids = _children(_expect(node, 0xA0))
    if len(kids) != 1:
        raise _DerError("expected one element in [0]")
    return kids[0]


def _parse_whole(data: bytes) -> _Node:
    node = _read(data, 0)
    if node.next != len(data):
        raise _DerError("trailing data")
    return node


# --------------------------------------------------------------------------------------------
# PKCS#12: algorithms
# --------------------------------------------------------------------------------------------

OID_DATA = "1.2.840.113549.1.7.1"
OID_ENCRYPTED_DATA = "1.2.840.113549.1.7.6"
OID_KEY_BAG = "1.2.840.113549.1.12.10.1.1"
OID_SHROUDED_KEY_BAG = "1.2.840.113549.1.12.10.1.2"
OID_CERT_BAG = "1.2.840.113549.1.12.10.1.3"
OID_PBE_SHA1_3DES = "1.2.840.113549.1.12.1.3"
OID_PBES2 = "1.2.840.113549.1.5.13"
OID_PBKDF2 = "1.2.840.113549.1.5.12"
OID_AES256_CBC = "2.16.840.1.101.3.4.1.42"
OID_HMAC_SHA1 = "1.2.840.113549.2.7"
OID_HMAC_SHA256 = "1.2.840.113549.2.9"
OID_SHA1 = "1.3.14.3.2.26"
OID_SHA256 = "2.16.840.1.101.3.4.2.1"

_OID_NAMES = {
    "1.2.840.113549.1.12.1.1": "pbeWithSHAAnd128BitRC4",
    "1.2.840.113549.1.12.1.2": "pbeWithSHAAnd40BitRC4",
    OID_PBE_SHA1_3DES: "pbeWithSHAAnd3-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.4": "pbeWithSHAAnd2-KeyTripleDES-CBC",
    "1.2.840.113549.1.12.1.5": "pbeWithSHAAnd128BitRC2-CBC",
    "1.2.840.113549.1.12.1.6": "pbeWithSHAAnd40BitRC2-CBC",
    "1.2.840.113549.1.5.1": "pbeWithMD2AndDES-CBC",
    "1.2.840.113549.1.5.3": "pbeWithMD5AndDES-CBC",
    "1.2.840.113549.1.5.4": "pbeWithMD2AndRC2-CBC",
    "1.2.840.113549.1.5.6": "pbeWithMD5AndRC2-CBC",
    "1.2.840.113549.1.5.10": "pbeWithSHA1AndDES-CBC",
    "1.2.840.113549.1.5.11": "pbeWithSHA1AndRC2-CBC",
    OID_PBES2: "PBES2",
    OID_PBKDF2: "PBKDF2",
    OID_AES256_CBC: "aes-256-cbc",
    "2.16.840.1.101.3.4.1.2": "aes-128-cbc",
    "2.16.840.1.101.3.4.1.22": "aes-192-cbc",
    "1.2.840.113549.3.7": "des-ede3-cbc",
    "1.2.840.113549.3.2": "rc2-cbc",
    "1.3.14.3.2.7": "des-cbc",
    OID_HMAC_SHA1: "hmacWithSHA1",
    OID_HMAC_SHA256: "hmacWithSHA256",
    "1.2.840.113549.2.10": "hmacWithSHA384",
    "1.2.840.113549.2.11": "hmacWithSHA512",
    OID_SHA1: "sha1",
    OID_SHA256: "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
#: Algorithms refused in any PFX: RC2 (OpenSSL 3 needs the legacy provider), RC4, single DES.
_REFUSED_OIDS = frozenset({
    "1.2.840.113549.1.12.1.1", "1.2.840.113549.1.12.1.2", "1.2.840.113549.1.12.1.5",
    "1.2.840.113549.1.12.1.6", "1.2.840.113549.1.5.1", "1.2.840.113549.1.5.3",
    "1.2.840.113549.1.5.4", "1.2.840.113549.1.5.6", "1.2.840.113549.1.5.10",
    "1.2.840.113549.1.5.11", "1.2.840.113549.3.2", "1.3.14.3.2.7",
})


def _name(oid: str | None) -> str | None:
    return None if oid is None else _OID_NAMES.get(oid, oid)


@dataclass(frozen=True)
class PbeInfo:
    """The password-based encryption of one part of a PFX.

    ``where`` is ``"key"`` (a pkcs8ShroudedKeyBag) or ``"certs"`` (an encryptedData content).
    For PBES1, ``scheme_oid`` names the whole algorithm and ``cipher_oid``/``prf_oid`` are
    ``None``; for PBES2 they name the cipher (e.g. AES-256-CBC) and PBKDF2's PRF.
    """

    where: Literal["key", "certs"]
    scheme_oid: str
    cipher_oid: str | None
    prf_oid: str | None
    iterations: int

    @property
    def name(self) -> str:
        """E.g. ``pbeWithSHAAnd3-KeyTripleDES-CBC`` or ``PBES2/PBKDF2(hmacWithSHA256)/aes-256-cbc``."""
        if self.scheme_oid == OID_PBES2:
            return f"PBES2/PBKDF2({_name(self.prf_oid)})/{_name(self.cipher_oid)}"
        return _name(self.scheme_oid) or self.scheme_oid

    @property
    def oids(self) -> tuple[str, ...]:
        return tuple(o for o in (self.scheme_oid, self.cipher_oid, self.prf_oid) if o)


def _pbe(alg_id: _Node, where: Literal["key", "certs"]) -> PbeInfo:
    parts = _children(_expect(alg_id, 0x30))
    scheme = _oid(parts[0])
    if scheme == OID_PBES2:
        kdf, enc = _children(_expect(parts[1], 0x30))[:2]
        kdf_parts = _children(kdf)
        if _oid(kdf_parts[0]) != OID_PBKDF2:
            return PbeInfo(where, scheme, _oid(_children(enc)[0]), _oid(kdf_parts[0]), 0)
        p = _children(kdf_parts[1])
        iterations = _int(p[1])
        prf = OID_HMAC_SHA1                                   # the DEFAULT in PKCS#5
        for extra in p[2:]:
            if extra.tag == 0x30:
                prf = _oid(_children(extra)[0])
        return PbeInfo(where, scheme, _oid(_children(enc)[0]), prf, iterations)
    iterations = 0
    if len(parts) > 1 and parts[1].tag == 0x30:
        params = _children(parts[1])
        if len(params) >= 2:
            iterations = _int(params[1])
    return PbeInfo(where, scheme, None, None, iterations)


PfxProfile = Literal["compat", "modern"]
#: ``compat``: PBES1 3DES key+cert bags, SHA-1 MAC (older Windows, macOS keychain);
#: ``modern``: PBES2 PBKDF2-HMAC-SHA-256 + AES-256-CBC, SHA-256 MAC.
PFX_PROFILES: tuple[str, ...] = ("compat", "modern")
MIN_PFX_ITERATIONS = 2048
DEFAULT_PFX_ITERATIONS = 2048
MAX_PFX_ITERATIONS = 1_000_000
MAX_PFX_BYTES = 1 << 20


@dataclass(frozen=True)
class PfxInfo:
    """What a PFX holds and how it is protected — read back from the file's bytes.

    Carries no key material and no password, so it is safe to log or return.

    Attributes
    ----------
    mac_algorithm_oid, mac_algorithm
        Digest of the MacData (``sha1`` / ``sha256`` / OID text).
    mac_iterations
        MacData iteration count (1 when absent, the ASN.1 default).
    key_encryption, cert_encryption
        :class:`PbeInfo` of every shrouded key bag / every encryptedData content.
    plain_key_bags, plain_cert_bags
        Bags stored without encryption (plain keyBag / certBag in a data content).
    profile
        ``"compat"`` or ``"modern"`` when every algorithm fits that profile, else ``None``.
    leaf_fingerprint_sha256, leaf_common_name, key_algorithm
        The certificate that goes with the key.
    ca_fingerprints_sha256
        The other certificates in the bag.
    key_matches_leaf, issuing_ca_present
        The key is the leaf's; a certificate in the bag signed the leaf.
    friendly_name
        The leaf's friendlyName attribute, if any.
    problems
        Codes of what is wrong regardless of profile: ``key_mismatch``,
        ``issuing_ca_missing``, ``low_iterations``, ``plain_key_bag``.
    """

    mac_algorithm_oid: str
    mac_algorithm: str
    mac_iterations: int
    key_encryption: tuple[PbeInfo, ...]
    cert_encryption: tuple[PbeInfo, ...]
    plain_key_bags: int
    plain_cert_bags: int
    profile: PfxProfile | None
    leaf_fingerprint_sha256: str
    leaf_common_name: str | None
    key_algorithm: KeyAlgorithm | None
    ca_fingerprints_sha256: tuple[str, ...]
    key_matches_leaf: bool
    issuing_ca_present: bool
    friendly_name: str | None
    problems: tuple[str, ...]


def _fits(profile: str, info_mac: str, encs: tuple[PbeInfo, ...]) -> bool:
    if not encs:
        return False
    if profile == "compat":
        return info_mac == OID_SHA1 and all(
            e.scheme_oid == OID_PBE_SHA1_3DES for e in encs)
    return info_mac == OID_SHA256 and all(
        e.scheme_oid == OID_PBES2 and e.cipher_oid == OID_AES256_CBC
        and e.prf_oid == OID_HMAC_SHA256 for e in encs)


def _pfx_fail(message: str) -> AlbMtlsError:
    return AlbMtlsError(Code.PFX_CHECK_FAILED, message)


def _walk_pfx(data: bytes) -> tuple[str, int, list[PbeInfo], list[PbeInfo], int, int]:
    pfx = _children(_expect(_parse_whole(data), 0x30))
    if len(pfx) < 2 or _int(pfx[0]) != 3:
        raise _DerError("not a PKCS#12 version 3 PFX")
    auth_safe = _children(_expect(pfx[1], 0x30))
    if _oid(auth_safe[0]) != OID_DATA:
        raise _DerError("only password-integrity (data) PFX files are supported")
    if len(pfx) < 3:
        raise _DerError("no MacData")
    mac_data = _children(_expect(pfx[2], 0x30))
    digest_alg = _children(_children(mac_data[0])[0])
    mac_oid = _oid(digest_alg[0])
    mac_iter = _int(mac_data[2]) if len(mac_data) > 2 else 1

    keys: list[PbeInfo] = []
    certs: list[PbeInfo] = []
    plain_keys = plain_certs = 0
    contents = _children(_expect(_read(_octets(_explicit0(auth_safe[1]))), 0x30))
    for ci in contents:
        parts = _children(_expect(ci, 0x30))
        ctype = _oid(parts[0])
        if ctype == OID_ENCRYPTED_DATA:
            enc_data = _children(_explicit0(parts[1]))
            eci = _children(enc_data[1])
            certs.append(_pbe(eci[1], "certs"))
        elif ctype == OID_DATA:
            safe = _read(_octets(_explicit0(parts[1])))
            for bag in _children(_expect(safe, 0x30)):
                bag_parts = _children(bag)
                bag_id = _oid(bag_parts[0])
                if bag_id == OID_SHROUDED_KEY_BAG:
                    epki = _children(_explicit0(bag_parts[1]))
                    keys.append(_pbe(epki[0], "key"))
                elif bag_id == OID_KEY_BAG:
                    plain_keys += 1
                elif bag_id == OID_CERT_BAG:
                    plain_certs += 1
        else:
            raise _DerError("unsupported content type in the PFX")
    return mac_oid, mac_iter, keys, certs, plain_keys, plain_certs


def inspect_pfx(pfx_bytes: bytes, password: str) -> PfxInfo:
    """Re-read a PFX: its algorithms from the ASN.1, its contents through ``cryptography``.

    The MacData (digest, iterations), the PBE algorithm of each shrouded key bag and each
    encryptedData content come from a small DER/BER walker, since no ``cryptography`` API
    exposes them. The file is then opened with ``password`` (which also verifies the MAC) to
    check that the key matches the leaf and that the issuing CA is in the bag.

    Returns
    -------
    PfxInfo
        With ``profile`` set when the file matches ``compat`` or ``modern`` exactly, and
        ``problems`` listing profile-independent defects.

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` (field ``password``) for an unusable password;
        ``PFX_CHECK_FAILED`` if the file is not a readable password-integrity PFX, has no MAC,
        uses a refused algorithm (RC2, RC4, single DES), does not open with the password, or
        holds no key or no certificate for it.
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import pkcs12
    pw = validate_password(password)
    if not isinstance(pfx_bytes, (bytes, bytearray)) or not pfx_bytes:
        raise _pfx_fail("the PFX is empty")
    data = bytes(pfx_bytes)
    if len(data) > MAX_PFX_BYTES:
        raise _pfx_fail("the PFX is larger than 1 MiB")
    try:
        mac_oid, mac_iter, keys, certs, plain_keys, plain_certs = _walk_pfx(data)
    except (_DerError, IndexError) as exc:
        raise _pfx_fail(f"the PFX structure cannot be read ({exc.__class__.__name__}: "
                        f"{exc if isinstance(exc, _DerError) else 'missing element'})") from None
    refused = sorted({_name(o) for e in (*keys, *certs) for o in e.oids if o in _REFUSED_OIDS})
    if refused:
        raise _pfx_fail("the PFX uses refused algorithms: " + ", ".join(refused)
                        + " (RC2/RC4/DES are not accepted; rebuild as compat or modern)")
    try:
        loaded = pkcs12.load_pkcs12(data, pw)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise _pfx_fail("the PFX does not open with this password (or is damaged)") from None
    if loaded.key is None or loaded.cert is None:
        raise _pfx_fail("the PFX holds no private key with its certificate")

    leaf = loaded.cert.certificate
    others = [c.certificate for c in loaded.additional_certs]
    key_matches = _spki(loaded.key.public_key()) == _spki(leaf.public_key())
    issuing_present = any(_issued_by(leaf, c) is None for c in others)
    encs = (*keys, *certs)
    problems = []
    if not key_matches:
        problems.append("key_mismatch")
    if not issuing_present:
        problems.append("issuing_ca_missing")
    if mac_iter < MIN_PFX_ITERATIONS or any(e.iterations < MIN_PFX_ITERATIONS for e in encs):
        problems.append("low_iterations")
    if plain_keys:
        problems.append("plain_key_bag")
    profile = next((p for p in PFX_PROFILES if _fits(p, mac_oid, encs)), None)
    try:
        key_alg = key_algorithm_of_key(loaded.key)
    except AlbMtlsError:
        key_alg = None
    fname = loaded.cert.friendly_name
    return PfxInfo(
        mac_algorithm_oid=mac_oid, mac_algorithm=_name(mac_oid) or mac_oid, mac_iterations=mac_iter,
        key_encryption=tuple(keys), cert_encryption=tuple(certs),
        plain_key_bags=plain_keys, plain_cert_bags=plain_certs, profile=profile,
        leaf_fingerprint_sha256=fingerprint_sha256(leaf), leaf_common_name=_common_name(leaf),
        key_algorithm=key_alg,
        ca_fingerprints_sha256=tuple(fingerprint_sha256(c) for c in others),
        key_matches_leaf=key_matches, issuing_ca_present=issuing_present,
        friendly_name=fname.decode("utf-8", "replace") if fname else None,
        problems=tuple(problems))


def verify_pfx(pfx_bytes: bytes, password: str, profile: PfxProfile, *,
               expected_leaf: CertLike | None = None) -> PfxInfo:
    """:func:`inspect_pfx`, then insist on ``profile`` and a clean bill of health.

    Requires: every shrouded key bag **and** every encryptedData content (the certificates)
    encrypted with the profile's algorithm, the profile's MAC digest, ≥
    :data:`MIN_PFX_ITERATIONS` iterations for the MAC and every encryption, no plain key bag,
    the key matching the leaf, the issuing CA present, and — if ``expected_leaf`` is given —
    that exact leaf.

    Raises
    ------
    AlbMtlsError
        ``PFX_CHECK_FAILED`` naming what differs (algorithm names only);
        ``INVALID_INPUT`` (field ``profile``) for an unknown profile.
    """
    if profile not in PFX_PROFILES:
        raise invalid_input("profile", "profile must be 'compat' or 'modern'")
    info = inspect_pfx(pfx_bytes, password)
    reasons = list(info.problems)
    if not info.key_encryption:
        reasons.append("key not in a shrouded (encrypted) key bag")
    if not info.cert_encryption:
        reasons.append("certificates not encrypted")
    if info.profile != profile:
        want = ("pbeWithSHAAnd3-KeyTripleDES-CBC + MAC sha1" if profile == "compat"
                else "PBES2/PBKDF2(hmacWithSHA256)/aes-256-cbc + MAC sha256")
        got = sorted({e.name for e in (*info.key_encryption, *info.cert_encryption)})
        reasons.append(f"expected {profile} ({want}), found {', '.join(got) or 'none'} "
                       f"+ MAC {info.mac_algorithm}")
    if expected_leaf is not None and \
            fingerprint_sha256(expected_leaf) != info.leaf_fingerprint_sha256:
        reasons.append("the leaf is not the expected certificate")
    if reasons:
        raise _pfx_fail("PFX check failed: " + "; ".join(reasons))
    return info


# --------------------------------------------------------------------------------------------
# PKCS#12: writing
# --------------------------------------------------------------------------------------------

def build_pfx(key: PrivateKey, leaf: CertLike, chain: list[CertLike] | tuple,
              password: str, profile: PfxProfile = "compat", friendly_name: str | None = None,
              *, iterations: int = DEFAULT_PFX_ITERATIONS, verify: bool = True) -> bytes:
    """A password-protected PKCS#12 holding ``key``, ``leaf`` and ``chain``.

    Parameters
    ----------
    key
        The leaf's private key (must match ``leaf``).
    leaf
        The client certificate.
    chain
        Issuing sub-CA first (required; it must have signed ``leaf``), then optionally the root.
        Stored as additional certificates with their CN as friendly name.
    password
        See :func:`validate_password` (12–128 printable ASCII; use :func:`generate_password`).
    profile
        ``"compat"`` (default, for people): PBES1 pbeWithSHAAnd3-KeyTripleDES-CBC for the key
        bag and the certificates, SHA-1 MAC. ``"modern"``: PBES2 PBKDF2-HMAC-SHA-256 with
        AES-256-CBC, SHA-256 MAC.
    friendly_name
        Label shown by keychains/certificate stores; defaults to the leaf's CN.
    iterations
        KDF iterations of the key and certificate encryption, :data:`MIN_PFX_ITERATIONS`
        (2048) to 1,000,000. The MAC's iteration count is set by ``cryptography`` (2048 in
        the pinned <51 releases); :func:`verify_pfx` checks it is ≥ 2048 either way.
    verify
        Re-read the result with :func:`verify_pfx` before returning it (default on).

    Returns
    -------
    bytes
        DER PKCS#12.

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` (fields ``password``, ``profile``, ``iterations``, ``key``,
        ``leaf``, ``chain``, ``friendly_name``); ``PFX_CHECK_FAILED`` if the re-read fails.
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12
    pw = validate_password(password)
    if profile not in PFX_PROFILES:
        raise invalid_input("profile", "profile must be 'compat' or 'modern'")
    if (not isinstance(iterations, int) or isinstance(iterations, bool)
            or not MIN_PFX_ITERATIONS <= iterations <= MAX_PFX_ITERATIONS):
        raise invalid_input("iterations", f"iterations must be {MIN_PFX_ITERATIONS} to "
                            f"{MAX_PFX_ITERATIONS}")
    key_algorithm_of_key(key)
    leaf_cert = load_certificate(leaf, field="leaf")
    cas = [load_certificate(c, field="chain") for c in (chain or ())]
    if not cas:
        raise invalid_input("chain", "the chain must hold the issuing sub-CA")
    if _spki(key.public_key()) != _spki(leaf_cert.public_key()):
        raise invalid_input("key", "the private key does not belong to the leaf")
    if _issued_by(leaf_cert, cas[0]) is not None:
        raise invalid_input("chain", "the first chain certificate did not issue the leaf")
    name = friendly_name if friendly_name is not None else (_common_name(leaf_cert) or None)
    if name is not None and (not isinstance(name, str) or len(name) > 128
                             or any(unicodedata.category(c)[0] == "C" for c in name)):
        raise invalid_input("friendly_name", "friendly name must be at most 128 printable "
                            "characters")

    if profile == "compat":
        alg, mac = pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1()
    else:
        alg, mac = pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()
    encryption = (serialization.PrivateFormat.PKCS12.encryption_builder()
                  .kdf_rounds(iterations).key_cert_algorithm(alg).hmac_hash(mac).build(pw))
    ca_items = [pkcs12.PKCS12Certificate(c, (_common_name(c) or "").encode("utf-8") or None)
                for c in cas]
    pfx = pkcs12.serialize_key_and_certificates(
        name.encode("utf-8") if name else None, key, leaf_cert, ca_items, encryption)
    if verify:
        verify_pfx(pfx, password, profile, expected_leaf=leaf_cert)
    return pfx

