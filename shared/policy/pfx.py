"""Passwords and PKCS#12 (PFX) files of client certificates: generated passwords, the two profiles
(``compat``: PBES1 3DES + SHA-1 MAC, what older Windows and the macOS keychain import; ``modern``:
PBES2/PBKDF2-HMAC-SHA-256/AES-256-CBC + SHA-256 MAC), writing a file and re-reading its algorithms
from its ASN.1 (``shared.policy.der``). Never RC2, never an empty password; nothing here logs, and no
exception message holds a password or a key. Pure over ``cryptography``; no I/O.

One module (~500 lines): the profiles, the writer and the re-reader of a file check each other.
"""
from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from shared.core.errors import AlbMtlsError, Code, invalid_input
from shared.policy.der import (
    _children,
    _DerError,
    _expect,
    _explicit0,
    _int,
    _Node,
    _octets,
    _oid,
    _parse_whole,
    _read,
)
from shared.policy.leaf import _common_name, _issued_by
from shared.policy.pki import (
    CertLike,
    KeyAlgorithm,
    PrivateKey,
    _spki,
    fingerprint_sha256,
    key_algorithm_of_key,
    load_certificate,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "PASSWORD_ALPHABET", "MIN_PASSWORD_LENGTH", "generate_password", "validate_password",
    "PfxProfile", "PFX_PROFILES", "MIN_PFX_ITERATIONS", "DEFAULT_PFX_ITERATIONS",
    "PbeInfo", "PfxInfo", "build_pfx", "inspect_pfx", "verify_pfx",
]

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
PFX_PROFILES: tuple[PfxProfile, ...] = ("compat", "modern")
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
    refused = sorted({_name(o) or o for e in (*keys, *certs) for o in e.oids if o in _REFUSED_OIDS})
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

def build_pfx(key: PrivateKey, leaf: CertLike, chain: Sequence[CertLike],
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

    mac: hashes.HashAlgorithm
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

