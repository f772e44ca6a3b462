"""The doctor's ``actiontrail`` check: can this identity read the KMS audit trail, and do its
``GetSecretValue`` events name the secret where the product reads it (docs/DELIVERY.md "Adoption
and retirement"). Read-only: one ``LookupEvents`` page of the last day's ``GetSecretValue`` events."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from .base import Finding, finish, observe

if TYPE_CHECKING:
    from .base import DoctorEnv

READS = "cross:System holder reads"
EVENT = "actiontrail:behaviour:GetSecretValue event"


def actiontrail(env: DoctorEnv) -> Finding:
    from shared.adapters.actiontrail import ActionTrail
    from shared.core.clock import clock_from_env
    m = __import__("alibabacloud_actiontrail20200706.models", fromlist=["models"])
    trail = env.adapter(ActionTrail)
    now = clock_from_env().now()
    req = m.LookupEventsRequest(start_time=(now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                end_time=now.strftime("%Y-%m-%dT%H:%M:%SZ"), max_results="50",
                                lookup_attribute=[m.LookupEventsRequestLookupAttribute(key="EventName",
                                                                                       value="GetSecretValue")])
    obs = observe(trail, "actiontrail:LookupEvents", lambda c: c.lookup_events(req))
    if not obs.ok:
        return Finding("actiontrail", "warn", f"LookupEvents: {obs.shows()}",
                       "grant actiontrail:LookupEvents (deploy/ram/function-role-policy.json) to the functions' role: "
                       "without it a system holder's old certificate retires at its grace end, not at its first read",
                       settles={READS: f"contradicted: LookupEvents answers {obs.shows()}"})
    events = [e for e in (obs.value.body.events or []) if isinstance(e, dict)]
    named = [e for e in events if isinstance(e.get("requestParameters"), dict)
             and e["requestParameters"].get("SecretName")]
    settles = {READS: f"confirmed: LookupEvents answered ({len(events)} GetSecretValue events in the last day)",
               EVENT: "not seen: no GetSecretValue event in the last day" if not events else
               f"confirmed: {len(named)} of {len(events)} name requestParameters.SecretName" if named else
               "contradicted: no GetSecretValue event names requestParameters.SecretName"}
    return finish("actiontrail", settles, f"LookupEvents (EventName GetSecretValue, last day): {len(events)} events, "
                   f"{len(named)} naming their secret", {"events": len(events), "named": len(named)})
