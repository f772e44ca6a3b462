"""The issuing sub-CA: what is observed of it, the named checks (shared by the preflight and
``issue_client_cert``) and what follows from it (the leaf key algorithm, each client's validity).

PCA facts (docs/ALIBABA-APIS.md §2.2): client certificates are issued by a subordinate CA
(``SUB_ROOT``) whose status is ``ISSUE`` and whose instance is ``USED``; no certificate may end after
the CA or the PCA subscription (``UseExpireTime``); ``CertRemainingCount`` is its quota.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code
from shared.policy import nameconstraints, pki, renewal
from shared.policy.checks import Chain, Violation

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from shared.policy.contracts import ClientSpec
    from shared.policy.ids import CertificateId

__all__ = ["CaObservation", "CaTarget", "CA_CHECKS", "key_algorithm", "client_window", "BACKDATE"]

BACKDATE = renewal.DEFAULT_BACKDATE


class CaCertificateLike(Protocol):
    """What the checks read of ``shared.adapters.pca.CaCertificate``."""

    @property
    def identifier(self) -> str: ...
    @property
    def certificate_type(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def algorithm(self) -> str | None: ...
    @property
    def not_before(self) -> datetime | None: ...
    @property
    def not_after(self) -> datetime | None: ...
    @property
    def cert_pem(self) -> str | None: ...
    @property
    def cert_max_days(self) -> int | None: ...
    @property
    def remaining_count(self) -> int | None: ...


class CaInstanceLike(Protocol):
    """What the checks read of ``shared.adapters.pca.CaInstanceStatus``."""

    @property
    def status(self) -> str | None: ...
    @property
    def use_expire_time(self) -> datetime | None: ...


class CaTarget(Protocol):
    """What the CA checks read of the input: the sub-CA's id (a ``ProvisionInput``, or the rotation's
    target for one stored certificate)."""

    @property
    def ca_id(self) -> CertificateId: ...


@dataclass(frozen=True, slots=True)
class CaObservation:
    """``DescribeCACertificate`` and ``GetCAInstanceStatus`` of ``inp.ca_identifier`` at ``now``."""

    inp: CaTarget
    now: datetime
    ca: CaCertificateLike
    instance: CaInstanceLike | None

    @property
    def ident(self) -> str:
        """The sub-CA's ``Identifier`` as the PCA answered (``inp.ca_identifier`` may name it by its
        ``CertIdentifier``)."""
        return self.ca.identifier or self.inp.ca_id.for_pca()

    @property
    def subscription_end(self) -> datetime | None:
        return self.instance.use_expire_time if self.instance else None


def _algorithm(o: CaObservation) -> pki.KeyAlgorithm | None:
    if not o.ca.cert_pem:
        return None
    try:
        return pki.key_algorithm_of_certificate(o.ca.cert_pem)
    except AlbMtlsError:
        return None


def key_algorithm(o: CaObservation) -> pki.KeyAlgorithm:
    """The leaf key algorithm the CA's key family gives (EC → P-256, RSA → 2048); after the checks."""
    alg = _algorithm(o)
    assert alg is not None, "CA_CHECKS first"
    return alg


def client_window(o: CaObservation, client: ClientSpec, index: int | None = None) -> renewal.ValidityWindow:
    """The validity for ``client`` issued at ``o.now``. Raises ``CA_EXPIRES_TOO_SOON`` (field
    ``clients[i].days``) when it does not fit the CA, the subscription or ``CertMaxTime``."""
    field = f"clients[{index}].days" if index is not None else "days"
    window = renewal.validity_window(o.now, client.days, ca_not_after=o.ca.not_after or o.now,
                                     subscription_end=o.subscription_end, ca_not_before=o.ca.not_before,
                                     backdate=BACKDATE, common_name=client.common_name, field=field)
    if o.ca.cert_max_days and client.days > o.ca.cert_max_days:
        raise AlbMtlsError(Code.CA_EXPIRES_TOO_SOON,
                           f"client {client.common_name!r}: {client.days} days is longer than the sub-CA issues "
                           f"now (CertMaxTime {o.ca.cert_max_days} days); ask for fewer days",
                           field=field, details={"days": client.days, "max_days": o.ca.cert_max_days})
    return window


# -- the checks ---------------------------------------------------------------------------------
def is_sub_ca(o: CaObservation) -> Violation | None:
    """Client certificates come from a subordinate CA."""
    if o.ca.certificate_type and o.ca.certificate_type != "SUB_ROOT":
        return Violation(Code.INVALID_INPUT, f"the private CA {o.ident!r} is a {o.ca.certificate_type} CA; client "
                         "certificates are issued by a subordinate CA (SUB_ROOT): give its Identifier", "ca_identifier")
    return None


