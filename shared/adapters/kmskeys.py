"""KMS asymmetric keys (``alibabacloud_kms20160120``, API ``2016-01-20``; docs/ALIBABA-APIS.md §7):
the keys of an own CA, which never leave KMS, and the private-key objects that sign through them.

:class:`KmsKeys` is the thin adapter (CreateKey in a KMS instance, DescribeKey by id or alias,
GetPublicKey, AsymmetricSign, aliases, scheduled deletion, the instance). :class:`KmsEcKey` and
:class:`KmsRsaKey` are ``cryptography`` private-key objects whose ``sign`` calls ``AsymmetricSign``
with the SHA-256 digest of the bytes to sign: ``cryptography``'s certificate, CRL and CSR builders
accept them (they call ``key.sign(tbs, …)``), so the TBSCertificate is assembled by ``cryptography``
and only the signature comes from KMS (the pattern a pyca maintainer recommends for external signers,
pyca/cryptography#11616; docs/DECISIONS.md §8 "own CA"). Every signature is verified with the public
key before it is returned, so a wrong key version or a format surprise fails here, not in a
published certificate. ``private_bytes`` / ``private_numbers`` raise: the private key is not here.

KMS facts (docs/ALIBABA-APIS.md §7.3): ``Digest`` is Base64 of the SHA-256 digest (the caller
hashes); ``ECDSA_SHA_256`` answers a DER ``SEQUENCE{r, s}`` — what X.509 wants; RSA keys sign
``RSA_PKCS1_SHA_256`` here (``RSA_PSS_SHA_256``'s salt length is undocumented).
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError, Code

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
    from cryptography.hazmat.primitives.asymmetric.padding import AsymmetricPadding
    from cryptography.utils import Buffer

__all__ = ["KmsKeys", "KeyInfo", "KmsInstance", "KmsEcKey", "KmsRsaKey", "KmsSigningKey", "signing_key",
           "KEY_SPECS", "SIGN_ALGORITHM"]

#: the key specs an own CA may use and the ``AsymmetricSign`` algorithm each signs X.509 with
KEY_SPECS = ("EC_P256", "RSA_2048")
SIGN_ALGORITHM = {"EC_P256": "ECDSA_SHA_256", "RSA_2048": "RSA_PKCS1_SHA_256"}


def _models() -> Any:
    from shared.adapters.kms import _models as kms_models  # the SDK's query-string log guard comes with it

    return kms_models()


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """``KeyMetadata`` of ``DescribeKey`` / ``CreateKey``: ``state`` ``Enabled`` | ``Disabled`` |
    ``PendingDeletion``; ``protection_level`` ``SOFTWARE`` | ``HSM``; ``primary_version`` the
    ``KeyVersionId`` every sign call names."""

    key_id: str
    arn: str | None
    spec: str | None
    usage: str | None
    state: str | None
    protection_level: str | None
    instance_id: str | None
    primary_version: str | None
    delete_date: str | None = None


@dataclass(frozen=True, slots=True)
class KmsInstance:
    """``GetKmsInstance``: the instance that holds the keys (``spec`` = its computing performance)."""

    instance_id: str
    status: str | None
    spec: int | None
    key_num: int | None
    product_type: str | None
    charge_type: str | None


def _info(k: Any) -> KeyInfo:
    return KeyInfo(key_id=k.key_id, arn=k.arn, spec=k.key_spec, usage=k.key_usage, state=k.key_state,
                   protection_level=k.protection_level, instance_id=getattr(k, "dkmsinstance_id", None) or None,
                   primary_version=k.primary_key_version, delete_date=k.delete_date or None)


class KmsKeys(Adapter):
    """KMS keys 2016-01-20 (module doc)."""

    product = "kms"

    def create_key(self, *, spec: str, instance_id: str | None, description: str,
                   tags: dict[str, str] | None = None) -> KeyInfo:
        """``CreateKey`` — a ``SIGN/VERIFY`` key of ``spec`` in KMS instance ``instance_id`` (the
        instance decides SOFTWARE or HSM protection). A write; not idempotent: callers look the key
        up by its alias first. Raises ``AlbMtlsError``."""
        m = _models()
        req = m.CreateKeyRequest(key_spec=spec, key_usage="SIGN/VERIFY", dkmsinstance_id=instance_id or None,
                                 description=description,
                                 tags=json.dumps([{"TagKey": k, "TagValue": v} for k, v in (tags or {}).items()])
                                 if tags else None)
        client = self.client
        body = self.call("kms:CreateKey", lambda: client.create_key(req)).body
        return _info(body.key_metadata)

    def describe_key(self, key_id: str) -> KeyInfo | None:
        """``DescribeKey`` by key id, ARN or ``alias/…``; ``None`` when there is no such key or alias
        (``Forbidden.KeyNotFound`` / ``Forbidden.AliasNotFound``)."""
        m = _models()
        client = self.client
        try:
            body = self.call("kms:DescribeKey", lambda: client.describe_key(m.DescribeKeyRequest(key_id=key_id))).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                return None
            raise
        return _info(body.key_metadata)

    def get_public_key(self, key_id: str, version_id: str) -> str:
        """``GetPublicKey`` → the version's public key, PEM (SubjectPublicKeyInfo)."""
        m = _models()
        client = self.client
        req = m.GetPublicKeyRequest(key_id=key_id, key_version_id=version_id)
        pem: str = self.call("kms:GetPublicKey", lambda: client.get_public_key(req)).body.public_key
        return pem

    def sign_digest(self, key_id: str, version_id: str, algorithm: str, digest: bytes) -> bytes:
        """``AsymmetricSign`` of a SHA-256 ``digest`` → the signature bytes (DER for ECDSA)."""
        m = _models()
        client = self.client
        req = m.AsymmetricSignRequest(key_id=key_id, key_version_id=version_id, algorithm=algorithm,
                                      digest=base64.b64encode(digest).decode("ascii"))
        value: str = self.call("kms:AsymmetricSign", lambda: client.asymmetric_sign(req)).body.value
        return base64.b64decode(value)

    def create_alias(self, alias: str, key_id: str) -> int:
        """``CreateAlias`` unless ``alias`` already names ``key_id`` (a re-run, a lost response): 0/1
        writes. An alias naming another key is ``CLOUD_ERROR`` (never moved silently)."""
        m = _models()
        client = self.client
        try:
            self.call("kms:CreateAlias", lambda: client.create_alias(m.CreateAliasRequest(alias_name=alias,
                                                                                          key_id=key_id)))
            return 1
        except AlbMtlsError as exc:
            if exc.cloud_code != "AliasAlreadyExists":
                raise
        found = self.describe_key(alias)
        if found is None or found.key_id != key_id:
            raise AlbMtlsError(Code.CLOUD_ERROR, f"the KMS alias {alias!r} names another key "
                               f"({found.key_id if found else 'unknown'}), not {key_id}; it is never moved "
                               "silently: delete the alias or choose another CA name")
        return 0

    def schedule_key_deletion(self, key_id: str, days: int) -> int:
        """``ScheduleKeyDeletion`` (7-366 days) unless already pending: 0/1 writes."""
        found = self.describe_key(key_id)
        if found is None or found.state == "PendingDeletion":
            return 0
        m = _models()
        client = self.client
        req = m.ScheduleKeyDeletionRequest(key_id=key_id, pending_window_in_days=days)
        self.call("kms:ScheduleKeyDeletion", lambda: client.schedule_key_deletion(req))
        return 1

    def list_key_ids(self, *, page_size: int = 100) -> Iterator[str]:
        """Every key id ``ListKeys`` lists, one page in memory."""
        m = _models()
        client = self.client
        page = 1
        while True:
            req = m.ListKeysRequest(page_number=page, page_size=page_size)
            body = self.call("kms:ListKeys", partial(client.list_keys, req)).body
            items = (getattr(body.keys, "key", None) or []) if body.keys else []
            for k in items:
                yield k.key_id
            if not items or page * page_size >= int(body.total_count or 0):
                return
            page += 1

    def get_kms_instance(self, instance_id: str) -> KmsInstance | None:
        """``GetKmsInstance``; ``None`` when the instance does not exist."""
        m = _models()
        client = self.client
        try:
            body = self.call("kms:GetKmsInstance", lambda: client.get_kms_instance(
                m.GetKmsInstanceRequest(kms_instance_id=instance_id))).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                return None
            raise
        i = body.kms_instance
        return KmsInstance(instance_id=i.instance_id, status=i.status, spec=i.spec, key_num=i.key_num,
                           product_type=i.product_type, charge_type=i.charge_type)

    def list_kms_instance_ids(self) -> list[str]:
        """``ListKmsInstances`` (first 100)."""
        m = _models()
        client = self.client
        body = self.call("kms:ListKmsInstances", lambda: client.list_kms_instances(
            m.ListKmsInstancesRequest(page_size=100))).body
        items = (getattr(body.kms_instances, "kms_instance", None) or []) if body.kms_instances else []
        return [i.kms_instance_id for i in items]


