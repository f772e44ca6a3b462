"""What a fleet costs a year under each CA choice (``albmtls ca cost``): pure arithmetic over the
fleet's own listeners and clients and ONE price table (:data:`PRICES`), whose every number and
source is docs/COSTS.md's "Price list" (a test keeps the two equal). No I/O.

Certificates a year = Σ over the clients of every listener of 365 / (days between renewals), where a
certificate of ``days`` days is renewed at 2/3 of its lifetime, or ``renew_before_days`` before its
end when that is set and earlier (``shared.policy.renewal.due_at``, the rule the rotation applies).

The choices, one line each (:func:`forecast`):

* ``pca`` — a CAS private CA: the root subscription (one sub-CA included) × 12, one more intermediate
  per further PCA sub-CA the fleet names, and every certificate at the tiered price (the first 1,000 a
  year at 0.7, the next at 0.3 — graduated, as docs/COSTS.md reads the page). The 10 certificates the
  subscription bundles are valid 30 days only and are not subtracted. Past 10,000 certificates a year
  the page names no price: counted at 0.3 and said (``notes``).
* ``own-existing-kms`` — an own CA on a KMS instance the account already pays for: two key versions
  (root and issuing sub-CA) per own CA at the pay-as-you-go key fee (on a subscription instance within
  its key quota they cost nothing: an upper bound).
* ``own-new-payg`` — the same on a new pay-as-you-go software instance: its daily fee, the keys and the
  QPS fee at a peak of 1 (one ``AsymmetricSign`` per certificate never reaches 2 a second at a fleet's
  pace).
* ``own-new-subscription`` — a new subscription software instance (1,000 keys included).

Certificates cost nothing under an own CA. Not counted, because every choice has them alike: the KMS
secrets alb-mtls keeps per holder, and (own CA) the 2 more key versions a rekey adds until the old
generation is retired (``albmtls ca retire``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.policy.renewal import RENEW_FRACTION_DEN, RENEW_FRACTION_NUM

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

    from shared.policy.contracts import ProvisionInput

__all__ = ["Price", "PRICES", "DAYS_A_YEAR", "renewal_interval_days", "certificates_a_year", "pca_certificate_cost",
           "FleetUse", "fleet_use", "Choice", "Forecast", "forecast", "CHOICES"]

DAYS_A_YEAR = 365
_PCA_PAGE = "https://www.alibabacloud.com/help/en/ssl-certificate/product-overview/pca-biling"
_KMS_PAGE = "https://www.alibabacloud.com/help/en/kms/key-management-service/product-overview/kms-billing"
_KMS_PAYG = "https://www.alibabacloud.com/help/en/kms/key-management-service/pay-as-you-go"


@dataclass(frozen=True, slots=True)
class Price:
    """One priced item: USD per ``unit``, and the public page that says so (docs/COSTS.md)."""

    usd: float
    unit: str
    source: str


#: The price table, USD on the international site as docs/COSTS.md records it (the buy page prevails).
PRICES: dict[str, Price] = {
    "pca_root_month": Price(760, "month (root + 1 sub-CA)", _PCA_PAGE),
    "pca_intermediate_month": Price(380, "month per extra intermediate", _PCA_PAGE),
    "pca_certificate_first_1000": Price(0.7, "certificate (1-1,000 a year)", _PCA_PAGE),
    "pca_certificate_above_1000": Price(0.3, "certificate (1,001-10,000 a year)", _PCA_PAGE),
    "kms_software_subscription_month": Price(500, "month (software instance, 1,000 keys)", _KMS_PAGE),
    "kms_software_payg_day": Price(4.5, "day (software instance, pay-as-you-go)", _KMS_PAYG),
    "kms_key_version_day": Price(0.03, "day per key version (pay-as-you-go)", _KMS_PAYG),
    "kms_qps_day": Price(0.5, "day per peak QPS (pay-as-you-go)", _KMS_PAYG),
}
#: the PCA certificate tiers: the first 1,000 a year at one price, the rest at the other
PCA_TIER = 1000
#: above this many certificates a year the PCA page names no price
PCA_PRICED_UP_TO = 10_000
#: KMS key versions per own CA generation: the root's and the issuing sub-CA's
KEYS_PER_CA = 2

CHOICES = ("pca", "own-existing-kms", "own-new-payg", "own-new-subscription")


def renewal_interval_days(days: int, renew_before_days: int | None = None) -> float:
    """Days between two certificates of one client: 2/3 of ``days``, or ``days − renew_before_days``
    when that is set and shorter (``renewal.due_at``)."""
    interval = days * RENEW_FRACTION_NUM / RENEW_FRACTION_DEN
    if renew_before_days is not None:
        interval = min(interval, days - renew_before_days)
    return float(interval)


def certificates_a_year(days: int, renew_before_days: int | None = None) -> float:
    """Certificates one client gets a year: 365 / :func:`renewal_interval_days`."""
    return DAYS_A_YEAR / renewal_interval_days(days, renew_before_days)


def pca_certificate_cost(certificates: float) -> float:
    """USD a year for ``certificates`` PCA client certificates at the tiered price (graduated)."""
    low = PRICES["pca_certificate_first_1000"].usd
    high = PRICES["pca_certificate_above_1000"].usd
    first = min(certificates, PCA_TIER)
    return first * low + max(0.0, certificates - PCA_TIER) * high


@dataclass(frozen=True, slots=True)
class FleetUse:
    """What a fleet issues: holders (clients over all listeners), certificates a year, the renewal
    intervals seen (days → holders), the distinct PCA sub-CAs and own CAs it names."""

    listeners: int
    holders: int
    certificates: float
    intervals: dict[float, int]
    pca_sub_cas: tuple[str, ...]
    own_cas: tuple[str, ...]


def fleet_use(listeners: Iterable[ProvisionInput]) -> FleetUse:
    """:class:`FleetUse` of the fleet's listeners (provision inputs)."""
    n = holders = 0
    certs = 0.0
    intervals: dict[float, int] = {}
    pca: set[str] = set()
    own: set[str] = set()
    for inp in listeners:
        n += 1
        spec = inp.own_ca
        if spec is not None:
            own.add(spec.name)
        else:
            pca.add(inp.ca_id.identifier or "")
        for c in inp.clients:
            holders += 1
            interval = round(renewal_interval_days(c.days, c.renew_before_days), 2)
            intervals[interval] = intervals.get(interval, 0) + 1
            certs += certificates_a_year(c.days, c.renew_before_days)
    return FleetUse(listeners=n, holders=holders, certificates=certs, intervals=dict(sorted(intervals.items())),
                    pca_sub_cas=tuple(sorted(pca)), own_cas=tuple(sorted(own)))


