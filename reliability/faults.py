"""What the fault suite injects: the fault mix and the ``Faults.configure`` spec built from it.

Fault kinds (``localcloud/faults.py``): ``throttle`` (each product's answer: ``Throttling.User`` +
``x-acs-retry-after``; KMS ``Rejected.Throttling``, HTTP 429, without the header), ``5xx``
(``ServiceUnavailable``), ``busy`` (on ALB listener writes every busy answer Terraform retries —
:data:`ALB_BUSY` —, Alidns ``LastOperationNotFinished`` on record writes), ``drop`` (connection closed before the
request is processed), ``drop_after`` (processed — a write takes effect — then the response is
lost), ``timeout_after`` (processed, the response held past the SDK read timeout). Slow async jobs:
ALB jobs take ``alb_job_seconds``; PCA issuance and ALB writes get extra latency (below).
"""
from __future__ import annotations

from typing import Any

#: The fault mix: share of the total rate per kind (sums to 1) over *every* call (all products,
#: fnf included). On top of it, the product busy codes hit listener writes (ALB
#: ``IncorrectStatus.Listener``) and record writes (Alidns ``LastOperationNotFinished``) at
#: 1.5 × the rate of those calls.
MIX: dict[str, float] = {"throttle": 0.28, "5xx": 0.22, "drop": 0.17, "drop_after": 0.23, "timeout_after": 0.10}
#: The busy answers of ALB listener writes, one rule each (sharing the busy rate): the codes the
#: Terraform alicloud provider retries on them (``shared.core.errors.BUSY_CODES``; ``LockFailed`` it
#: sees on ACL dissociation) and its internal codes matched inside the error body
#: (``shared.core.errors.ALB_BODY_BUSY_MARKERS``). Which ``Code`` carries ``-21020``/``-22001`` is not
#: public: ``OperationFailed`` (HTTP 400) here is a stand-in, chosen because it is *not* a busy code,
#: so only the body match can make the retry layer retry it.
ALB_BUSY: list[dict[str, Any]] = [
    {"code": "IncorrectStatus.Listener"},
    {"code": "SystemBusy"},
    {"code": "IdempotenceProcessing"},
    {"code": "ResourceInConfiguring.Listener"},
    {"code": "LockFailed"},
    {"code": "OperationFailed", "action": "CreateListener", "status": 400,
     "message": "The operation failed because the load balancer is being configured (-21020)."},
    {"code": "OperationFailed", "action": "UpdateListenerAttribute", "status": 400,
     "message": "The operation failed because the listener is being configured (-22001)."},
]
#: Call-log codes the fault injection produces (``localcloud/server.py``).
INJECTED_CODES = {"Throttling.User", "Rejected.Throttling", "ServiceUnavailable", "LastOperationNotFinished",
                  "Dropped", "OK-Dropped", "OK-Timeout"} | {b["code"] for b in ALB_BUSY}


def fault_spec(rate: float, *, seed: int, retry_after_ms: int = 150, hold_ms: int = 900) -> dict[str, Any]:
    """The ``Faults.configure`` spec for a total fault rate ``rate`` spread over :data:`MIX`.

    Rules are tried in order, each with its own draw, so the effective total is close to
    ``rate`` (slightly less, as later rules only see calls earlier ones let through)."""
    if rate <= 0:
        return {"rules": [], "seed": seed, "latency_ms": {}}
    # per-rule probability so that the *sequential* rules give the intended share of all calls
    busy = round(min(0.5, rate * 1.5), 5)
    rules: list[dict[str, Any]] = []
    left_busy = 1.0
    for b in ALB_BUSY:      # sequential rules: each gets an equal share of the listener writes' busy rate
        share = busy / len(ALB_BUSY)
        rules.append({"kind": "busy", "product": "alb", "action": b.get("action", "*Listener*"),
                      "writes_only": True, "rate": round(min(1.0, share / left_busy), 5),
                      **{k: v for k, v in b.items() if k != "action"}})
        left_busy -= share
    rules.append({"kind": "busy", "product": "alidns", "action": "*DomainRecord*", "writes_only": True, "rate": busy})
    left = 1.0
    for kind, part in MIX.items():
        share = rate * part
        r: dict[str, Any] = {"kind": kind, "rate": round(min(1.0, share / left), 5)}
        if kind == "throttle":
            r["retry_after_ms"] = retry_after_ms
        if kind == "timeout_after":
            r["hold_ms"] = hold_ms
        rules.append(r)
        left -= share
    return {"rules": rules, "seed": seed,
            "latency_ms": {"pca:CreateClientCertificate*": [40, 160], "alb:Create*": [10, 60],
                           "alb:Update*": [10, 60], "alidns:Add*": [5, 30]}}
