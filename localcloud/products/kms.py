"""KMS Secrets Manager, version 2016-01-20 (``alibabacloud_kms20160120``): generic secrets with
versioned values and stage labels (``ACSCurrent`` / ``ACSPrevious``).

State (``localcloud/SCHEMA.md``): ``kms.secret`` keyed by ``SecretName``; times are epoch ms in the
store and ISO-8601 UTC strings on the wire. Secret values live only in the store: this module
never logs them and never puts them into error messages.

Error codes and statuses are the documented ones (CreateSecret help page): ``InvalidParameter``
400, ``Forbidden.ResourceNotFound`` 404, ``Rejected.ResourceExist`` 409,
``Rejected.ResourceInDeleteWindow`` 409.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timezone
from typing import Any

from alibabacloud_kms20160120 import models as m

from .. import errors
from ..protocol import Params
from ..registry import Ctx, action, shape

V = "2016-01-20"
ACCOUNT_ID = "1234567890123456"
REGION = "cn-hangzhou"
CURRENT, PREVIOUS = "ACSCurrent", "ACSPrevious"
MAX_UNLABELLED_VERSIONS = 10
DAY_MS = 86_400_000

ASSUMPTIONS: dict[str, str] = {
    "duplicate-version": "PutSecretValue with an existing VersionId → Rejected.ResourceExist (409), even with the "
                         "same value.",
    "delete-window": "GetSecretValue/PutSecretValue on a secret scheduled for deletion → "
                     "Rejected.ResourceInDeleteWindow (409); DescribeSecret and ListSecrets still show it.",
    "version-retention": f"Versions without any stage label beyond the newest {MAX_UNLABELLED_VERSIONS} are dropped.",
    "ListSecrets.Filters": "Ignored.",
    "VersionStages": "PutSecretValue.VersionStages is a JSON array string (as the SDK sends it); default [ACSCurrent].",
}

_NAME_RE = re.compile(r"^[A-Za-z0-9_/+=.@-]{1,64}$")


class ResourceNotFound(errors.ApiError):
    code = "Forbidden.ResourceNotFound"
    status = 404
    default_message = "The resource is not found."


class ResourceExist(errors.ApiError):
    code = "Rejected.ResourceExist"
    status = 409
    default_message = "The resource already exists."


class ResourceInDeleteWindow(errors.ApiError):
    code = "Rejected.ResourceInDeleteWindow"
    status = 409
    default_message = "The secret is planned to be deleted."


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _arn(name: str) -> str:
    return f"acs:kms:{REGION}:{ACCOUNT_ID}:secret/{name}"


def _load(ctx: Ctx, name: str) -> dict[str, Any] | None:
    """The secret, purging it first if its deletion time has passed."""
    doc = ctx.store.get("kms.secret", name)
    if doc is not None and doc.get("PlannedDeleteTime") and doc["PlannedDeleteTime"] <= ctx.clock.now_ms():
        ctx.store.delete("kms.secret", name)
        return None
    return doc


def _existing(ctx: Ctx, name: str, *, usable: bool) -> dict[str, Any]:
    doc = _load(ctx, name)
    if doc is None:
        raise ResourceNotFound()
    if usable and doc.get("PlannedDeleteTime"):
        raise ResourceInDeleteWindow()
    return doc


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


def _add_version(doc: dict[str, Any], version_id: str, data: str, data_type: str, stages: list[str],
                 now_ms: int) -> None:
    versions: list[dict[str, Any]] = doc["versions"]
    if CURRENT in stages:
        for v in versions:
            if CURRENT in v["VersionStages"]:
                v["VersionStages"] = [s for s in v["VersionStages"] if s != CURRENT] + [PREVIOUS]
            elif PREVIOUS in v["VersionStages"]:
                v["VersionStages"] = [s for s in v["VersionStages"] if s != PREVIOUS]
    for v in versions:   # a custom stage label lives on one version only
        v["VersionStages"] = [s for s in v["VersionStages"] if s in (CURRENT, PREVIOUS) or s not in stages]
    versions.append({"VersionId": version_id, "SecretData": data, "SecretDataType": data_type,
                     "VersionStages": list(dict.fromkeys(stages)), "CreateTime": now_ms})
    unlabelled = [v for v in versions if not v["VersionStages"]]
    drop = {id(v) for v in unlabelled[:-MAX_UNLABELLED_VERSIONS]} if len(unlabelled) > MAX_UNLABELLED_VERSIONS else set()
    doc["versions"] = [v for v in versions if id(v) not in drop]
    doc["UpdateTime"] = now_ms


@action("kms", V, "CreateSecret", write=True)
def create_secret(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    version_id = p.str("VersionId", required=True, max_len=64)
    data_type = p.str("SecretDataType", default="text", enum=("text", "binary"))
    secret_type = p.str("SecretType", default="Generic", enum=("Generic", "Rds", "RAMCredentials", "ECS", "Redis",
                                                               "PolarDB"))
    if not _NAME_RE.match(name) or (secret_type == "Generic" and name.startswith("acs/")):
        raise errors.InvalidParameter("SecretName", "1-64 characters: letters, digits and _/+=.@-; "
                                                    "a generic secret name cannot start with acs/.")
    data = _check_data(p, data_type)
    if _load(ctx, name) is not None:
        raise ResourceExist()
    now_ms = ctx.clock.now_ms()
    doc: dict[str, Any] = {
        "SecretName": name, "Arn": _arn(name), "Description": p.str("Description", default=""),
        "SecretType": secret_type, "EncryptionKeyId": p.str("EncryptionKeyId", default=""),
        "DKMSInstanceId": p.str("DKMSInstanceId", default=""),
        "CreateTime": now_ms, "UpdateTime": now_ms, "versions": [], "Tags": _tags(p.raw.get("Tags")),
        "PlannedDeleteTime": None,
    }
    _add_version(doc, version_id, data, data_type, [CURRENT], now_ms)
    ctx.store.put("kms.secret", name, doc)
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
    doc = _existing(ctx, name, usable=True)
    if any(v["VersionId"] == version_id for v in doc["versions"]):
        raise ResourceExist("The version already exists.")
    _add_version(doc, version_id, data, data_type, stages, ctx.clock.now_ms())
    ctx.store.put("kms.secret", name, doc)
    return shape(m.PutSecretValueResponseBody, {"SecretName": name, "VersionId": version_id,
                                                "VersionStages": {"VersionStage": list(dict.fromkeys(stages))}})


@action("kms", V, "GetSecretValue")
def get_secret_value(ctx: Ctx, p: Params) -> dict:
    name = p.str("SecretName", required=True)
    version_id = p.str("VersionId")
    stage = p.str("VersionStage")
    doc = _existing(ctx, name, usable=True)
    if version_id is None and stage is None:
        stage = CURRENT
    found = None
    for v in doc["versions"]:
        if version_id is not None and v["VersionId"] != version_id:
            continue
        if stage is not None and stage not in v["VersionStages"]:
            continue
        found = v
        break
    if found is None:
        raise ResourceNotFound()
    return shape(m.GetSecretValueResponseBody, {
        "SecretName": name, "SecretType": doc["SecretType"], "SecretData": found["SecretData"],
        "SecretDataType": found["SecretDataType"], "VersionId": found["VersionId"],
        "VersionStages": {"VersionStage": list(found["VersionStages"])}, "CreateTime": _iso(found["CreateTime"]),
        "AutomaticRotation": "Disabled" if doc["SecretType"] != "Generic" else None,
    })


def _tags_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"Tag": [{"TagKey": t["TagKey"], "TagValue": t["TagValue"]} for t in doc.get("Tags") or []]}


@action("kms", V, "DescribeSecret")
def describe_secret(ctx: Ctx, p: Params) -> dict:
    doc = _existing(ctx, p.str("SecretName", required=True), usable=False)
    body = {
        "SecretName": doc["SecretName"], "Arn": doc["Arn"], "Description": doc.get("Description") or None,
        "SecretType": doc["SecretType"], "EncryptionKeyId": doc.get("EncryptionKeyId") or None,
        "DKMSInstanceId": doc.get("DKMSInstanceId") or None,
        "CreateTime": _iso(doc["CreateTime"]), "UpdateTime": _iso(doc["UpdateTime"]),
        "PlannedDeleteTime": _iso(doc.get("PlannedDeleteTime")), "AutomaticRotation": "Disabled",
    }
    if p.bool("FetchTags", default=False):
        body["Tags"] = _tags_view(doc)
    return shape(m.DescribeSecretResponseBody, body)


@action("kms", V, "ListSecrets")
def list_secrets(ctx: Ctx, p: Params) -> dict:
    page = p.int("PageNumber", default=1, min=1)
    size = p.int("PageSize", default=10, min=1, max=100)
    fetch_tags = p.bool("FetchTags", default=False)
    now_ms = ctx.clock.now_ms()
    store = ctx.store
    # purge secrets whose deletion time has passed (few; the list of pending ones is small)
    for d in store.list("kms.secret", where=lambda d: bool(d.get("PlannedDeleteTime"))
                        and d["PlannedDeleteTime"] <= now_ms):
        store.delete("kms.secret", d["SecretName"])
    total = store.count("kms.secret")
    out = []
    for d in store.page("kms.secret", (page - 1) * size, size):
        item = {"SecretName": d["SecretName"], "SecretType": d["SecretType"], "CreateTime": _iso(d["CreateTime"]),
                "UpdateTime": _iso(d["UpdateTime"]), "PlannedDeleteTime": _iso(d.get("PlannedDeleteTime"))}
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
    doc = _existing(ctx, name, usable=False)
    now_ms = ctx.clock.now_ms()
    if force:
        ctx.store.delete("kms.secret", name)
        planned = now_ms
    else:
        if not doc.get("PlannedDeleteTime"):
            doc["PlannedDeleteTime"] = now_ms + days * DAY_MS
            ctx.store.put("kms.secret", name, doc)
        planned = doc["PlannedDeleteTime"]
    return shape(m.DeleteSecretResponseBody, {"SecretName": name, "PlannedDeleteTime": _iso(planned)})