@dataclass(frozen=True, slots=True)
class Choice:
    """One CA choice's year: fixed (subscriptions, instances, keys) + per certificate = total."""

    choice: str
    label: str
    fixed_a_year: float
    certificates_a_year: float
    total_a_year: float
    current: bool = False
    notes: tuple[str, ...] = ()

    @property
    def total_a_month(self) -> float:
        return self.total_a_year / 12


@dataclass(frozen=True, slots=True)
class Forecast:
    use: FleetUse
    choices: tuple[Choice, ...] = field(default_factory=tuple)


def forecast(use: FleetUse) -> Forecast:
    """One :class:`Choice` per entry of :data:`CHOICES` for the fleet's :class:`FleetUse`. A fleet
    naming no PCA sub-CA is priced with one; one naming no own CA with one."""
    p = {k: v.usd for k, v in PRICES.items()}
    sub_cas = max(1, len(use.pca_sub_cas))
    own_cas = max(1, len(use.own_cas))
    pca_fixed = 12 * (p["pca_root_month"] + (sub_cas - 1) * p["pca_intermediate_month"])
    pca_certs = pca_certificate_cost(use.certificates)
    notes: tuple[str, ...] = ()
    if use.certificates > PCA_PRICED_UP_TO:
        notes = (f"over {PCA_PRICED_UP_TO:,} certificates a year the PCA page names no price: counted at "
                 f"{p['pca_certificate_above_1000']}",)
    keys_year = own_cas * KEYS_PER_CA * p["kms_key_version_day"] * DAYS_A_YEAR
    payg_year = (p["kms_software_payg_day"] + p["kms_qps_day"]) * DAYS_A_YEAR + keys_year
    subs_year = 12 * p["kms_software_subscription_month"]
    uses_pca, uses_own = bool(use.pca_sub_cas), bool(use.own_cas)
    plural = "s" if sub_cas > 1 else ""
    own_label = f"{own_cas} own CA{'s' if own_cas > 1 else ''}"
    return Forecast(use=use, choices=(
        Choice("pca", f"PCA (root + {sub_cas} sub-CA{plural})", pca_fixed, pca_certs, pca_fixed + pca_certs,
               current=uses_pca, notes=notes),
        Choice("own-existing-kms", f"{own_label}, KMS instance already in the account", keys_year, 0.0, keys_year,
               current=uses_own),
        Choice("own-new-payg", f"{own_label}, new pay-as-you-go software KMS instance", payg_year, 0.0, payg_year),
        Choice("own-new-subscription", f"{own_label}, new subscription software KMS instance", subs_year, 0.0,
               subs_year),
    ))
