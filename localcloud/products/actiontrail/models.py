"""The local ActionTrail: events recorded from the local KMS and the ``LookupEvents`` query.

Facts (public sources; docs/DELIVERY.md "Adoption and retirement", localcloud/COVERAGE.md):

* ActionTrail records call events for all KMS API operations except ``DescribeRegions``; the
  service name is ``Kms`` (alibabacloud.com/help/en/kms/key-management-service/support/
  use-actiontrail-to-query-kms-event-logs). Only calls through the KMS (shared) endpoint: a call
  through a KMS *instance* endpoint is recorded in Simple Log Service only
  (…/kms/key-management-service/use-cases/query-usage-records-for-kms-keys-and-secrets).
* An event carries ``eventId``, ``eventName``, ``eventTime``, ``eventType`` ``ApiCall``,
  ``eventRW``, ``acsRegion``, ``serviceName``, ``requestParameters``, ``userIdentity`` {``type``
  ``ram-user``/``assumed-role``, ``principalId``, ``userName``, ``accountId``, ``accessKeyId``}
  (ActionTrail's sample events, e.g. …/actiontrail/user-guide/query-actiontrail-events-by-assuming-a-ram-role).
* ``LookupEvents``: ``StartTime`` (default 7 days before now), ``EndTime`` (default now), ISO 8601
  UTC; ``MaxResults`` 0-50; ``NextToken`` (the same other parameters); ``Direction``
  ``FORWARD``/``BACKWARD`` (default); one or two ``LookupAttribute`` {Key, Value} among
  ``ServiceName``, ``EventName``, ``User``, ``EventId``, ``ResourceType``, ``ResourceName``,
  ``EventRW``, ``EventAccessKeyId``, ``SourceIpAddress``, ``EventType``, ``RoleName``; at most two
  calls per second; the events of the last 90 days (the SDK model, the API reference
  …/actiontrail/developer-reference/api-actiontrail-2020-07-06-lookupevents, …/support/
  how-to-set-the-lookupattribute-parameter, …/doc-detail/41920.htm).

Request parameters are kept from an allow-list of names (:data:`KEPT_PARAMETERS`): a secret's value
(``SecretData``), a plaintext or a signature never reaches an event.
"""
from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ... import errors, ram

if TYPE_CHECKING:
    from ...emulator import Emulator

VERSION = "2020-07-06"
KIND = "trail_event"
#: the products whose calls are recorded: key → (serviceName, eventSource host form)
AUDITED: dict[str, tuple[str, str]] = {"kms": ("Kms", "kms.{region}.aliyuncs.com")}
NOT_RECORDED = frozenset({"DescribeRegions"})
LOOKBACK = timedelta(days=90)
DEFAULT_WINDOW = timedelta(days=7)
DEFAULT_MAX_RESULTS = 20
MAX_RESULTS = 50
ATTRIBUTES = ("ServiceName", "EventName", "User", "EventId", "ResourceType", "ResourceName", "EventRW",
              "EventAccessKeyId", "SourceIpAddress", "EventType", "RoleName")
#: request parameters an event keeps (names of the KMS API; never a value, plaintext or signature)
KEPT_PARAMETERS = frozenset({
    "SecretName", "VersionId", "VersionStage", "VersionStages", "SecretDataType", "SecretType",
    "FetchExtendedConfig", "Description", "RecoveryWindowInDays", "ForceDeleteWithoutRecovery",
    "DKMSInstanceId", "EncryptionKeyId", "PageNumber", "PageSize", "Filters", "KeyId", "KeyVersionId",
    "KeySpec", "KeyUsage", "Origin", "ProtectionLevel", "AliasName", "Algorithm", "KmsInstanceId",
    "IncludeDeprecated", "IncludeState",
})

# Behaviour a real account has not confirmed; the local cloud's choices.
ASSUMPTIONS: dict[str, str] = {
    "query delay": "an event is returned by LookupEvents `actiontrail_delay_s` (60 s by default, in the cloud's "
                   "time) after the call: no public page states how soon LookupEvents returns an event (a trail "
                   "delivers to Simple Log Service within 1 minute, to OSS within 10 minutes; "
                   "…/actiontrail/latest/single-account-trail-overview)",
    "GetSecretValue event": "a GetSecretValue event names the secret in `requestParameters.SecretName` (the API's "
                            "parameter name; the samples show request parameters under their API names) and in "
                            "`resourceName`, `resourceType` `ACS::KMS::Secret`; a failed call is recorded with "
                            "`errorCode` and `errorMessage`",
    "LookupEvents defaults": "MaxResults defaults to 20; two LookupAttribute items are taken in any combination (the "
                             "documented limits on combining two are not enforced); values match exactly",
}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(name: str, value: str) -> datetime:
    try:
        t = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError):
        raise errors.InvalidParameter(name, "Use the ISO 8601 format YYYY-MM-DDThh:mm:ssZ (UTC).") from None
    return t.replace(tzinfo=UTC)


