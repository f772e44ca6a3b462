"""The checks of ``albmtls doctor``: each reads the target (the local cloud or a real account) —
reads and ``DryRun=true`` writes only — and says, for the assumptions it settles
(``localcloud/assumptions.py``), whether the target agrees.

Every check is ``check(env) -> Finding`` (``base``); :data:`CHECKS` names them exactly as
``localcloud.assumptions.DOCTOR_CHECKS`` does (a test keeps the two the same). The checks live by
product: ``alb`` (listeners, the CA id forms, the dry-run write), ``reads`` (credentials, PCA, CAS,
Alidns, KMS), ``ownca`` (your own CA), ``runtime`` (CloudFlow, FC, revocation at the listener),
``trail`` (ActionTrail).
"""
from __future__ import annotations

from collections.abc import Callable

from .alb import alb_read, ca_id_forms, listener_dry_run
from .base import REPO, DoctorEnv, Finding
from .ownca import own_ca
from .reads import alidns_codes, cas_codes, credentials, kms_access, pca_codes, pca_quota
from .runtime import cloudflow, functions, revocation
from .trail import actiontrail

__all__ = ["CHECKS", "REPO", "DoctorEnv", "Finding", "functions"]

#: check name → function, in the order the doctor runs them (credentials first)
CHECKS: dict[str, Callable[[DoctorEnv], Finding]] = {
    "credentials": credentials, "ca-id-forms": ca_id_forms, "listener-dry-run": listener_dry_run,
    "alb-read": alb_read, "pca-quota": pca_quota, "pca-codes": pca_codes, "cas-codes": cas_codes,
    "alidns-codes": alidns_codes, "kms-access": kms_access, "cloudflow": cloudflow, "functions": functions,
    "revocation": revocation, "own-ca": own_ca, "actiontrail": actiontrail,
}
