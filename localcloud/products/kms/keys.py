"""KMS keys of the local cloud: asymmetric signing keys that never leave it, their versions and
aliases, and the KMS instance that holds them (docs/ALIBABA-APIS.md §7).

A key is a ``kms.key`` document (keyed by ``KeyId``) whose versions each carry their private key
**encrypted** (AES-256-GCM under the local KMS's master key, kept in the store's metadata as an HSM
would keep its own): no API returns it, nothing logs it, and no file holds it in the clear — the
same guarantee a real KMS gives (only ``GetPublicKey`` and signatures come out). ``AsymmetricSign``
signs a digest the caller computed (``Digest`` = Base64 of the SHA-256), as KMS does:
``ECDSA_SHA_256`` answers a DER ``SEQUENCE{r, s}``, ``RSA_PKCS1_SHA_256`` / ``RSA_PSS_SHA_256`` the
PKCS#1 signature. Aliases (``kms.alias``, keyed by ``AliasName``) name a key in every key action.

A KMS 3.0 account keeps its keys in a KMS instance (``kms.instance``; the demo seed has one):
``CreateKey`` of an asymmetric key without ``DKMSInstanceId`` is refused, and the instance decides
the protection level (``SOFTWARE`` for the seeded software instance).
"""
from __future__ import annotations

import base64
import os
import secrets
import string
import uuid
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ...account import ACCOUNT_ID
from ...errors import InvalidParameter
from .exceptions import (
    AliasAlreadyExists,
    AliasNotFound,
    KeyDisabled,
    KeyNotFound,
    KeyPendingDeletion,
    KeyResourceNotFound,
    UnsupportedOperation,
)
from .models import DAY_MS, REGION, iso

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator

KEY, ALIAS, INSTANCE = "kms.key", "kms.alias", "kms.instance"
SIGN_VERIFY, ENCRYPT_DECRYPT = "SIGN/VERIFY", "ENCRYPT/DECRYPT"
#: key specs (CreateKey ``KeySpec``; the key-spec page, docs/ALIBABA-APIS.md §7.2) → how to make one
ASYMMETRIC_SPECS: dict[str, tuple[str, int]] = {
    "EC_P256": ("EC", 256), "EC_P256K": ("EC", 256), "RSA_2048": ("RSA", 2048), "RSA_3072": ("RSA", 3072),
    "RSA_4096": ("RSA", 4096)}
SYMMETRIC_SPECS = ("Aliyun_AES_256", "Aliyun_AES_128", "Aliyun_AES_192", "Aliyun_SM4")
#: ``AsymmetricSign.Algorithm`` per key family (the AsymmetricSign API page)
SIGN_ALGORITHMS: dict[str, tuple[str, ...]] = {"EC": ("ECDSA_SHA_256",),
                                               "RSA": ("RSA_PSS_SHA_256", "RSA_PKCS1_SHA_256")}


# -- key material at rest --------------------------------------------------------------------
def _master(cloud: Emulator) -> AESGCM:
    raw = cloud.store.get_meta("kms_master_key")
    if raw is None:
        raw = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
        cloud.store.set_meta("kms_master_key", raw)
    return AESGCM(base64.b64decode(raw))


def _seal(cloud: Emulator, key_id: str, der: bytes) -> str:
    nonce = os.urandom(12)
    return base64.b64encode(nonce + _master(cloud).encrypt(nonce, der, key_id.encode())).decode()


def _unseal(cloud: Emulator, key_id: str, sealed: str) -> Any:
    raw = base64.b64decode(sealed)
    der = _master(cloud).decrypt(raw[:12], raw[12:], key_id.encode())
    return serialization.load_der_private_key(der, password=None)


