"""Which CA issues: the CAS private CA (``shared.adapters.pca.Pca``) or an own CA whose keys are in KMS
(``shared.adapters.ownca.OwnCa``), chosen from the input's ``ca`` or from an identifier
(``own/<name>/…`` names an own CA; anything else a PCA one). Both answer the same calls
(``describe_ca_certificate``, ``create_client_certificate_with_csr``, ``describe_client_certificate``,
``revoke_client_certificate`` …), so the steps issue, renew and revoke the same way through either.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters.ownca import OwnCa
from shared.adapters.pca import Pca
from shared.policy import ownca

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    from shared.adapters.pca import CertificateStatus, ClientCertificate
    from shared.policy.ids import CertificateId, SecretNames
    from shared.steps.context import StepContext

__all__ = ["OwnCa", "CaHolder", "prefix_of", "own_issuer", "ca_issuer", "issuer_for_identifier", "describe_issued",
           "issued_statuses", "iter_own", "iter_issued"]


class CaHolder(Protocol):
    """What picking the issuer reads of a target: its CA and its secret names (the prefix)."""

    @property
    def ca_id(self) -> CertificateId: ...

    def secrets(self, common_name: str) -> SecretNames: ...


def prefix_of(target: CaHolder) -> str:
    """The secret prefix of ``target`` (its secret names start with it; a prefix has no ``/``)."""
    return target.secrets("x").pfx.split("/", 1)[0]


def own_issuer(ctx: StepContext, prefix: str, name: str) -> OwnCa:
    """The own CA ``name`` under ``prefix``, one per invocation (its record read once)."""
    return ctx.memo(("ownca", prefix, name),
                    lambda: OwnCa(ctx.call, settings=ctx.settings, prefix=prefix, name=name, now=ctx.clock.now))


def ca_issuer(ctx: StepContext, target: CaHolder) -> Pca | OwnCa:
    """The issuer of ``target``'s CA."""
    cid = target.ca_id
    if cid.is_own:
        assert cid.own_name is not None
        return own_issuer(ctx, prefix_of(target), cid.own_name)
    return ctx.adapter(Pca)


def issuer_for_identifier(ctx: StepContext, identifier: str | None, prefix: str) -> Pca | OwnCa:
    """The issuer of the certificate or CA ``identifier``."""
    ref = ownca.parse_own(identifier)
    return own_issuer(ctx, prefix, ref.name) if ref is not None else ctx.adapter(Pca)


def describe_issued(ctx: StepContext, identifier: str, names: SecretNames) -> ClientCertificate | None:
    """``DescribeClientCertificate`` of ``identifier`` through its issuer (an own CA finds it in the
    ``…/meta`` record ``names``)."""
    api = issuer_for_identifier(ctx, identifier, names.pfx.split("/", 1)[0])
    if isinstance(api, OwnCa):
        return api.describe_client_certificate(identifier, names=names)
    return api.describe_client_certificate(identifier)


def issued_statuses(ctx: StepContext, identifiers: list[str], prefix: str) -> dict[str, CertificateStatus]:
    """The status of each certificate ``identifiers`` names, through its issuer: the PCA's in
    ``DescribeClientCertificateStatus`` calls of fifty; an own CA's from its revocation list (one
    KMS read per CA): ``REVOKE`` when listed, else ``ISSUE`` — its certificates are the records
    that name them, which the caller has read."""
    from shared.adapters.pca import CertificateStatus

    pca_ids = [i for i in identifiers if ownca.parse_own(i) is None]
    out = ctx.adapter(Pca).client_certificate_statuses(pca_ids) if pca_ids else {}
    lists: dict[str, ownca.RevocationList] = {}
    for ident in identifiers:
        ref = ownca.parse_own(ident)
        if ref is None or ref.serial is None:
            continue
        if ref.name not in lists:
            lists[ref.name] = own_issuer(ctx, prefix, ref.name).revocations()
        revoked = lists[ref.name].find(ref.serial) is not None
        out[ident] = CertificateStatus(ident, ref.serial, "REVOKE" if revoked else "ISSUE")
    return out


def iter_own(ctx: StepContext, prefix: str) -> Iterator[ClientCertificate]:
    """The certificates of every own CA under ``prefix`` (``shared.adapters.ownca``: the ``…/meta``
    records name them; each CA's revocation list marks the revoked ones). Nothing, after one
    ``ListSecrets``, when there is no own CA."""
    from shared.adapters.kms import Kms
    from shared.adapters.ownca import list_ca_names, list_own_certificates
    kms = ctx.adapter(Kms)
    names = list_ca_names(kms, prefix)
    if not names:
        return
    revoked = {n: own_issuer(ctx, prefix, n).revocations() for n in names}
    for certs in list_own_certificates(kms, prefix, revoked).by_ca.values():
        yield from certs


def iter_issued(ctx: StepContext, prefix: str | None) -> Iterator[Any]:
    """Every certificate ``ListClientCertificate`` lists (the PCA's, one page in memory), then, with
    ``prefix``, every one the own CAs under it issued (:func:`iter_own`)."""
    yield from ctx.adapter(Pca).list_client_certificates()
    if prefix is not None:
        yield from iter_own(ctx, prefix)
