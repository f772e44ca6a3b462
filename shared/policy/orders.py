"""The issuing lane's orders and its step's event and result (``workflows/issue.yaml``).

An order is the input of one ``albmtls-issue`` execution (ids and specs only, never key material,
≤ 64 KiB like every CloudFlow event — docs/SERVERLESS.md §1.13):

* :class:`ProvisionOrder` — ``{"kind": "provision", "input": <provision input>, "requester": …}``:
  every client of one listener gets a usable certificate (reused, or issued). Started by the
  provision flow's ``IssueClientCert`` step, named like the provisioning execution.
* :class:`RotateOrder` — ``{"kind": "rotate", "policy": <scan policy>}``: the daily scan and every
  renewal and retirement it finds. Started by ``rotation_scan`` (timer), named
  ``rotate-<prefix>-<yyyymmdd>``.

Long orders run in slices (one FC invocation each, bounded by the function's time): the
:class:`Cursor` says where the next slice starts and carries the counts so far — small whatever the
number of certificates (``sample`` keeps the first :data:`SAMPLE_MAX` results, ``warnings`` the
first :data:`WARNINGS_MAX`). Pure types; the step is ``shared.steps.issuer``.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.policy.contracts import ClientCertificateResult, ExecutionName, ProvisionInput
from shared.policy.rotation import ScanPolicy

__all__ = ["SAMPLE_MAX", "WARNINGS_MAX", "ProvisionOrder", "RotateOrder", "Order", "Outcome", "Retired", "Cursor",
           "DrainEvent", "DrainResult", "compact"]

#: results kept in the order's state (the rest are counted; each client's record is in KMS)
SAMPLE_MAX = 20
WARNINGS_MAX = 20


class ProvisionOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind",
                     tag="provision"):
    """Certificates for every client of ``input`` (the provision input); ``requester``: the
    provisioning execution that waits for it. ``check_only``: only the check phase (the sub-CA and
    every client's validity) — the preflight's order, ``<execution>-check``."""

    input: ProvisionInput
    requester: ExecutionName | None = None
    check_only: bool = False


class RotateOrder(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, tag_field="kind",
                  tag="rotate"):
    """The rotation under ``policy``: scan, renew what is due, retire what is replaced."""

    policy: ScanPolicy = msgspec.field(default_factory=ScanPolicy)


Order = ProvisionOrder | RotateOrder


class Outcome(ClientCertificateResult, frozen=True, kw_only=True):
    """A certificate the order issued or kept; a renewal also names the one it replaced
    (``old_identifier``, ``old_serial``), when that may be retired (``retire_after``) and whether it
    is to be revoked then (``revoke``)."""

    listener_key: str | None = None
    old_identifier: str | None = None
    old_serial: str | None = None
    retire_after: str | None = None
    revoke: bool | None = None

    def certificate(self) -> ClientCertificateResult:
        """The certificate alone (the provision flow's result)."""
        return ClientCertificateResult(**{f: getattr(self, f) for f in ClientCertificateResult.__struct_fields__})


class Retired(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A replaced certificate the order retired: ``revoked``, or — its holder switched to the
    replacement and no revocation is asked — ``holder_switched`` (recorded retired; it expires
    naturally)."""

    common_name: str
    listener_key: str
    identifier: str
    serial: str
    reason: str = "revoked"


class Cursor(msgspec.Struct, kw_only=True):
    """Where the next slice starts (``next``: a client index, or a list page) and what was done so
    far (``counts``, a ``sample`` of the results, ``warnings``); ``slices`` = invocations that worked."""

    next: int = 0
    counts: dict[str, int] = {}
    sample: list[Outcome] = []
    retired: list[Retired] = []
    #: the first renewals' deliveries to their holders (``shared.steps.deliver.ClientDelivery``)
    deliveries: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    slices: int = 0
    #: a provisioning order's check phase is done (the sub-CA and every client's validity): ``ca`` is
    #: the preflight's CA plan (``shared.steps.issuance.ca_plan``); the provision flow's preflight
    #: waits for it, so no write happens before the CA was checked — inside the lane, as every PCA call
    checked: bool = False
    ca: dict[str, Any] | None = None
    #: the first certificate that failed (``code``, ``message``): the order fails with it at its end
    first_error: dict[str, Any] | None = None

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def keep(self, result: ClientCertificateResult, **about: Any) -> None:
        if len(self.sample) < SAMPLE_MAX:
            self.sample.append(Outcome(**msgspec.structs.asdict(result), **about))

    def revoked(self, entry: Retired) -> None:
        if len(self.retired) < SAMPLE_MAX:
            self.retired.append(entry)

    def delivered(self, delivery: dict[str, Any]) -> None:
        if len(self.deliveries) < SAMPLE_MAX:
            self.deliveries.append(delivery)

    def warn(self, warning: dict[str, Any]) -> None:
        """Keep ``warning`` (the same warning about the same thing once)."""
        def about(w: dict[str, Any]) -> tuple[Any, ...]:
            return w.get("kind"), w.get("listener_key"), w.get("ca_identifier"), w.get("common_name")

        key = about(warning)
        if len(self.warnings) < WARNINGS_MAX and not any(about(w) == key for w in self.warnings):
            self.warnings.append(warning)


class DrainEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What ``workflows/issue.yaml`` sends the issuer: the execution's name, the cursor of the last
    slice and the loop counter. ``order``: the execution's input — not in the flow's state (an
    order may be 64 KiB itself): the issuer reads it from the execution when it is not given."""

    order: Order | None = None
    execution_name: ExecutionName | None = None
    cursor: Cursor | None = None
    attempt: Annotated[int, Meta(ge=0, le=100_000)] = 0


class DrainResult(msgspec.Struct, kw_only=True):
    """``status``: ``waiting`` (another order is at the head; look again in ``wait_s``), ``pending``
    (a slice ended; the next starts at ``cursor``), ``ok`` (the order is done; ``cursor`` holds the
    totals) — or ``failed`` with ``error``. ``position``: orders ahead of this one."""

    status: Literal["ok", "pending", "waiting", "failed"]
    kind: str
    cursor: Cursor
    wait_s: int = 1
    position: int | None = 0
    writes: int = 0


def compact(obj: Any) -> Any:
    """``obj`` as JSON-ready builtins without the fields that hold their defaults (a tagged struct
    keeps its tag): an order is placed as compactly as its input was given — 1,000 clients of
    ``{"common_name": …}`` stay ~30 KB instead of ~100 KB with every default spelled out, well under
    CloudFlow's 64 KiB execution input."""
    if isinstance(obj, msgspec.Struct):
        out: dict[str, Any] = {}
        cfg = type(obj).__struct_config__
        if cfg.tag is not None and isinstance(cfg.tag_field, str):
            out[cfg.tag_field] = cfg.tag
        for f in msgspec.structs.fields(obj):
            value = getattr(obj, f.name)
            if f.default is not msgspec.NODEFAULT and value == f.default:
                continue
            if f.default_factory is not msgspec.NODEFAULT and value == f.default_factory():
                continue
            out[f.encode_name] = compact(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [compact(v) for v in obj]
    if isinstance(obj, dict):
        return {k: compact(v) for k, v in obj.items()}
    return msgspec.to_builtins(obj)