def can_issue(o: CaObservation) -> Violation | None:
    """Its status is ``ISSUE`` and its instance is in use (``USED``)."""
    if o.ca.status and o.ca.status != "ISSUE":
        return Violation(Code.CA_NOT_FOUND, f"the sub-CA {o.ident!r} cannot issue: its status is {o.ca.status}; use an "
                         "issuing (ISSUE) sub-CA", "ca_identifier")
    if o.instance is not None and o.instance.status and o.instance.status != "USED":
        return Violation(Code.CA_NOT_FOUND, f"the private CA instance of {o.ident!r} is {o.instance.status}, "
                         "not in use (USED); enable or renew it in the PCA console", "ca_identifier")
    return None


def not_ended(o: CaObservation) -> Violation | None:
    """Neither the CA certificate nor the PCA subscription has ended."""
    if o.ca.not_after is None or o.ca.not_after <= o.now:
        return Violation(Code.CA_EXPIRES_TOO_SOON, f"the sub-CA {o.ident!r} has ended "
                         f"({iso_utc(o.ca.not_after) if o.ca.not_after else 'no end date'}); renew it", "ca_identifier")
    end = o.subscription_end
    if end is not None and end <= o.now:
        return Violation(Code.CA_EXPIRES_TOO_SOON,
                         f"the PCA subscription of {o.ident!r} ended {iso_utc(end)}; renew it", "ca_identifier")
    return None


def key_family_usable(o: CaObservation) -> Violation | None:
    """EC or RSA (this automation issues EC P-256 or RSA 2048 leaves), as declared and as in its certificate."""
    if (o.ca.algorithm or "").upper() not in ("", "RSA", "ECC", "EC") or not o.ca.cert_pem:
        return Violation(Code.CA_ALGORITHM_MISMATCH, f"the sub-CA {o.ident!r} uses {o.ca.algorithm or 'an unknown'} "
                         "keys; this automation issues EC P-256 or RSA 2048 client keys, so use an EC or RSA sub-CA",
                         "ca_identifier")
    alg = _algorithm(o)
    if alg is None:
        return Violation(Code.CA_ALGORITHM_MISMATCH, f"the sub-CA {o.ident!r} certificate key is neither EC nor RSA; "
                         "use an EC or RSA sub-CA", "ca_identifier")
    declared = {"ECC": "EC", "EC": "EC", "RSA": "RSA"}.get((o.ca.algorithm or "").upper())
    if declared and declared != alg.family:
        return Violation(Code.CA_ALGORITHM_MISMATCH, f"the sub-CA {o.ident!r} is declared {o.ca.algorithm} but its "
                         f"certificate holds an {alg.family} key", "ca_identifier")
    return None


def names_permitted(o: CaObservation) -> Violation | None:
    """Every client's CN (a host name) and DNS SANs fall inside the sub-CA's name constraints
    (``shared.policy.nameconstraints``; a CA without them constrains nothing). Only a target that
    lists clients (a provision input) is checked here; a renewal's CSR is checked at issuance."""
    clients = getattr(o.inp, "clients", None)
    if not clients:
        return None
    permitted = nameconstraints.permitted_dns_of(o.ca.cert_pem)
    return nameconstraints.check_clients(clients, permitted, f"the sub-CA {o.ident!r}")


def quota_left(o: CaObservation) -> Violation | None:
    """``CertRemainingCount`` is not used up."""
    if o.ca.remaining_count is not None and o.ca.remaining_count <= 0:
        return Violation(Code.QUOTA_EXCEEDED, f"the sub-CA {o.ident!r} has no certificates left in its quota "
                         "(CertRemainingCount 0); buy more in the PCA console", "ca_identifier")
    return None


#: The sub-CA can issue for this input (the preflight and ``issue_client_cert``).
CA_CHECKS: Chain[CaObservation] = Chain("ca", (
    ("is_sub_ca", is_sub_ca),                    # a ROOT CA does not issue client certificates here
    ("can_issue", can_issue),                    # ISSUE status, instance USED
    ("not_ended", not_ended),                    # the CA and the subscription still run
    ("key_family_usable", key_family_usable),    # EC or RSA, as declared
    ("quota_left", quota_left),                  # CertRemainingCount > 0
    ("names_permitted", names_permitted),        # the clients' names inside its name constraints
))