# ---------------------------------------------------------------------------------------------
# private-key objects that sign through KMS
# ---------------------------------------------------------------------------------------------
def _no_private_key() -> AlbMtlsError:
    return AlbMtlsError(Code.INTERNAL, "the private key of a KMS key never leaves KMS: only AsymmetricSign uses it")


def _bad_signature(key_id: str) -> AlbMtlsError:
    return AlbMtlsError(Code.CLOUD_ERROR, f"KMS key {key_id}: AsymmetricSign returned a signature that its public "
                        "key does not verify (a wrong key version?); nothing was published")


class KmsEcKey(ec.EllipticCurvePrivateKey):
    """An EC P-256 key held by KMS (``EC_P256``, ``ECDSA_SHA_256``): what ``cryptography``'s builders
    take as the issuer key (module doc)."""

    def __init__(self, keys: KmsKeys, key_id: str, version_id: str, public_pem: str) -> None:
        pub = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
            raise AlbMtlsError(Code.CA_ALGORITHM_MISMATCH, f"KMS key {key_id} is not an EC P-256 key")
        self._keys, self._key_id, self._version, self._pub = keys, key_id, version_id, pub

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not (isinstance(signature_algorithm, ec.ECDSA) and isinstance(signature_algorithm.algorithm,
                                                                           hashes.SHA256)):
            raise AlbMtlsError(Code.INTERNAL, "an EC_P256 key in KMS signs ECDSA with SHA-256 only")
        raw = bytes(data)
        sig = self._keys.sign_digest(self._key_id, self._version, "ECDSA_SHA_256", hashlib.sha256(raw).digest())
        try:
            self._pub.verify(sig, raw, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise _bad_signature(self._key_id) from None
        return sig

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._pub

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._pub.curve

    @property
    def key_size(self) -> int:
        return self._pub.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise _no_private_key()

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise _no_private_key()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        raise _no_private_key()

    def __copy__(self) -> KmsEcKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> KmsEcKey:
        return self

    def __repr__(self) -> str:
        return f"KmsEcKey({self._key_id}, version {self._version})"


class KmsRsaKey(rsa.RSAPrivateKey):
    """An RSA key held by KMS (``RSA_2048``), signing ``RSA_PKCS1_SHA_256`` (module doc)."""

    def __init__(self, keys: KmsKeys, key_id: str, version_id: str, public_pem: str) -> None:
        pub = serialization.load_pem_public_key(public_pem.encode())
        if not isinstance(pub, rsa.RSAPublicKey):
            raise AlbMtlsError(Code.CA_ALGORITHM_MISMATCH, f"KMS key {key_id} is not an RSA key")
        self._keys, self._key_id, self._version, self._pub = keys, key_id, version_id, pub

    def sign(self, data: bytes, padding: AsymmetricPadding,
             algorithm: asym_utils.Prehashed | hashes.HashAlgorithm | asym_utils.NoDigestInfo) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import padding as pad

        if not (isinstance(padding, pad.PKCS1v15) and isinstance(algorithm, hashes.SHA256)):
            raise AlbMtlsError(Code.INTERNAL, "an RSA key in KMS signs PKCS#1 v1.5 with SHA-256 here")
        raw = bytes(data)
        sig = self._keys.sign_digest(self._key_id, self._version, "RSA_PKCS1_SHA_256", hashlib.sha256(raw).digest())
        try:
            self._pub.verify(sig, raw, pad.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise _bad_signature(self._key_id) from None
        return sig

    def public_key(self) -> rsa.RSAPublicKey:
        return self._pub

    @property
    def key_size(self) -> int:
        return self._pub.key_size

    def decrypt(self, ciphertext: bytes, padding: AsymmetricPadding) -> bytes:
        raise _no_private_key()

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        raise _no_private_key()

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        raise _no_private_key()

    def __copy__(self) -> KmsRsaKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> KmsRsaKey:
        return self

    def __repr__(self) -> str:
        return f"KmsRsaKey({self._key_id}, version {self._version})"


KmsSigningKey = KmsEcKey | KmsRsaKey


def signing_key(keys: KmsKeys, key_id: str, version_id: str, *, public_pem: str | None = None) -> KmsSigningKey:
    """The private-key object of KMS key ``key_id`` (version ``version_id``): its public key is read
    once (``GetPublicKey``) unless given; EC → :class:`KmsEcKey`, RSA → :class:`KmsRsaKey`."""
    pem = public_pem or keys.get_public_key(key_id, version_id)
    pub = serialization.load_pem_public_key(pem.encode())
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return KmsEcKey(keys, key_id, version_id, pem)
    if isinstance(pub, rsa.RSAPublicKey):
        return KmsRsaKey(keys, key_id, version_id, pem)
    raise AlbMtlsError(Code.CA_ALGORITHM_MISMATCH, f"KMS key {key_id} is neither EC nor RSA")