def _new_private_key(spec: str) -> Any:
    family, size = ASYMMETRIC_SPECS[spec]
    if family == "EC":
        return ec.generate_private_key(ec.SECP256K1() if spec == "EC_P256K" else ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


# -- instances -------------------------------------------------------------------------------
def seed_instance(cloud: Emulator, instance_id: str) -> dict[str, Any]:
    """A software key management instance (``Connected``), as a pay-as-you-go one starts."""
    now_ms = cloud.clock.now_ms()
    doc = {"InstanceId": instance_id, "InstanceName": "albmtls-demo", "Spec": 1000, "KeyNum": 1000,
           "SecretNum": "0", "VpcNum": 1, "VpcId": "vpc-bp1demo00000000000001",
           "VswitchIds": ["vsw-bp1demo00000000000001"], "ZoneIds": ["cn-hangzhou-k", "cn-hangzhou-j"],
           "Status": "Connected", "ChargeType": "POSTPAY", "ProductType": "kms_ddi_public_cn",
           "ProtectionLevel": "SOFTWARE", "CreateTime": iso(now_ms), "StartDate": iso(now_ms), "EndDate": None}
    cloud.store.put(INSTANCE, instance_id, doc)
    return doc


def instance(cloud: Emulator, instance_id: str) -> dict[str, Any]:
    doc = cloud.store.get(INSTANCE, instance_id)
    if doc is None:
        raise KeyResourceNotFound(f"The KMS instance {instance_id} does not exist.")
    return doc


# -- keys ------------------------------------------------------------------------------------
def _key_id() -> str:
    return "key-hzz" + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(21))


def key_arn(key_id: str) -> str:
    return f"acs:kms:{REGION}:{ACCOUNT_ID}:key/{key_id}"


