"""Reading and recording listeners' desired states (the record: ``shared.policy.desired``).

* :func:`run` — the ``record_desired_state`` step (FC ``albmtls-record-desired-state``): the
  provision flow calls it right after the preflight passed and before the first change, so every
  provisioning run — ``albmtls provision``, ``albmtls apply``, the HTTP API, a run started in the
  console — records what it applies, and a refused input records nothing (zero writes).
* :func:`record_desired` — store a listener's input as its desired state when it differs from the
  recorded one (zero writes otherwise).
* :func:`read_desired` — the recorded state of one listener (``None`` when none was recorded).
* :func:`list_desired` — the listener keys that have a recorded state under a secret prefix
  (``ListSecrets``, every page): what the drift timer and the inventory walk.

Source actions: KMS ``GetSecretValue``, ``DescribeSecret``, ``CreateSecret``, ``PutSecretValue``,
``ListSecrets``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.adapters.kms import CURRENT, Kms
from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import ProvisionInput, StepEvent, StepResult
from shared.policy.desired import DesiredState, decode_desired, desired_state, encode_desired, same_input, version_id
from shared.policy.ids import desired_state_name, parse_desired_state_name

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator
    from datetime import datetime

    from shared.steps.context import StepContext

__all__ = ["read_desired", "record_desired", "list_desired", "Recorded", "RecordDesiredStateResult", "run"]


@dataclass(frozen=True, slots=True)
class Recorded:
    """Outcome of :func:`record_desired`: ``action`` ``created`` | ``updated`` | ``unchanged``,
    ``writes`` (0/1), ``secret`` (its name), ``version`` (the current ``VersionId``)."""

    action: str
    writes: int
    secret: str
    version: str


def read_desired(kms: Kms, secret_prefix: str, listener_key: str, *, strict: bool = True) -> DesiredState | None:
    """The ``ACSCurrent`` desired state of ``listener_key``, or ``None`` when none was recorded.

    Raises ``AlbMtlsError`` on cloud failures, and (``strict``) ``CLOUD_ERROR`` when the secret holds
    something that is not a record (changed by hand: applying the listener again replaces it);
    not ``strict``: such a record counts as none."""
    name = desired_state_name(secret_prefix, listener_key)
    raw = kms.get_secret_value(name, stage=CURRENT)
    if raw is None:
        return None
    rec = decode_desired(raw.data, raw.data_type)
    if rec is None or rec.listener_key != listener_key:
        if not strict:
            return None
        raise AlbMtlsError(Code.CLOUD_ERROR, f"the KMS secret {name!r} does not hold a desired-state record of "
                           f"{listener_key} (changed by hand?); apply that listener again to record it")
    return rec


def record_desired(kms: Kms, inp: ProvisionInput, *, now: datetime, execution: str | None = None,
                   region: str | None = None) -> Recorded:
    """Make ``inp`` the recorded desired state of its listener (under ``inp.secret_prefix``).

    Reads the current record first: the same input → nothing is written (``unchanged``). Else a new
    version (``VersionId`` from the time and the input's digest) becomes ``ACSCurrent``; a record
    that cannot be read is replaced. Raises ``AlbMtlsError`` on cloud failures (e.g. the secret is in
    its deletion window)."""
    name = desired_state_name(inp.secret_prefix, inp.listener_key)
    before = read_desired(kms, inp.secret_prefix, inp.listener_key, strict=False)
    if same_input(before, inp, region):
        assert before is not None
        return Recorded("unchanged", 0, name, version_id(before))
    rec = desired_state(inp, now=now, execution=execution)
    data, data_type = encode_desired(rec)
    vid = version_id(rec)
    writes = kms.store_version(name, data, vid, data_type=data_type,
                               tags={"albmtls:listener": inp.listener_key, "albmtls:record": "desired-state"},
                               description=f"alb-mtls desired state of listener {inp.listener_key} (no secrets; "
                                           "docs/ARCHITECTURE.md, stored records)")
    return Recorded("created" if before is None else "updated", writes, name, vid)


def list_desired(kms: Kms, secret_prefix: str) -> Iterator[str]:
    """The listener keys with a desired-state secret under ``secret_prefix`` (``ListSecrets``, every
    page; names are matched here, so the listing's filters are not relied on)."""
    seen: set[str] = set()
    for name in kms.list_secret_names():
        parsed = parse_desired_state_name(name)
        if parsed is not None and parsed[0] == secret_prefix and parsed[1] not in seen:
            seen.add(parsed[1])
            yield parsed[1]


class RecordDesiredStateResult(StepResult, frozen=True, kw_only=True):
    """``record_desired_state`` result: ``writes`` (0/1), ``action`` (``created``/``updated``/
    ``unchanged``), ``secret`` (the record's KMS secret name) and ``version`` (its ``VersionId``)."""

    writes: int = 0
    action: str
    secret: str
    version: str


def run(event: StepEvent, ctx: StepContext) -> RecordDesiredStateResult:
    """The ``record_desired_state`` step: record ``event.input`` as its listener's desired state
    (:func:`record_desired`; ``execution`` = the flow execution's name). A re-run records nothing new.
    Raises ``AlbMtlsError`` (returned as a failed result by the handler) or ``TransientError``."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="holders") as pool:
        forgot_f = pool.submit(forget_removed_holders, ctx, event.input)
        rec = record_desired(ctx.adapter(Kms), event.input, now=ctx.clock.now(), execution=ctx.execution_name,
                             region=ctx.settings.region)
        forgot = forgot_f.result()
    ctx.logger.info("desired state recorded", extra={"listener_key": event.input.listener_key, "action": rec.action,
                                                      "secret": rec.secret, "version": rec.version,
                                                      "holders_removed": forgot})
    return RecordDesiredStateResult(writes=rec.writes + forgot, action=rec.action, secret=rec.secret,
                                    version=rec.version)


#: delivery records read at once (a listener may have 1,000 clients)
HOLDER_READERS = 32


def forget_removed_holders(ctx: Any, inp: ProvisionInput) -> int:
    """The clients of ``inp`` that name no ``holder``: a delivery record that still names one (the
    input dropped it) is written without it, so no link goes out for it any more
    (``shared.policy.delivery``). Beside the run's changes, not after the health check: the
    provision flow's ``Deliver`` then reads only the clients that have a holder — with 1,000
    clients and none, it read 1,000 records on the run's critical path. Returns the writes."""
    from concurrent.futures import ThreadPoolExecutor

    from shared.policy.delivery import decode_record, encode_record
    from shared.policy.delivery import version_id as record_version

    kms = ctx.adapter(Kms)
    names = [inp.secrets(c.common_name) for c in inp.clients if c.holder is None]
    if not names:
        return 0

    def one(n: Any) -> int:
        raw = kms.get_secret_value(n.delivery, stage=CURRENT)
        rec = decode_record(raw.data) if raw is not None else None
        if rec is None or rec.holder is None:
            return 0
        rec = rec.with_holder(None)
        return int(kms.write_version(n.delivery, encode_record(rec), record_version(rec, "holder"), new=False,
                                     data_type="text"))

    with ThreadPoolExecutor(min(HOLDER_READERS, len(names)), thread_name_prefix="holder") as pool:
        return sum(pool.map(one, names))
