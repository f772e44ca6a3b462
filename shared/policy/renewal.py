"""The renewal policy of client certificates (pure: no I/O, the clock is passed in).

docs/DECISIONS.md §3 "renewal" and "validity":

* A certificate is **due** at 2/3 of its *issued* lifetime (day 20 of 30), or ``renew_before``
  ahead of its end when that is set and earlier (:func:`due_at`). ``renew_before`` at least as
  long as the lifetime is refused (``RENEW_BEFORE_TOO_LONG``): the certificate would be due the
  moment it is issued, a renewal loop.
* :func:`state` sorts one certificate into ``valid`` / ``due`` / ``expired`` (and ``superseded`` /
  ``revoked`` when the caller knows so).
* A new certificate never ends after the issuing CA or the PCA subscription (:func:`validity_window`,
  ``CA_EXPIRES_TOO_SOON`` when the asked days do not fit); its ``notBefore`` is backdated a few
  minutes against clock skew, but never before the CA's own ``notBefore``.
* :func:`ca_warning` warns while the CA's end is within the next two renewals.

All datetimes are timezone-aware (UTC); naive ones are refused with ``INVALID_INPUT``. Durations
are :class:`datetime.timedelta`; where a ``renew_before`` is accepted an ``int`` means days.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from shared.core.errors import AlbMtlsError, Code, invalid_input

__all__ = [
    "RENEW_FRACTION_NUM", "RENEW_FRACTION_DEN", "DEFAULT_BACKDATE", "CertState", "CertTimes",
    "ValidityWindow", "CaWarning", "due_at", "state", "validity_window", "ca_warning", "as_renew_before",
]

#: Renewal point as a fraction of the issued lifetime: 2/3 (cert-manager / step-ca default).
RENEW_FRACTION_NUM, RENEW_FRACTION_DEN = 2, 3
#: How far a new certificate's ``notBefore`` is set before "now" (clock skew of the holders).
DEFAULT_BACKDATE = timedelta(minutes=5)

CertState = Literal["valid", "due", "expired", "superseded", "revoked"]


def _aware(value: datetime, field: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise invalid_input(field, "a timezone-aware datetime is required")
    return value.astimezone(UTC)


def as_renew_before(value: timedelta | int | None, *, field: str = "renew_before_days") -> timedelta | None:
    """``None`` → ``None``; an ``int`` → that many days; a ``timedelta`` unchanged.

    Raises ``AlbMtlsError(INVALID_INPUT, field)`` for a negative value or another type.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise invalid_input(field, "renew_before must be a number of days or a timedelta")
    if isinstance(value, int):
        value = timedelta(days=value)
    if not isinstance(value, timedelta):
        raise invalid_input(field, "renew_before must be a number of days or a timedelta")
    if value < timedelta(0):
        raise invalid_input(field, "renew_before must not be negative")
    return value


def due_at(not_before: datetime, not_after: datetime, renew_before: timedelta | int | None = None) -> datetime:
    """When a certificate valid ``[not_before, not_after]`` is due for renewal.

    ``not_before + 2/3 × lifetime`` (microsecond precision, rounded down), or
    ``not_after − renew_before`` when ``renew_before`` is given and that is earlier. The result
    lies strictly inside the lifetime for any accepted ``renew_before``, and is non-increasing in
    ``renew_before``.

    Parameters: aware datetimes; ``renew_before`` a ``timedelta``, ``int`` days or ``None``.

    Raises
    ------
    AlbMtlsError
        ``RENEW_BEFORE_TOO_LONG`` when ``renew_before ≥ lifetime``; ``INVALID_INPUT`` for naive
        datetimes, ``not_after ≤ not_before`` or a negative ``renew_before``.
    """
    nb, na = _aware(not_before, "not_before"), _aware(not_after, "not_after")
    lifetime = na - nb
    if lifetime <= timedelta(0):
        raise invalid_input("not_after", "not_after must be after not_before")
    rb = as_renew_before(renew_before)
    due = nb + lifetime * RENEW_FRACTION_NUM // RENEW_FRACTION_DEN
    if rb is not None:
        if rb >= lifetime:
            raise AlbMtlsError(Code.RENEW_BEFORE_TOO_LONG,
                               f"renew_before ({_human(rb)}) is not shorter than the certificate's lifetime "
                               f"({_human(lifetime)}): it would be due at once; use a shorter renew_before_days",
                               field="renew_before_days")
        due = min(due, na - rb)
    return due


@dataclass(frozen=True, slots=True)
class CertTimes:
    """What :func:`state` needs of a certificate: its validity and the renew-before it was given."""

    not_before: datetime
    not_after: datetime
    renew_before: timedelta | int | None = None


def state(cert: CertTimes, now: datetime, *, revoked: bool = False, superseded: bool = False) -> CertState:
    """The renewal state of ``cert`` at ``now``.

    Precedence: ``revoked`` > ``superseded`` (both supplied by the caller: the PCA status, or a
    newer certificate for the same holder) > ``expired`` (``now > not_after``) > ``due``
    (``now ≥ due_at(...)``) > ``valid``. A certificate not yet valid (``now < not_before``) is
    ``valid``: it was just issued with a backdated start or the clocks differ.

    Raises like :func:`due_at`.
    """
    now = _aware(now, "now")
    if revoked:
        return "revoked"
    if superseded:
        return "superseded"
    due = due_at(cert.not_before, cert.not_after, cert.renew_before)
    if now > _aware(cert.not_after, "not_after"):
        return "expired"
    if now >= due:
        return "due"
    return "valid"