def create_key(cloud: Emulator, *, spec: str, usage: str, instance_id: str, description: str,
               tags: list[dict[str, str]], origin: str, protection: str | None) -> dict[str, Any]:
    """``CreateKey``: an asymmetric key with its first version (a symmetric one keeps no material:
    nothing in the local cloud encrypts with it)."""
    asymmetric = spec in ASYMMETRIC_SPECS
    if asymmetric and not instance_id:
        raise InvalidParameter("DKMSInstanceId", f"A {spec} key is created in a KMS instance: specify "
                                                 "DKMSInstanceId.")
    if instance_id:
        inst = instance(cloud, instance_id)
        protection = inst.get("ProtectionLevel") or "SOFTWARE"
    if asymmetric and usage != SIGN_VERIFY and spec.startswith("EC"):
        raise InvalidParameter("KeyUsage", f"A {spec} key signs and verifies only: KeyUsage must be SIGN/VERIFY.")
    if not asymmetric and usage != ENCRYPT_DECRYPT:
        raise InvalidParameter("KeyUsage", "A symmetric key encrypts and decrypts only.")
    now_ms = cloud.clock.now_ms()
    key_id = _key_id()
    version_id = str(uuid.uuid4())
    version: dict[str, Any] = {"KeyVersionId": version_id, "CreationDate": iso(now_ms)}
    if asymmetric:
        version["sealed"] = _seal(cloud, key_id, _new_private_key(spec).private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    doc = {"KeyId": key_id, "Arn": key_arn(key_id), "KeySpec": spec, "KeyUsage": usage, "KeyState": "Enabled",
           "Origin": origin, "ProtectionLevel": protection or "SOFTWARE", "DKMSInstanceId": instance_id or None,
           "Description": description, "Creator": ACCOUNT_ID, "CreationDate": iso(now_ms),
           "PrimaryKeyVersion": version_id, "DeleteDate": None, "AutomaticRotation": "Disabled",
           "Tags": tags, "versions": [version]}
    cloud.store.put(KEY, key_id, doc, key2=instance_id or None)
    return doc


def _purge(cloud: Emulator, doc: dict[str, Any]) -> bool:
    """Delete a key whose deletion date has passed (and its aliases); True when it was."""
    pending = doc.get("delete_at_ms")
    if doc.get("KeyState") == "PendingDeletion" and pending is not None and pending <= cloud.clock.now_ms():
        cloud.store.delete(KEY, doc["KeyId"])
        for a in cloud.store.find(ALIAS, KeyId=doc["KeyId"]):
            cloud.store.delete(ALIAS, a["AliasName"])
        return True
    return False


def resolve(cloud: Emulator, key_id: str) -> dict[str, Any]:
    """The key ``key_id`` names: a key id, its ARN, or ``alias/…``."""
    if key_id.startswith("alias/"):
        alias = cloud.store.get(ALIAS, key_id)
        if alias is None:
            raise AliasNotFound()
        key_id = alias["KeyId"]
    elif key_id.startswith("acs:kms:"):
        key_id = key_id.rsplit("/", 1)[-1]
    doc = cloud.store.get(KEY, key_id)
    if doc is None or _purge(cloud, doc):
        raise KeyNotFound()
    return doc


def usable(cloud: Emulator, key_id: str) -> dict[str, Any]:
    """The key, enabled (``Rejected.Disabled`` / ``Rejected.PendingDeletion`` otherwise)."""
    doc = resolve(cloud, key_id)
    if doc["KeyState"] == "PendingDeletion":
        raise KeyPendingDeletion()
    if doc["KeyState"] != "Enabled":
        raise KeyDisabled()
    return doc


def version(doc: dict[str, Any], version_id: str) -> dict[str, Any]:
    for v in doc["versions"]:
        if v["KeyVersionId"] == version_id:
            return v
    raise KeyResourceNotFound("The specified key version is not found.")


def metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """``KeyMetadata`` of ``DescribeKey`` / ``CreateKey`` (wire names)."""
    return {k: doc.get(k) for k in ("KeyId", "Arn", "KeySpec", "KeyUsage", "KeyState", "Origin", "ProtectionLevel",
                                    "DKMSInstanceId", "Description", "Creator", "CreationDate",
                                    "PrimaryKeyVersion", "DeleteDate", "AutomaticRotation")}


def public_key_pem(cloud: Emulator, doc: dict[str, Any], version_id: str) -> str:
    """``GetPublicKey``: the version's public key, PEM (SubjectPublicKeyInfo)."""
    if doc["KeySpec"] not in ASYMMETRIC_SPECS:
        raise UnsupportedOperation("GetPublicKey works on asymmetric keys only.")
    priv = _unseal(cloud, doc["KeyId"], version(doc, version_id)["sealed"])
    pem: bytes = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode()


def _digest(digest_b64: str) -> bytes:
    try:
        digest = base64.b64decode(digest_b64, validate=True)
    except ValueError:
        raise InvalidParameter("Digest", "The digest must be Base64-encoded.") from None
    if len(digest) != 32:
        raise InvalidParameter("Digest", "The digest of a *_SHA_256 algorithm is 32 bytes.")
    return digest


def _check_signing(doc: dict[str, Any], algorithm: str) -> str:
    if doc["KeyUsage"] != SIGN_VERIFY or doc["KeySpec"] not in ASYMMETRIC_SPECS:
        raise UnsupportedOperation("The key is not an asymmetric SIGN/VERIFY key.")
    family = ASYMMETRIC_SPECS[doc["KeySpec"]][0]
    if algorithm not in SIGN_ALGORITHMS[family]:
        raise InvalidParameter("Algorithm", f"A {doc['KeySpec']} key signs with "
                                            f"{', '.join(SIGN_ALGORITHMS[family])}.")
    return family


def _pss() -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


def asymmetric_sign(cloud: Emulator, doc: dict[str, Any], version_id: str, algorithm: str, digest_b64: str) -> str:
    """``AsymmetricSign``: Base64 of the signature over the caller's SHA-256 digest."""
    family = _check_signing(doc, algorithm)
    digest = _digest(digest_b64)
    priv = _unseal(cloud, doc["KeyId"], version(doc, version_id)["sealed"])
    prehashed = utils.Prehashed(hashes.SHA256())
    if family == "EC":
        sig = priv.sign(digest, ec.ECDSA(prehashed))
    else:
        sig = priv.sign(digest, padding.PKCS1v15() if algorithm == "RSA_PKCS1_SHA_256" else _pss(), prehashed)
    return base64.b64encode(sig).decode()


def asymmetric_verify(cloud: Emulator, doc: dict[str, Any], version_id: str, algorithm: str, digest_b64: str,
                      value_b64: str) -> bool:
    """``AsymmetricVerify``: whether ``value_b64`` is a signature of the digest by the version's key."""
    family = _check_signing(doc, algorithm)
    digest = _digest(digest_b64)
    pub = _unseal(cloud, doc["KeyId"], version(doc, version_id)["sealed"]).public_key()
    try:
        sig = base64.b64decode(value_b64, validate=True)
        if family == "EC":
            pub.verify(sig, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        else:
            pub.verify(sig, digest, padding.PKCS1v15() if algorithm == "RSA_PKCS1_SHA_256" else _pss(),
                       utils.Prehashed(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def schedule_deletion(cloud: Emulator, doc: dict[str, Any], days: int) -> None:
    """``ScheduleKeyDeletion``: ``PendingDeletion`` until now + ``days`` (7-366), then gone."""
    delete_at = cloud.clock.now_ms() + days * DAY_MS
    doc.update(KeyState="PendingDeletion", DeleteDate=iso(delete_at), delete_at_ms=delete_at)
    cloud.store.put(KEY, doc["KeyId"], doc)


def cancel_deletion(cloud: Emulator, doc: dict[str, Any]) -> None:
    if doc["KeyState"] != "PendingDeletion":
        raise UnsupportedOperation("The key is not pending deletion.")
    doc.update(KeyState="Enabled", DeleteDate=None, delete_at_ms=None)
    cloud.store.put(KEY, doc["KeyId"], doc)


def set_state(cloud: Emulator, doc: dict[str, Any], state: str) -> None:
    if doc["KeyState"] == "PendingDeletion":
        raise KeyPendingDeletion()
    doc["KeyState"] = state
    cloud.store.put(KEY, doc["KeyId"], doc)


def list_keys(cloud: Emulator) -> list[dict[str, Any]]:
    return [d for d in cloud.store.list(KEY) if not _purge(cloud, d)]


# -- aliases ---------------------------------------------------------------------------------
def create_alias(cloud: Emulator, alias: str, key_id: str) -> dict[str, Any]:
    if not alias.startswith("alias/") or alias.startswith("alias/acs") or not 7 <= len(alias) <= 255:
        raise InvalidParameter("AliasName", "An alias starts with alias/ (not alias/acs) and has 1-255 characters.")
    doc = resolve(cloud, key_id)
    existing = cloud.store.get(ALIAS, alias)
    if existing is not None:
        if existing["KeyId"] in {k["KeyId"] for k in list_keys(cloud)}:
            raise AliasAlreadyExists()
        cloud.store.delete(ALIAS, alias)   # its key was deleted
    row = {"AliasName": alias, "AliasArn": f"acs:kms:{REGION}:{ACCOUNT_ID}:{alias}", "KeyId": doc["KeyId"]}
    cloud.store.put(ALIAS, alias, row, key2=doc["KeyId"])
    return row


def delete_alias(cloud: Emulator, alias: str) -> None:
    if cloud.store.get(ALIAS, alias) is None:
        raise AliasNotFound()
    cloud.store.delete(ALIAS, alias)


def aliases(cloud: Emulator, key_id: str | None = None) -> list[dict[str, Any]]:
    live = {k["KeyId"] for k in list_keys(cloud)}
    rows = cloud.store.list(ALIAS, key2=key_id) if key_id else cloud.store.list(ALIAS)
    return [a for a in rows if a["KeyId"] in live]


def private_key_for_tests(cloud: Emulator, key_id: str) -> Any:
    """The private key of ``key_id``'s primary version — for the test that scans every file, secret,
    log and result for it (no API, no admin route reaches this)."""
    doc = resolve(cloud, key_id)
    return _unseal(cloud, doc["KeyId"], version(doc, doc["PrimaryKeyVersion"])["sealed"])
