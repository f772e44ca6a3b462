"""KMS secrets over the store: versions, stage labels, the deletion window (see the package doc)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ...account import ACCOUNT_ID
from .exceptions import ResourceExist, ResourceInDeleteWindow, ResourceNotFound

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator

VERSION = "2016-01-20"
KIND = "kms.secret"
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
    "SecretData size": "Not limited: no limit on a secret value is documented in the sources read (alb-mtls keeps "
                       "its desired-state records small: zlib-compressed above 16 KiB, shared/policy/desired.py).",
    "VersionStages": "PutSecretValue.VersionStages is a JSON array string (as the SDK sends it); default [ACSCurrent].",
    "restore-not-deleted": "RestoreSecret on a secret that is not scheduled for deletion succeeds and changes "
                           "nothing (no documented error code).",
    # keys (localcloud/products/kms/keys.py)
    "CreateKey without DKMSInstanceId": "an asymmetric key without a KMS instance is refused with InvalidParameter "
                                        "(a KMS 3.0 account keeps its keys in an instance; the code is not "
                                        "documented).",
    "RSA_PSS_SHA_256 salt": "the PSS salt length is the digest length (32 bytes); KMS does not document it.",
    "key material at rest": "encrypted under the local KMS's master key (AES-256-GCM); a real KMS keeps it in its "
                            "instance (software or HSM). No API returns it.",
    "ProtectionLevel": "the instance decides it (the seeded instance is a software one: SOFTWARE); a ProtectionLevel "
                       "sent with DKMSInstanceId is ignored, as the SDK documentation says.",
    "ListKeys.Filters / ListKmsInstances": "ListKeys.Filters is ignored; ListKmsInstances lists every instance.",
}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def arn(name: str) -> str:
    return f"acs:kms:{REGION}:{ACCOUNT_ID}:secret/{name}"


def load(cloud: Emulator, name: str) -> dict[str, Any] | None:
    """The secret, purging it first if its deletion time has passed."""
    doc = cloud.store.get(KIND, name)
    if doc is not None and doc.get("PlannedDeleteTime") and doc["PlannedDeleteTime"] <= cloud.clock.now_ms():
        cloud.store.delete(KIND, name)
        return None
    return doc


def existing(cloud: Emulator, name: str, *, usable: bool) -> dict[str, Any]:
    """The secret; ``usable``: not scheduled for deletion either."""
    doc = load(cloud, name)
    if doc is None:
        raise ResourceNotFound()
    if usable and doc.get("PlannedDeleteTime"):
        raise ResourceInDeleteWindow()
    return doc


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
    excess = unlabelled[:-MAX_UNLABELLED_VERSIONS] if len(unlabelled) > MAX_UNLABELLED_VERSIONS else []
    drop = {id(v) for v in excess}
    doc["versions"] = [v for v in versions if id(v) not in drop]
    doc["UpdateTime"] = now_ms


def create_secret(cloud: Emulator, name: str, version_id: str, data: str, data_type: str, secret_type: str,
                  *, description: str, encryption_key_id: str, dkms_instance_id: str,
                  tags: list[dict[str, str]]) -> dict[str, Any]:
    found = load(cloud, name)
    if found is not None:
        # DOCS-KMS CreateSecret.md: a name pending deletion answers Rejected.ResourceInDeleteWindow
        raise ResourceInDeleteWindow() if found.get("PlannedDeleteTime") else ResourceExist()
    now_ms = cloud.clock.now_ms()
    doc: dict[str, Any] = {
        "SecretName": name, "Arn": arn(name), "Description": description, "SecretType": secret_type,
        "EncryptionKeyId": encryption_key_id, "DKMSInstanceId": dkms_instance_id,
        "CreateTime": now_ms, "UpdateTime": now_ms, "versions": [], "Tags": tags, "PlannedDeleteTime": None,
    }
    _add_version(doc, version_id, data, data_type, [CURRENT], now_ms)
    cloud.store.put(KIND, name, doc)
    return doc


def put_secret_value(cloud: Emulator, name: str, version_id: str, data: str, data_type: str,
                     stages: list[str]) -> dict[str, Any]:
    doc = existing(cloud, name, usable=True)
    if any(v["VersionId"] == version_id for v in doc["versions"]):
        raise ResourceExist("The version already exists.")
    _add_version(doc, version_id, data, data_type, stages, cloud.clock.now_ms())
    cloud.store.put(KIND, name, doc)
    return doc


def find_version(doc: dict[str, Any], version_id: str | None, stage: str | None) -> dict[str, Any]:
    """The version by id and/or stage (``ACSCurrent`` when neither is given)."""
    if version_id is None and stage is None:
        stage = CURRENT
    for v in doc["versions"]:
        if version_id is not None and v["VersionId"] != version_id:
            continue
        if stage is not None and stage not in v["VersionStages"]:
            continue
        return v
    raise ResourceNotFound()


def list_page(cloud: Emulator, page: int, size: int) -> tuple[int, list[dict[str, Any]]]:
    """(total, one page of secrets), after purging those whose deletion time has passed."""
    now_ms = cloud.clock.now_ms()
    store = cloud.store
    for d in store.list(KIND, where=lambda d: bool(d.get("PlannedDeleteTime")) and d["PlannedDeleteTime"] <= now_ms):
        store.delete(KIND, d["SecretName"])
    return store.count(KIND), store.page(KIND, (page - 1) * size, size)


def delete_secret(cloud: Emulator, name: str, *, force: bool, recovery_days: int) -> int:
    """Delete now (``force``) or schedule the deletion; returns the planned deletion time (ms)."""
    doc = existing(cloud, name, usable=False)
    now_ms = cloud.clock.now_ms()
    if force:
        cloud.store.delete(KIND, name)
        return now_ms
    if not doc.get("PlannedDeleteTime"):
        doc["PlannedDeleteTime"] = now_ms + recovery_days * DAY_MS
        cloud.store.put(KIND, name, doc)
    return doc["PlannedDeleteTime"]


def restore_secret(cloud: Emulator, name: str) -> None:
    """Cancel a scheduled deletion (``RestoreSecret``): only inside the recovery window — a secret
    whose deletion time has passed, or one deleted with ``ForceDeleteWithoutRecovery``, is gone
    (``Forbidden.ResourceNotFound``). Every version and stage label comes back as it was."""
    doc = existing(cloud, name, usable=False)
    if doc.get("PlannedDeleteTime"):
        doc["PlannedDeleteTime"] = None
        doc["UpdateTime"] = cloud.clock.now_ms()
        cloud.store.put(KIND, name, doc)
