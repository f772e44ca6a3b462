"""Thin adapter over KMS Secrets Manager (``alibabacloud_kms20160120``, API ``2016-01-20``).

Every call goes through the call policy (the one retry layer). Secret *values* are returned only by
:func:`get_secret_value`, inside a :class:`SecretValue` whose ``repr`` hides them; they are never
logged, put into results or exception messages. Not-found is ``Forbidden.ResourceNotFound``
(HTTP 404) on KMS; functions documented to return ``None`` turn it into ``None``.

Versions: each stored value has a caller-chosen ``VersionId`` (unique per secret; repeating one is
``Rejected.ResourceExist``) and stage labels; a new version takes ``ACSCurrent`` and the former
current one becomes ``ACSPrevious``. Binary values (``SecretDataType=binary``) travel Base64-encoded.
"""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError, Code

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "Kms", "CURRENT", "PREVIOUS", "SecretInfo", "SecretValue",
]

CURRENT, PREVIOUS = "ACSCurrent", "ACSPrevious"
DataType = Literal["text", "binary"]


class _DropQueryStrings(logging.Filter):
    """Strip query strings from HTTP client log records: the SDK sends every KMS parameter —
    ``SecretData`` included — in the URL, and ``urllib3`` logs request URLs at DEBUG."""

    _Q = re.compile(r"\?\S*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(self._Q.sub("?…", a) if isinstance(a, str) and "?" in a else a for a in record.args)
        if isinstance(record.msg, str) and "?" in record.msg and "SecretData" in record.msg:
            record.msg = self._Q.sub("?…", record.msg)
        return True


_HTTP_LOGGERS = ("urllib3.connectionpool", "requests.packages.urllib3.connectionpool")


def _guard_http_logs() -> None:
    for name in _HTTP_LOGGERS:
        lg = logging.getLogger(name)
        if not any(isinstance(f, _DropQueryStrings) for f in lg.filters):
            lg.addFilter(_DropQueryStrings())


def _models() -> Any:
    from alibabacloud_kms20160120 import models

    _guard_http_logs()
    return models


def _is_exists(exc: AlbMtlsError) -> bool:
    cc = exc.cloud_code or ""
    return cc == "Rejected.ResourceExist" or (exc.status_code == 409 and "Exist" in cc)


@dataclass(frozen=True, slots=True)
class SecretInfo:
    """``DescribeSecret``: metadata only (times as the API's ISO 8601 strings)."""

    name: str
    arn: str | None
    description: str | None
    secret_type: str | None
    create_time: str | None
    update_time: str | None
    planned_delete_time: str | None
    tags: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SecretValue:
    """``GetSecretValue``: ``data`` is the value as the API returns it (Base64 text for binary);
    hidden from ``repr``."""

    name: str
    version_id: str
    data_type: str
    stages: tuple[str, ...]
    data: str = field(repr=False)


class Kms(Adapter):
    """KMS Secrets Manager 2016-01-20 (module doc)."""

    product = "kms"

    def describe_secret(self, name: str, *, fetch_tags: bool = False) -> SecretInfo | None:
        """``DescribeSecret(SecretName)`` → :class:`SecretInfo`, or ``None`` when there is no such secret.
        Raises other ``AlbMtlsError``."""
        m = _models()
        client = self.client
        req = m.DescribeSecretRequest(secret_name=name, fetch_tags="true" if fetch_tags else None)
        try:
            b = self.call("kms:DescribeSecret", lambda: client.describe_secret(req)).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                return None
            raise
        tags = tuple((t.tag_key, t.tag_value) for t in (getattr(b.tags, "tag", None) or [])) if b.tags else ()
        return SecretInfo(name=b.secret_name or name, arn=b.arn, description=b.description, secret_type=b.secret_type,
                          create_time=b.create_time, update_time=b.update_time,
                          planned_delete_time=b.planned_delete_time, tags=tags)

    def list_secret_names(self, *, page_size: int = 100) -> Iterator[str]:
        """Every secret name ``ListSecrets`` lists (all pages, ``PageSize`` 1-100; secrets pending
        deletion included, as the API lists them). One page in memory. Raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        page = 1
        while True:
            req = m.ListSecretsRequest(page_number=page, page_size=page_size)
            b = self.call("kms:ListSecrets", partial(client.list_secrets, req)).body
            items = (getattr(b.secret_list, "secret", None) or []) if b.secret_list else []
            for it in items:
                if it.secret_name:
                    yield it.secret_name
            total = int(b.total_count or 0)
            if not items or page * page_size >= total:
                return
            page += 1

    def get_secret_value(self, name: str, *, version_id: str | None = None,
                         stage: str | None = None) -> SecretValue | None:
        """``GetSecretValue`` of one version: by ``version_id``, by ``stage``, or (neither) ``ACSCurrent``.

        Returns ``None`` when the secret or that version does not exist. A secret in its deletion
        window raises ``AlbMtlsError`` (``Rejected.ResourceInDeleteWindow``), as do other failures.
        """
        m = _models()
        client = self.client
        req = m.GetSecretValueRequest(secret_name=name, version_id=version_id, version_stage=stage)
        try:
            b = self.call("kms:GetSecretValue", lambda: client.get_secret_value(req)).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                return None
            raise
        stages = tuple(getattr(b.version_stages, "version_stage", None) or ()) if b.version_stages else ()
        return SecretValue(name=b.secret_name or name, version_id=b.version_id, data_type=b.secret_data_type or "text",
                           stages=stages, data=b.secret_data or "")

    def create_secret(self, name: str, data: str, version_id: str, *, data_type: DataType = "text",
                      description: str | None = None, tags: dict[str, str] | None = None) -> None:
        """``CreateSecret`` (generic secret) with its first version ``version_id`` (``ACSCurrent``).

        ``data``: text, or Base64 for ``data_type="binary"``. A write. Raises ``AlbMtlsError``
        (``Rejected.ResourceExist`` when the name is taken — see :func:`store_version`).
        """
        m = _models()
        client = self.client
        req = m.CreateSecretRequest(
            secret_name=name, secret_data=data, secret_data_type=data_type, version_id=version_id,
            description=description,
            tags=json.dumps([{"TagKey": k, "TagValue": v} for k, v in tags.items()]) if tags else None)
        self.call("kms:CreateSecret", lambda: client.create_secret(req))

    def put_secret_value(self, name: str, data: str, version_id: str, *, data_type: DataType = "text",
                         stages: list[str] | None = None) -> None:
        """``PutSecretValue``: a new version ``version_id`` (default stage ``ACSCurrent``). A write.
        Raises ``AlbMtlsError`` (``Rejected.ResourceExist`` when the version exists)."""
        m = _models()
        client = self.client
        req = m.PutSecretValueRequest(secret_name=name, secret_data=data, secret_data_type=data_type,
                                      version_id=version_id, version_stages=json.dumps(stages) if stages else None)
        self.call("kms:PutSecretValue", lambda: client.put_secret_value(req))

    def write_version(self, name: str, data: str, version_id: str, *, new: bool, data_type: DataType = "text",
                      description: str | None = None, tags: dict[str, str] | None = None) -> bool:
        """Store ``version_id`` of secret ``name`` holding ``data`` in one write, without reading first:
        ``CreateSecret`` when the caller expects a ``new`` secret, else ``PutSecretValue`` (the new
        version takes ``ACSCurrent``). Each falls back to the other when the secret's existence was
        guessed wrong. Returns True when this call wrote; False when the version already exists — a
        re-run after a lost answer or a crash: the caller decides from that version (read it).

        The lane's single writer (``shared.policy.lane``) is what makes a blind write safe: no one
        else writes this automation's secrets meanwhile. Raises ``AlbMtlsError``.
        """
        if new:
            try:
                self.create_secret(name, data, version_id, data_type=data_type, description=description, tags=tags)
                return True
            except AlbMtlsError as exc:
                if not _is_exists(exc):
                    raise
        try:
            self.put_secret_value(name, data, version_id, data_type=data_type)
            return True
        except AlbMtlsError as exc:
            if _is_exists(exc):
                return False
            if exc.is_not_found and not new:
                return self.write_version(name, data, version_id, new=True, data_type=data_type,
                                          description=description, tags=tags)
            raise

    def store_version(self, name: str, data: str, version_id: str, *, data_type: DataType = "text",
                      description: str | None = None, tags: dict[str, str] | None = None) -> int:
        """Make ``version_id`` the ``ACSCurrent`` version of secret ``name`` holding ``data``.

        Observe first: when that version already exists, nothing is written (a re-run). Else
        ``CreateSecret`` for a new secret, ``PutSecretValue`` for an existing one; a lost response
        (``Rejected.ResourceExist`` on the retry) counts as done. Returns the number of writes (0/1).

        Raises ``AlbMtlsError`` (e.g. the secret is in its deletion window: restore or rename it).
        """
        attempted = 0
        if self.describe_secret(name) is None:
            try:
                self.create_secret(name, data, version_id, data_type=data_type, description=description, tags=tags)
                return 1
            except AlbMtlsError as exc:
                if not _is_exists(exc):
                    raise
                attempted = 1  # our lost response, or a concurrent creator: the version check decides
        existing = self.get_secret_value(name, version_id=version_id)
        if existing is not None:
            if CURRENT not in existing.stages:
                raise AlbMtlsError(Code.CLOUD_ERROR, f"secret {name!r} holds version {version_id!r} but it is not "
                                   f"{CURRENT}; a newer version was stored after it — not overwriting")
            return attempted
        try:
            self.put_secret_value(name, data, version_id, data_type=data_type)
        except AlbMtlsError as exc:
            if _is_exists(exc):
                return 1  # our write took effect, its response was lost
            raise
        return 1

    def delete_secret(self, name: str, *, recovery_window_days: int) -> str | None:
        """``DeleteSecret`` with ``RecoveryWindowInDays`` (7–30; sent as a string, as the SDK types
        it): the secret is scheduled for deletion and can be restored (:meth:`restore_secret`) until
        then. A write. Returns the ``PlannedDeleteTime`` the service answered. Raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        req = m.DeleteSecretRequest(secret_name=name, recovery_window_in_days=str(int(recovery_window_days)))
        body = self.call("kms:DeleteSecret", lambda: client.delete_secret(req)).body
        return getattr(body, "planned_delete_time", None)

    def restore_secret(self, name: str) -> None:
        """``RestoreSecret``: cancel a scheduled deletion (inside the recovery window only). A write.
        Raises ``AlbMtlsError`` (not found once the window has passed)."""
        m = _models()
        client = self.client
        self.call("kms:RestoreSecret", lambda: client.restore_secret(m.RestoreSecretRequest(secret_name=name)))
