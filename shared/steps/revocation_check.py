"""The read-only check of the revocation assumption, for ``albmtls doctor`` to register
(``check_revocation_enforcement``). Apart from ``shared.steps.offboarding`` so that the offboarding
function's package does not carry the ALB client it needs."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.adapters import pca as pca_api
from shared.policy import offboarding as policy

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["check_revocation_enforcement"]


def check_revocation_enforcement(ctx: StepContext) -> dict[str, Any]:
    """The read-only check of the assumption ``shared.policy.offboarding.LISTENER_REFUSAL_BOUND``
    (a real listener refuses a revoked PCA certificate), for ``albmtls doctor`` to register.

    Settling it takes a write (revoke a certificate whose key we hold, then connect with it), so
    this check measures the exposure if the assumption is wrong instead: the certificates this
    automation revoked that have not expired yet, per listener, and whether that listener passes
    the client-certificate headers to its backends (so that they can deny those fingerprints
    themselves, docs/BACKENDS.md). Reads: ``ListClientCertificate``, ``ListListeners``,
    ``GetListenerAttribute``.

    Returns ``{"assumption", "how", "result": "unverified" | "at_risk", "detail", "fix",
    "listeners": [{listener_key, revoked_unexpired, client_cert_headers}]}``.
    """
    from shared.adapters import alb as alb_api
    from shared.policy.ids import parse_custom_identifier, split_listener_key
    now = ctx.clock.now()
    exposed: dict[str, int] = {}
    for c in ctx.adapter(pca_api.Pca).list_client_certificates():
        ref = parse_custom_identifier(c.custom_identifier)
        if ref and c.status == "REVOKE" and c.not_after is not None and c.not_after > now:
            exposed[ref] = exposed.get(ref, 0) + 1
    listeners, at_risk = [], []
    for lk, n in sorted(exposed.items()):
        parts = split_listener_key(lk)
        lst = ctx.adapter(alb_api.Alb).find_listener_on_port(*parts) if parts else None
        headers = bool(lst is not None and lst.client_cert_headers)
        listeners.append({"listener_key": lk, "revoked_unexpired": n, "client_cert_headers": headers})
        if not headers:
            at_risk.append(lk)
    bound = int(policy.LISTENER_REFUSAL_BOUND.total_seconds())
    return {
        "assumption": f"a listener refuses a client certificate its PCA sub-CA revoked within {bound} s "
                      "(shared.policy.offboarding.LISTENER_REFUSAL_BOUND)",
        "how": "not settled without a write (a revoked certificate whose key we hold); counted instead: the "
               "revoked certificates still inside their validity, per listener, and whether the listener passes "
               "the client-certificate headers to its backends",
        "result": "at_risk" if at_risk else "unverified",
        "detail": f"{sum(exposed.values())} revoked certificate(s) not yet expired on {len(exposed)} listener(s)"
                  + (f"; without client-certificate headers: {', '.join(at_risk)}" if at_risk else ""),
        "fix": "keep client_cert_headers on and deny revoked fingerprints at the backends (docs/BACKENDS.md); "
               "to settle it, revoke a test client and connect with it (albmtls revoke, then curl)",
        "listeners": listeners,
    }