def record(cloud: Emulator, *, product: str, action: str, write: bool, access_key_id: str,
           pairs: list[tuple[str, str]], request_id: str, api_version: str, error_code: str | None = None,
           error_message: str | None = None) -> None:
    """Record one call of an audited product as an event (module doc)."""
    audited = AUDITED.get(product)
    if audited is None or action in NOT_RECORDED or not access_key_id:
        return
    service, source = audited
    region = cloud.settings.region
    params = {k: v for k, v in pairs if k in KEPT_PARAMETERS}
    now = cloud.clock.now()
    event: dict[str, Any] = {
        "eventId": str(uuid.uuid4()), "eventVersion": "1", "eventName": action, "eventType": "ApiCall",
        "eventRW": "Write" if write else "Read", "eventTime": _iso(now), "eventSource": source.format(region=region),
        "acsRegion": region, "serviceName": service, "apiVersion": api_version, "requestId": request_id,
        "requestParameters": params, "userIdentity": ram.identity(cloud.store, access_key_id),
        "sourceIpAddress": "127.0.0.1", "userAgent": "AlibabaCloud SDK", "isGlobal": False,
    }
    if "SecretName" in params:
        event["resourceType"] = "ACS::KMS::Secret"
        event["resourceName"] = params["SecretName"]
        event["referencedResources"] = {"ACS::KMS::Secret": [params["SecretName"]]}
    elif "KeyId" in params:
        event["resourceType"] = "ACS::KMS::Key"
        event["resourceName"] = params["KeyId"]
        event["referencedResources"] = {"ACS::KMS::Key": [params["KeyId"]]}
    if error_code:
        event["errorCode"] = error_code
        event["errorMessage"] = error_message or ""
    with cloud.store.tx():
        cloud.store.put(KIND, event["eventId"], {**event, "_ts": now.timestamp()}, key2=action)


def _value(event: dict[str, Any], key: str) -> Any:
    who = event.get("userIdentity") or {}
    if key == "ServiceName":
        return event.get("serviceName")
    if key == "EventName":
        return event.get("eventName")
    if key == "User":
        return who.get("userName")
    if key == "EventId":
        return event.get("eventId")
    if key == "ResourceType":
        return event.get("resourceType")
    if key == "ResourceName":
        return event.get("resourceName")
    if key == "EventRW":
        return event.get("eventRW")
    if key == "EventAccessKeyId":
        return who.get("accessKeyId")
    if key == "SourceIpAddress":
        return event.get("sourceIpAddress")
    if key == "EventType":
        return event.get("eventType")
    if key == "RoleName":
        return str(who.get("userName") or "").split(":")[0] if who.get("type") == "assumed-role" else None
    return None


def _attributes(raw: Any) -> list[tuple[str, str]]:
    items = raw if isinstance(raw, list) else ([raw] if isinstance(raw, dict) else [])
    if len(items) > 2:
        raise errors.InvalidParameter("LookupAttribute", "At most two attribute items.")
    out = []
    for i, it in enumerate(items, 1):
        if not isinstance(it, dict) or not it.get("Key"):
            raise errors.InvalidParameter(f"LookupAttribute.{i}.Key", "A Key and a Value are expected.")
        key, value = str(it["Key"]), str(it.get("Value") or "")
        if key not in ATTRIBUTES:
            raise errors.InvalidParameter(f"LookupAttribute.{i}.Key", f"Valid values: {', '.join(ATTRIBUTES)}.")
        if not value:
            raise errors.MissingParameter(f"LookupAttribute.{i}.Value")
        out.append((key, value))
    return out


def _token(offset: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset, "f": fingerprint}).encode()).decode().rstrip("=")


def _untoken(token: str, fingerprint: str) -> int:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset, fp = int(doc["o"]), str(doc["f"])
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidParameter("NextToken", "The token is not valid.") from None
    if fp != fingerprint or offset < 0:
        raise errors.InvalidParameter("NextToken", "The request parameters must be those of the last request.")
    return offset


def lookup(cloud: Emulator, *, start: str | None, end: str | None, attributes: Any, max_results: int | None,
           next_token: str | None, direction: str) -> dict[str, Any]:
    """``LookupEvents`` (module doc): ``{Events, NextToken?, StartTime, EndTime}``."""
    now = cloud.clock.now()
    t_end = _parse("EndTime", end) if end else now
    t_start = _parse("StartTime", start) if start else t_end - DEFAULT_WINDOW
    if t_start > t_end:
        raise errors.InvalidParameter("StartTime", "The start time must not be later than the end time.")
    attrs = _attributes(attributes)
    limit = DEFAULT_MAX_RESULTS if not max_results else max_results
    fingerprint = hashlib.sha256(json.dumps([start, end, attrs, limit, direction]).encode()
                                 ).hexdigest()[:16]
    offset = _untoken(next_token, fingerprint) if next_token else 0
    visible_until = now - timedelta(seconds=float(getattr(cloud.settings, "actiontrail_delay_s", 60.0)))
    oldest = max(t_start, now - LOOKBACK)
    last = min(t_end, visible_until)
    name = next((v for k, v in attrs if k == "EventName"), None)
    docs = cloud.store.list(KIND, key2=name) if name is not None else cloud.store.list(KIND)
    found = [d for d in docs if oldest.timestamp() <= d["_ts"] <= last.timestamp()
             and all(_value(d, k) == v for k, v in attrs)]
    found.sort(key=lambda d: d["_ts"], reverse=direction != "FORWARD")
    page = found[offset:offset + limit]
    out: dict[str, Any] = {"Events": [{k: v for k, v in d.items() if k != "_ts"} for d in page],
                           "StartTime": _iso(t_start), "EndTime": _iso(t_end)}
    if offset + limit < len(found):
        out["NextToken"] = _token(offset + limit, fingerprint)
    return out
