"""The preflight of an own CA the provisioning run is to create (``shared.policy.ownca``; the
creation itself: ``shared.steps.ownca``). Read-only, and apart from the creation so that the steps
that only issue through an own CA (issuance, the health check) never reach the CAS repository.
"""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.kms import Kms
from shared.adapters.kmskeys import KmsKeys
from shared.adapters.ownca import read_record
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code
from shared.policy import nameconstraints, ownca

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.contracts import ProvisionInput
    from shared.steps.context import StepContext

__all__ = ["instance_id", "preflight_new", "BACKDATE"]

BACKDATE = timedelta(minutes=5)


def instance_id(ctx: StepContext) -> str:
    """``settings.kms_instance_id``, or ``CONFIG_INVALID`` saying what to set."""
    inst = ctx.settings.kms_instance_id
    if not inst:
        raise AlbMtlsError(Code.CONFIG_INVALID, "an own CA's keys are created in a KMS instance (KMS 3.0 keeps "
                           "asymmetric keys in one): set ALBMTLS_KMS_INSTANCE_ID to its id (kst-…)",
                           field="kms_instance_id")
    return inst


def preflight_new(ctx: StepContext, inp: ProvisionInput) -> dict[str, Any] | None:
    """The preflight's CA summary for an own CA the run is to create (``None`` when the CA exists:
    it is checked like any sub-CA). Read-only: the KMS instance exists, every client's names fall inside
    the name constraints it is to get (``ca.permitted_dns``) and its validity fits the sub-CA to be
    made; an existing CA made with another key spec or other name constraints is refused
    (:func:`shared.policy.ownca.definition_conflict`)."""
    from shared.policy import pki

    spec = inp.own_ca
    assert spec is not None
    found = read_record(ctx.adapter(Kms), inp.secret_prefix, spec.name)
    if found is not None:
        problem = ownca.definition_conflict(spec.name, found[0].key_spec, found[0].permitted_dns, spec.key_spec,
                                            spec.permitted_dns, at="ca.")
        if problem is not None:
            raise problem
    if found is not None and found[0].complete:
        return None
    inst = instance_id(ctx)
    if ctx.adapter(KmsKeys).get_kms_instance(inst) is None:
        raise AlbMtlsError(Code.CONFIG_INVALID, f"the KMS instance {inst} (ALBMTLS_KMS_INSTANCE_ID) does not exist in "
                           "this account and region: an own CA's keys are created in it", field="kms_instance_id")
    found_names = nameconstraints.check_clients(inp.clients, spec.permitted_dns, f"own CA {spec.name!r}")
    if found_names is not None:
        raise found_names.error()
    now = ctx.clock.now()
    clients = []
    for i, c in enumerate(inp.clients):
        if c.days >= spec.issuing_days:
            raise AlbMtlsError(Code.CA_EXPIRES_TOO_SOON, f"client {c.common_name!r}: {c.days} days do not fit the "
                               f"issuing sub-CA of {spec.issuing_days} days that own CA {spec.name!r} is to get; "
                               "ask for fewer days or raise ca.issuing_days", field=f"clients[{i}].days")
        clients.append({"common_name": c.common_name, "days": c.days,
                        "not_after": iso_utc(now - BACKDATE + timedelta(days=c.days))})
    alg = pki.KeyAlgorithm.EC_P256 if spec.key_spec == "EC_P256" else pki.KeyAlgorithm.RSA_2048
    return {"kind": "own", "action": "create", "name": spec.name, "key_spec": spec.key_spec,
            "kms_instance_id": inst, "ca_identifier": ownca.issuing_identifier(spec.name, 1),
            "alb_ca_certificate_id": None, "common_name": f"{spec.name} Issuing CA G1",
            "key_family": alg.family, "leaf_key_algorithm": alg.value,
            "not_after": iso_utc(now - BACKDATE + timedelta(days=spec.issuing_days)), "subscription_end": None,
            "remaining_count": None, "clients": clients, "warnings": []}
