"""Name constraints of an own CA's issuing sub-CA (RFC 5280 §4.2.1.10): ``albmtls ca create
--permitted-dns example.com`` puts a critical ``nameConstraints`` extension with those ``dNSName``
permitted subtrees in every issuing sub-CA of the CA, and issuance refuses, before any write, a client
whose names fall outside (:func:`names_outside`, the check ``names_permitted`` of
``shared.policy.ca.CA_CHECKS``, and the CSR check of ``shared.adapters.ownca.OwnCa``).

Which names are checked, as verifiers check them:

* every DNS SAN: inside when it equals a permitted name or ends with ``.`` + it (RFC 5280: "adding
  zero or more labels to the left-hand side"), compared without letter case;
* the subject CN when it looks like a host name (two or more letter-digit-hyphen labels, as OpenSSL's
  ``NAME_CONSTRAINTS_check_CN`` decides) — stricter than OpenSSL, which checks it only without DNS
  SANs, and than ``cryptography``, which never does: a CN refused here is never one a verifier would
  accept. A CN such as ``alice`` is not a host name and is not constrained;
* email, IP and URI SANs are other name forms: ``dNSName`` subtrees do not constrain them (RFC 5280),
  so the listener-naming URI SAN is never affected.

Pure: no I/O.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated

from shared.core.errors import AlbMtlsError, Code
from shared.policy.checks import Violation
from shared.policy.validation import pattern

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable, Sequence

    from shared.policy.contracts import ClientSpec

__all__ = ["PermittedDns", "MAX_PERMITTED", "normalize_permitted", "in_subtree", "is_host_name", "permitted_dns_of",
           "names_outside", "client_names", "check_clients", "check_names"]

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_HOST = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$", re.IGNORECASE)
#: at most this many permitted names per CA
MAX_PERMITTED = 20
#: one permitted DNS subtree: a lowercase host or domain name (no wildcard, no leading dot)
PermittedDns = Annotated[str, pattern(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$",
                                      "a lowercase DNS name such as example.com (letters, digits, inner hyphens; no "
                                      "wildcard, no leading dot): the CA may issue for it and every name below it",
                                      description="a DNS name whose subtree the CA may issue for: example.com")]


def normalize_permitted(names: Sequence[str], field: str) -> tuple[str, ...]:
    """``names`` (each already a :data:`PermittedDns`) without repeats, in their order; refused
    (``INVALID_INPUT`` naming ``field[i]``): an IP address (``10.0.0.1`` is four DNS labels to the
    pattern, but only an ``iPAddress`` constraint constrains IP SANs — not supported here) and a name
    of one label or with an all-digit last label (``com``: the CA could issue for a whole top-level
    domain; no top-level domain is all digits). The one rule of ``ca create --permitted-dns`` and the
    input's ``ca.permitted_dns``."""
    import ipaddress

    from shared.core.errors import InvalidInputError

    out: list[str] = []
    for i, name in enumerate(names):
        at = f"{field}[{i}]"
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            raise InvalidInputError(at, f"{name!r} is an IP address: name constraints here are DNS names only "
                                    "(dNSName; IP address constraints are not supported) — give a domain such as "
                                    "corp.example.com, or leave the CA unconstrained")
        last = name.rsplit(".", 1)[-1]
        if "." not in name or last.isdigit():
            raise InvalidInputError(at, f"{name!r} is not a domain of its own (a single label or an all-digit top "
                                    "label): the CA could issue for a whole top-level domain — give a domain "
                                    "of two or more labels such as example.com")
        if name not in out:
            out.append(name)
    return tuple(out)


def is_host_name(value: str) -> bool:
    """Two or more letter-digit-hyphen labels (what OpenSSL treats a CN as a DNS name for)."""
    return bool(_HOST.match(value)) and len(value) <= 253


def in_subtree(name: str, base: str) -> bool:
    """``name`` is ``base`` or below it (RFC 5280 dNSName constraint), without letter case."""
    n, b = name.lower().rstrip("."), base.lower().rstrip(".")
    return n == b or n.endswith("." + b)


def permitted_dns_of(cert_pem: str | bytes | None) -> tuple[str, ...] | None:
    """The ``dNSName`` permitted subtrees of a CA certificate's ``nameConstraints``, ``None`` when it
    has no such extension (or none of that form)."""
    if not cert_pem:
        return None
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem.encode() if isinstance(cert_pem, str) else cert_pem)
    try:
        nc = cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return None
    names = tuple(s.value for s in (nc.permitted_subtrees or []) if isinstance(s, x509.DNSName))
    return names or None


def names_outside(names: Iterable[tuple[str, str, str]], permitted: Sequence[str]) -> tuple[str, str, str] | None:
    """The first ``(field, kind, value)`` — kind ``cn`` or ``dns`` — outside every permitted subtree;
    ``None`` when all are inside (a CN that is not a host name is not constrained)."""
    for field, kind, value in names:
        if kind == "cn" and not is_host_name(value):
            continue
        if kind in ("cn", "dns") and not any(in_subtree(value, p) for p in permitted):
            return field, kind, value
    return None


def client_names(client: ClientSpec, index: int | None = None) -> list[tuple[str, str, str]]:
    """The constrained names of an input's client: its CN and its DNS SANs, with their field paths."""
    from shared.policy.pki import san_kind

    at = f"clients[{index}]." if index is not None else ""
    out = [(f"{at}common_name", "cn", client.common_name)]
    for j, san in enumerate(client.sans):
        if san_kind(san) == "dns":
            out.append((f"{at}sans[{j}]", "dns", san))
    return out


def _violation(found: tuple[str, str, str], permitted: Sequence[str], ca: str, who: str) -> Violation:
    field, kind, value = found
    what = "CN" if kind == "cn" else "DNS SAN"
    return Violation(Code.NAME_NOT_PERMITTED, f"{who} ({field}): {what} {value!r} is outside the names {ca} may "
                     f"issue for — its name constraints permit DNS {', '.join(permitted)} and the names below them; "
                     "use a name inside them, or a CA without those constraints", field)


def check_clients(clients: Sequence[ClientSpec], permitted: Sequence[str] | None, ca: str) -> Violation | None:
    """The first client of an input with a name outside ``permitted`` (``None``: unconstrained)."""
    if not permitted:
        return None
    for i, c in enumerate(clients):
        found = names_outside(client_names(c, i), permitted)
        if found is not None:
            return _violation(found, permitted, ca, f"client {c.common_name!r}")
    return None


def check_names(common_name: str | None, dns_sans: Sequence[str], permitted: Sequence[str] | None, ca: str) -> None:
    """Raise ``NAME_NOT_PERMITTED`` for a certificate about to be issued (its subject CN and DNS SANs)
    with a name outside ``permitted``."""
    if not permitted:
        return
    names = ([("common_name", "cn", common_name)] if common_name else []) + [
        (f"sans[{j}]", "dns", v) for j, v in enumerate(dns_sans)]
    found = names_outside(names, permitted)
    if found is not None:
        v = _violation(found, permitted, ca, f"certificate {common_name or '-'!r}")
        raise AlbMtlsError(v.code, v.message, field=v.field)