@dataclass(frozen=True, slots=True)
class ValidityWindow:
    """The validity to ask the PCA for: ``not_before`` (backdated) and ``not_after`` (aware UTC, whole
    seconds — ``BeforeTime``/``AfterTime`` are epoch seconds); ``limit`` = the bound it had to fit."""

    not_before: datetime
    not_after: datetime
    limit: datetime

    @property
    def before_time(self) -> int:
        """``not_before`` as epoch seconds (PCA ``BeforeTime``)."""
        return int(self.not_before.timestamp())

    @property
    def after_time(self) -> int:
        """``not_after`` as epoch seconds (PCA ``AfterTime``)."""
        return int(self.not_after.timestamp())


def validity_window(now: datetime, days: int, *, ca_not_after: datetime, subscription_end: datetime | None = None,
                    ca_not_before: datetime | None = None, backdate: timedelta = DEFAULT_BACKDATE,
                    common_name: str | None = None, field: str | None = None) -> ValidityWindow:
    """The validity of a new certificate of ``days`` days issued at ``now``.

    ``not_before = now − backdate`` (never before ``ca_not_before``) and ``not_after = not_before +
    days`` exactly (seconds truncated): the lifetime is ``days``, so the renewal at 2/3 of it falls
    where the input says, while a holder whose clock is a little behind still accepts a fresh
    certificate. The certificate must end no later than ``ca_not_after`` and the PCA subscription
    end (``subscription_end``, ``None`` = unknown/unbounded).

    Raises
    ------
    AlbMtlsError
        ``CA_EXPIRES_TOO_SOON`` (``field`` as given, naming ``common_name`` and the dates, and the
        most days that would fit) when ``not_after`` passes either bound; ``INVALID_INPUT`` for
        ``days < 1`` or naive datetimes.
    """
    now = _aware(now, "now").replace(microsecond=0)
    if not isinstance(days, int) or isinstance(days, bool) or days < 1:
        raise invalid_input(field or "days", "days must be a positive integer")
    ca_end = _aware(ca_not_after, "ca_not_after")
    limit, what = ca_end, "the issuing CA certificate ends"
    if subscription_end is not None:
        sub_end = _aware(subscription_end, "subscription_end")
        if sub_end < limit:
            limit, what = sub_end, "the private CA (PCA) subscription ends"
    not_before = now - backdate
    if ca_not_before is not None:
        not_before = max(not_before, _aware(ca_not_before, "ca_not_before").replace(microsecond=0))
    not_after = not_before + timedelta(days=days)
    if not_after > limit:
        fit = max(0, (limit - not_before) // timedelta(days=1))
        who = f"client {common_name!r}: " if common_name else ""
        raise AlbMtlsError(
            Code.CA_EXPIRES_TOO_SOON,
            f"{who}a certificate of {days} days issued now ({_iso(now)}) would end {_iso(not_after)}, but {what} "
            f"{_iso(limit)}; ask for at most {fit} days, or renew the CA / extend the subscription",
            field=field, details={"days": days, "max_days": fit, "limit": _iso(limit)})
    return ValidityWindow(not_before=not_before, not_after=not_after, limit=limit)


@dataclass(frozen=True, slots=True)
class CaWarning:
    """How the CA's end affects renewals. ``level``: ``expired`` (CA ended), ``critical`` (a full
    lifetime no longer fits now), ``warning`` (it stops fitting within ``renew_window``).
    ``last_full_issue`` = the last instant a full-lifetime certificate fits."""

    level: Literal["expired", "critical", "warning"]
    message: str
    last_full_issue: datetime


def ca_warning(ca_not_after: datetime, lifetime: timedelta | int, renew_window: timedelta | int,
               now: datetime) -> CaWarning | None:
    """``None`` while the CA outlives the next two renewals of certificates of ``lifetime`` renewed
    ``renew_window`` before their end (one every ``lifetime − renew_window``), each issued in full;
    else a :class:`CaWarning` naming the first renewal that would be refused. Two renewals ahead
    gives a whole renewal period of notice before the first refusal. ``lifetime``/``renew_window``:
    timedelta or int days.

    Raises ``INVALID_INPUT`` for naive datetimes or non-positive ``lifetime``/negative window.
    """
    ca_end, now = _aware(ca_not_after, "ca_not_after"), _aware(now, "now")
    lt = timedelta(days=lifetime) if isinstance(lifetime, int) else lifetime
    rw = timedelta(days=renew_window) if isinstance(renew_window, int) else renew_window
    if lt <= timedelta(0):
        raise invalid_input("lifetime", "lifetime must be positive")
    if rw < timedelta(0):
        raise invalid_input("renew_window", "renew_window must not be negative")
    last = ca_end - lt
    if now >= ca_end:
        return CaWarning("expired", f"the CA certificate ended {_iso(ca_end)}; no certificate can be issued", last)
    if now > last:
        return CaWarning("critical", f"the CA ends {_iso(ca_end)}: a {_human(lt)} certificate no longer fits "
                         f"(since {_iso(last)}); renew the CA", last)
    every = max(lt - rw, timedelta(0))
    for k, which in ((1, "the next renewal"), (2, "the renewal after next")):
        at = now + k * every
        if at > last:
            return CaWarning("warning", f"the CA ends {_iso(ca_end)}: {which} (due about {_iso(at)}; a "
                             f"{_human(lt)} certificate renewed every {_human(every)}) can no longer be issued in "
                             f"full — the last full one fits until {_iso(last)}; renew the CA before then", last)
    return None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human(td: timedelta) -> str:
    if td % timedelta(days=1) == timedelta(0):
        return f"{td.days} days"
    return f"{td.total_seconds() / 86400:.2f} days"
