"""Contract: KMS asymmetric keys (2016-01-20) through the official SDK client — CreateKey in the
seeded KMS instance, GetPublicKey, AsymmetricSign/Verify over a SHA-256 digest (DER ECDSA, PKCS#1),
aliases, deletion; the private key never comes out."""
from __future__ import annotations

import base64
import hashlib

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

INSTANCE = "kst-hzz6demo0000000000001"


@pytest.fixture
def kms(clients):
    return clients("kms")


def _err(fn, *args, **kw) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn(*args, **kw)
    return info.value


def _key(kms, spec: str = "EC_P256", **kw):
    return kms.create_key(m.CreateKeyRequest(key_spec=spec, key_usage="SIGN/VERIFY", dkmsinstance_id=INSTANCE,
                                             description="alb-mtls own CA", **kw)).body.key_metadata


def _sign(kms, key_id: str, version: str, data: bytes, algorithm: str = "ECDSA_SHA_256") -> bytes:
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    body = kms.asymmetric_sign(m.AsymmetricSignRequest(key_id=key_id, key_version_id=version, algorithm=algorithm,
                                                       digest=digest)).body
    return base64.b64decode(body.value)


def test_ec_key_signs_a_digest_verifiable_with_its_public_key(kms):
    meta = _key(kms)
    assert meta.key_spec == "EC_P256" and meta.key_usage == "SIGN/VERIFY" and meta.key_state == "Enabled"
    assert meta.dkmsinstance_id == INSTANCE and meta.protection_level == "SOFTWARE" and meta.key_id.startswith("key-")
    pem = kms.get_public_key(m.GetPublicKeyRequest(key_id=meta.key_id,
                                                   key_version_id=meta.primary_key_version)).body.public_key
    pub = serialization.load_pem_public_key(pem.encode())
    assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"
    sig = _sign(kms, meta.key_id, meta.primary_key_version, b"tbs bytes")
    pub.verify(sig, b"tbs bytes", ec.ECDSA(hashes.SHA256()))         # DER SEQUENCE{r, s}
    digest = base64.b64encode(hashlib.sha256(b"tbs bytes").digest()).decode()
    ok = kms.asymmetric_verify(m.AsymmetricVerifyRequest(
        key_id=meta.key_id, key_version_id=meta.primary_key_version, algorithm="ECDSA_SHA_256", digest=digest,
        value=base64.b64encode(sig).decode())).body
    assert ok.value is True


def test_rsa_key_signs_pkcs1(kms):
    meta = _key(kms, "RSA_2048")
    pem = kms.get_public_key(m.GetPublicKeyRequest(key_id=meta.key_id,
                                                   key_version_id=meta.primary_key_version)).body.public_key
    pub = serialization.load_pem_public_key(pem.encode())
    sig = _sign(kms, meta.key_id, meta.primary_key_version, b"x", "RSA_PKCS1_SHA_256")
    pub.verify(sig, b"x", padding.PKCS1v15(), hashes.SHA256())


def test_alias_names_the_key_in_every_key_action(kms):
    meta = _key(kms)
    kms.create_alias(m.CreateAliasRequest(alias_name="alias/albmtls/ca/demo/g1/root", key_id=meta.key_id))
    d = kms.describe_key(m.DescribeKeyRequest(key_id="alias/albmtls/ca/demo/g1/root")).body.key_metadata
    assert d.key_id == meta.key_id and d.primary_key_version == meta.primary_key_version
    _sign(kms, "alias/albmtls/ca/demo/g1/root", meta.primary_key_version, b"y")
    e = _err(kms.create_alias, m.CreateAliasRequest(alias_name="alias/albmtls/ca/demo/g1/root", key_id=meta.key_id))
    assert e.code == "AliasAlreadyExists"
    listed = kms.list_aliases_by_key_id(m.ListAliasesByKeyIdRequest(key_id=meta.key_id)).body
    assert [a.alias_name for a in listed.aliases.alias] == ["alias/albmtls/ca/demo/g1/root"]
    e = _err(kms.describe_key, m.DescribeKeyRequest(key_id="alias/albmtls/ca/nothing"))
    assert (e.code, e.status_code) == ("Forbidden.AliasNotFound", 404)


def test_refusals(kms):
    e = _err(kms.create_key, m.CreateKeyRequest(key_spec="EC_P256", key_usage="SIGN/VERIFY"))
    assert e.code == "InvalidParameter" and "DKMSInstanceId" in e.message
    meta = _key(kms)
    digest = base64.b64encode(hashlib.sha256(b"z").digest()).decode()
    e = _err(kms.asymmetric_sign, m.AsymmetricSignRequest(key_id=meta.key_id, key_version_id=meta.primary_key_version,
                                                         algorithm="RSA_PKCS1_SHA_256", digest=digest))
    assert e.code == "InvalidParameter" and "Algorithm" in e.message
    e = _err(kms.asymmetric_sign, m.AsymmetricSignRequest(key_id=meta.key_id, key_version_id=meta.primary_key_version,
                                                         algorithm="ECDSA_SHA_256",
                                                         digest=base64.b64encode(b"short").decode()))
    assert e.code == "InvalidParameter" and "Digest" in e.message
    e = _err(kms.describe_key, m.DescribeKeyRequest(key_id="key-hzznotakey000000000000"))
    assert (e.code, e.status_code) == ("Forbidden.KeyNotFound", 404)


def test_scheduled_deletion_stops_signing_and_can_be_cancelled(kms):
    meta = _key(kms)
    kms.schedule_key_deletion(m.ScheduleKeyDeletionRequest(key_id=meta.key_id, pending_window_in_days=7))
    d = kms.describe_key(m.DescribeKeyRequest(key_id=meta.key_id)).body.key_metadata
    assert d.key_state == "PendingDeletion" and d.delete_date
    e = _err(_sign, kms, meta.key_id, meta.primary_key_version, b"a")
    assert e.status_code == 409 and "PendingDeletion" in e.code
    kms.cancel_key_deletion(m.CancelKeyDeletionRequest(key_id=meta.key_id))
    _sign(kms, meta.key_id, meta.primary_key_version, b"a")


def test_the_instance_and_the_key_list(kms):
    inst = kms.get_kms_instance(m.GetKmsInstanceRequest(kms_instance_id=INSTANCE)).body.kms_instance
    assert inst.instance_id == INSTANCE and inst.status == "Connected" and inst.key_num == 1000
    listed = kms.list_kms_instances(m.ListKmsInstancesRequest()).body.kms_instances.kms_instance
    ids = [i.kms_instance_id for i in listed]
    assert ids == [INSTANCE]
    meta = _key(kms)
    keys = kms.list_keys(m.ListKeysRequest(page_size=100)).body
    assert meta.key_id in [k.key_id for k in keys.keys.key]


def test_key_material_is_never_stored_in_the_clear(cloud, kms):
    meta = _key(kms)
    from localcloud.products.kms.keys import private_key_for_tests
    priv = private_key_for_tests(cloud, meta.key_id)
    scalar = priv.private_numbers().private_value.to_bytes(32, "big")
    der = priv.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    dump = repr(cloud.store.list("kms.key")).encode()
    for needle in (scalar, der, scalar.hex().encode(), base64.b64encode(der)):
        assert needle not in dump
