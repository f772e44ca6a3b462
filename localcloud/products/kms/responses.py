"""The KMS actions: parameters → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from alibabacloud_kms20160120 import models as m

from ... import errors
from ...account import ACCOUNT_ID
from ...registry import Ctx, action, shape
from . import keys, models
from .models import CURRENT, PREVIOUS, iso
from .models import VERSION as V

if TYPE_CHECKING:
    from ...protocol import Params

#: secret names: up to 192 characters of letters, digits and _ / + = . @ - (CreateSecret:
#: https://www.alibabacloud.com/help/doc-detail/154490.htm; the ListSecrets SecretName filter, 1-192)
_NAME_RE = re.compile(r"^[A-Za-z0-9_/+=.@-]{1,192}$")


def _check_data(p: Params, data_type: str) -> str:
    data = p.str("SecretData", required=True)
    if data_type == "binary":
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise errors.InvalidParameter("SecretData", "A binary secret value must be Base64-encoded.") from None
    return data


def _tags(raw: Any) -> list[dict[str, str]]:
    if not raw:
        return []
    try:
        tags = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise errors.InvalidParameter("Tags", "A JSON array of {TagKey, TagValue} is expected.") from None
    if not isinstance(tags, list) or not all(isinstance(t, dict) and "TagKey" in t for t in tags):
        raise errors.InvalidParameter("Tags", "A JSON array of {TagKey, TagValue} is expected.")
    return [{"TagKey": str(t["TagKey"]), "TagValue": str(t.get("TagValue", ""))} for t in tags]


def _tags_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"Tag": [{"TagKey": t["TagKey"], "TagValue": t["TagValue"]} for t in doc.get("Tags") or []]}


@action("kms", V, "CreateSecret", write=True)
def create_secret(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    version_id = p.str("VersionId", required=True, max_len=64)
    data_type = p.str("SecretDataType", default="text", enum=("text", "binary"))
    secret_type = p.str("SecretType", default="Generic", enum=("Generic", "Rds", "RAMCredentials", "ECS", "Redis",
                                                               "PolarDB"))
    if not _NAME_RE.match(name) or (secret_type == "Generic" and name.startswith("acs/")):
        raise errors.InvalidParameter("SecretName", "1-192 characters: letters, digits and _/+=.@-; "
                                                    "a generic secret name cannot start with acs/.")
    data = _check_data(p, data_type)
    doc = models.create_secret(ctx.cloud, name, version_id, data, data_type, secret_type,
                               description=p.str("Description", default=""),
                               encryption_key_id=p.str("EncryptionKeyId", default=""),
                               dkms_instance_id=p.str("DKMSInstanceId", default=""), tags=_tags(p.raw.get("Tags")))
    return shape(m.CreateSecretResponseBody, {"Arn": doc["Arn"], "VersionId": version_id, "SecretName": name,
                                              "SecretType": secret_type,
                                              "DKMSInstanceId": doc["DKMSInstanceId"] or None})


@action("kms", V, "PutSecretValue", write=True)
def put_secret_value(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    version_id = p.str("VersionId", required=True, max_len=64)
    data_type = p.str("SecretDataType", default="text", enum=("text", "binary"))
    data = _check_data(p, data_type)
    raw_stages = p.str("VersionStages")
    stages = [CURRENT]
    if raw_stages:
        try:
            stages = json.loads(raw_stages)
        except ValueError:
            raise errors.InvalidParameter("VersionStages", "A JSON array of stage labels is expected.") from None
        if not isinstance(stages, list) or not stages or not all(isinstance(s, str) and s for s in stages):
            raise errors.InvalidParameter("VersionStages", "A JSON array of stage labels is expected.")
        if PREVIOUS in stages:
            raise errors.InvalidParameter("VersionStages", "ACSPrevious is managed by Secrets Manager.")
    models.put_secret_value(ctx.cloud, name, version_id, data, data_type, stages)
    return shape(m.PutSecretValueResponseBody, {"SecretName": name, "VersionId": version_id,
                                                "VersionStages": {"VersionStage": list(dict.fromkeys(stages))}})


@action("kms", V, "GetSecretValue")
def get_secret_value(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    version_id = p.str("VersionId")
    stage = p.str("VersionStage")
    doc = models.existing(ctx.cloud, name, usable=True)
    found = models.find_version(doc, version_id, stage)
    return shape(m.GetSecretValueResponseBody, {
        "SecretName": name, "SecretType": doc["SecretType"], "SecretData": found["SecretData"],
        "SecretDataType": found["SecretDataType"], "VersionId": found["VersionId"],
        "VersionStages": {"VersionStage": list(found["VersionStages"])}, "CreateTime": iso(found["CreateTime"]),
        "AutomaticRotation": "Disabled" if doc["SecretType"] != "Generic" else None,
    })


@action("kms", V, "DescribeSecret")
def describe_secret(ctx: Ctx, p: Params) -> dict:
    doc = models.existing(ctx.cloud, p.str("SecretName", required=True), usable=False)
    body = {
        "SecretName": doc["SecretName"], "Arn": doc["Arn"], "Description": doc.get("Description") or None,
        "SecretType": doc["SecretType"], "EncryptionKeyId": doc.get("EncryptionKeyId") or None,
        "DKMSInstanceId": doc.get("DKMSInstanceId") or None,
        "CreateTime": iso(doc["CreateTime"]), "UpdateTime": iso(doc["UpdateTime"]),
        "PlannedDeleteTime": iso(doc.get("PlannedDeleteTime")), "AutomaticRotation": "Disabled",
    }
    if p.bool("FetchTags", default=False):
        body["Tags"] = _tags_view(doc)
    return shape(m.DescribeSecretResponseBody, body)


@action("kms", V, "ListSecrets")
def list_secrets(ctx: Ctx, p: Params) -> dict:
    page = p.int("PageNumber", default=1, min=1)
    size = p.int("PageSize", default=10, min=1, max=100)
    fetch_tags = p.bool("FetchTags", default=False)
    total, docs = models.list_page(ctx.cloud, page, size)
    out = []
    for d in docs:
        item = {"SecretName": d["SecretName"], "SecretType": d["SecretType"], "CreateTime": iso(d["CreateTime"]),
                "UpdateTime": iso(d["UpdateTime"]), "PlannedDeleteTime": iso(d.get("PlannedDeleteTime"))}
        if fetch_tags:
            item["Tags"] = _tags_view(d)
        out.append(item)
    return shape(m.ListSecretsResponseBody, {"PageNumber": page, "PageSize": size, "TotalCount": total,
                                             "SecretList": {"Secret": out}})


@action("kms", V, "DeleteSecret", write=True)
def delete_secret(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    force = p.bool("ForceDeleteWithoutRecovery", default=False)
    days = p.int("RecoveryWindowInDays", default=30, min=7, max=30)
    planned = models.delete_secret(ctx.cloud, name, force=force, recovery_days=days)
    return shape(m.DeleteSecretResponseBody, {"SecretName": name, "PlannedDeleteTime": iso(planned)})


@action("kms", V, "RestoreSecret", write=True)
def restore_secret(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    models.restore_secret(ctx.cloud, name)
    return shape(m.RestoreSecretResponseBody, {"SecretName": name})


# -- keys: asymmetric signing keys, aliases, the KMS instance (keys.py) ----------------------------
def _page(p: Params, items: list[Any]) -> tuple[int, int, list[Any]]:
    page = p.int("PageNumber", default=1, min=1)
    size = p.int("PageSize", default=10, min=1, max=100)
    return page, size, items[(page - 1) * size: page * size]


@action("kms", V, "CreateKey", write=True)
def create_key(ctx: Ctx, p: Params) -> dict:
    spec = p.str("KeySpec", default="Aliyun_AES_256", enum=(*keys.ASYMMETRIC_SPECS, *keys.SYMMETRIC_SPECS))
    usage = p.str("KeyUsage", default=keys.ENCRYPT_DECRYPT, enum=(keys.SIGN_VERIFY, keys.ENCRYPT_DECRYPT))
    if p.bool("EnableAutomaticRotation", default=False) and spec in keys.ASYMMETRIC_SPECS:
        raise errors.InvalidParameter("EnableAutomaticRotation", "Automatic rotation is supported only for "
                                                                 "symmetric keys.")
    doc = keys.create_key(ctx.cloud, spec=spec, usage=usage, instance_id=p.str("DKMSInstanceId", default=""),
                          description=p.str("Description", default="", max_len=8192), tags=_tags(p.raw.get("Tags")),
                          origin=p.str("Origin", default="Aliyun_KMS", enum=("Aliyun_KMS",)),
                          protection=p.str("ProtectionLevel", enum=("SOFTWARE", "HSM")))
    return shape(m.CreateKeyResponseBody, {"KeyMetadata": keys.metadata(doc)})


@action("kms", V, "DescribeKey")
def describe_key(ctx: Ctx, p: Params) -> dict:
    doc = keys.resolve(ctx.cloud, p.str("KeyId", required=True))
    return shape(m.DescribeKeyResponseBody, {"KeyMetadata": {**keys.metadata(doc), "DeletionProtection": "Disabled"}})


@action("kms", V, "ListKeys")
def list_keys(ctx: Ctx, p: Params) -> dict:
    docs = keys.list_keys(ctx.cloud)
    page, size, chunk = _page(p, docs)
    return shape(m.ListKeysResponseBody, {"PageNumber": page, "PageSize": size, "TotalCount": len(docs),
                                          "Keys": {"Key": [{"KeyId": d["KeyId"], "KeyArn": d["Arn"]} for d in chunk]}})


@action("kms", V, "ListKeyVersions")
def list_key_versions(ctx: Ctx, p: Params) -> dict:
    doc = keys.resolve(ctx.cloud, p.str("KeyId", required=True))
    page, size, chunk = _page(p, doc["versions"])
    return shape(m.ListKeyVersionsResponseBody, {
        "PageNumber": page, "PageSize": size, "TotalCount": len(doc["versions"]),
        "KeyVersions": {"KeyVersion": [{"KeyId": doc["KeyId"], "KeyVersionId": v["KeyVersionId"],
                                        "CreationDate": v["CreationDate"]} for v in chunk]}})


@action("kms", V, "GetPublicKey")
def get_public_key(ctx: Ctx, p: Params) -> dict:
    doc = keys.usable(ctx.cloud, p.str("KeyId", required=True))
    version_id = p.str("KeyVersionId", required=True)
    pem = keys.public_key_pem(ctx.cloud, doc, version_id)
    return shape(m.GetPublicKeyResponseBody, {"KeyId": doc["KeyId"], "KeyVersionId": version_id, "PublicKey": pem})


@action("kms", V, "AsymmetricSign")
def asymmetric_sign(ctx: Ctx, p: Params) -> dict:
    doc = keys.usable(ctx.cloud, p.str("KeyId", required=True))
    version_id = p.str("KeyVersionId", required=True)
    value = keys.asymmetric_sign(ctx.cloud, doc, version_id, p.str("Algorithm", required=True),
                                 p.str("Digest", required=True))
    return shape(m.AsymmetricSignResponseBody, {"KeyId": doc["KeyId"], "KeyVersionId": version_id, "Value": value})


@action("kms", V, "AsymmetricVerify")
def asymmetric_verify(ctx: Ctx, p: Params) -> dict:
    doc = keys.usable(ctx.cloud, p.str("KeyId", required=True))
    version_id = p.str("KeyVersionId", required=True)
    ok = keys.asymmetric_verify(ctx.cloud, doc, version_id, p.str("Algorithm", required=True),
                                p.str("Digest", required=True), p.str("Value", required=True))
    return shape(m.AsymmetricVerifyResponseBody, {"KeyId": doc["KeyId"], "KeyVersionId": version_id, "Value": ok})


@action("kms", V, "ScheduleKeyDeletion", write=True)
def schedule_key_deletion(ctx: Ctx, p: Params) -> dict:
    doc = keys.resolve(ctx.cloud, p.str("KeyId", required=True))
    keys.schedule_deletion(ctx.cloud, doc, p.int("PendingWindowInDays", required=True, min=7, max=366))
    return shape(m.ScheduleKeyDeletionResponseBody, {})


@action("kms", V, "CancelKeyDeletion", write=True)
def cancel_key_deletion(ctx: Ctx, p: Params) -> dict:
    keys.cancel_deletion(ctx.cloud, keys.resolve(ctx.cloud, p.str("KeyId", required=True)))
    return shape(m.CancelKeyDeletionResponseBody, {})


@action("kms", V, "DisableKey", write=True)
def disable_key(ctx: Ctx, p: Params) -> dict:
    keys.set_state(ctx.cloud, keys.resolve(ctx.cloud, p.str("KeyId", required=True)), "Disabled")
    return shape(m.DisableKeyResponseBody, {})


@action("kms", V, "EnableKey", write=True)
def enable_key(ctx: Ctx, p: Params) -> dict:
    keys.set_state(ctx.cloud, keys.resolve(ctx.cloud, p.str("KeyId", required=True)), "Enabled")
    return shape(m.EnableKeyResponseBody, {})


@action("kms", V, "CreateAlias", write=True)
def create_alias(ctx: Ctx, p: Params) -> dict:
    keys.create_alias(ctx.cloud, p.str("AliasName", required=True), p.str("KeyId", required=True))
    return shape(m.CreateAliasResponseBody, {})


@action("kms", V, "DeleteAlias", write=True)
def delete_alias(ctx: Ctx, p: Params) -> dict:
    keys.delete_alias(ctx.cloud, p.str("AliasName", required=True))
    return shape(m.DeleteAliasResponseBody, {})


@action("kms", V, "ListAliases")
def list_aliases(ctx: Ctx, p: Params) -> dict:
    rows = keys.aliases(ctx.cloud)
    page, size, chunk = _page(p, rows)
    return shape(m.ListAliasesResponseBody, {"PageNumber": page, "PageSize": size, "TotalCount": len(rows),
                                             "Aliases": {"Alias": chunk}})


@action("kms", V, "ListAliasesByKeyId")
def list_aliases_by_key_id(ctx: Ctx, p: Params) -> dict:
    doc = keys.resolve(ctx.cloud, p.str("KeyId", required=True))
    rows = keys.aliases(ctx.cloud, doc["KeyId"])
    page, size, chunk = _page(p, rows)
    return shape(m.ListAliasesByKeyIdResponseBody, {"PageNumber": page, "PageSize": size, "TotalCount": len(rows),
                                                    "Aliases": {"Alias": chunk}})


@action("kms", V, "GetKmsInstance")
def get_kms_instance(ctx: Ctx, p: Params) -> dict:
    doc = keys.instance(ctx.cloud, p.str("KmsInstanceId", required=True))
    return shape(m.GetKmsInstanceResponseBody, {"KmsInstance": doc})


@action("kms", V, "ListKmsInstances")
def list_kms_instances(ctx: Ctx, p: Params) -> dict:
    docs = ctx.store.list(keys.INSTANCE)
    page, size, chunk = _page(p, docs)
    return shape(m.ListKmsInstancesResponseBody, {
        "PageNumber": page, "PageSize": size, "TotalCount": len(docs),
        "KmsInstances": {"KmsInstance": [{"KmsInstanceId": d["InstanceId"],
                                          "KmsInstanceArn": f"acs:kms:{models.REGION}:{ACCOUNT_ID}:instance/"
                                                            f"{d['InstanceId']}"} for d in chunk]}})
