"""Name constraints of an own CA's sub-CA (shared.policy.nameconstraints, issue 18 point 'name
constraints'): which names are inside, the named check in CA_CHECKS, and that the sub-CA built by
ownca_x509 with --permitted-dns is honoured by path validation — cryptography's verifier and
`openssl verify` refuse a leaf outside, accept one inside."""
from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from shared.core.errors import AlbMtlsError
from shared.policy import nameconstraints as nc
from shared.policy import ownca_x509
from shared.policy.ca import CA_CHECKS, CaObservation
from shared.policy.contracts import ClientSpec
from shared.policy.validation import decode

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.mark.parametrize(("name", "base", "inside"), [
    ("example.test", "example.test", True),
    ("app.example.test", "example.test", True),
    ("a.b.EXAMPLE.test", "example.test", True),
    ("badexample.test", "example.test", False),       # a label boundary, not a suffix
    ("example.test.evil", "example.test", False),
    ("test", "example.test", False),
])
def test_in_subtree(name, base, inside):
    assert nc.in_subtree(name, base) is inside


@pytest.mark.parametrize(("value", "host"), [
    ("alice", False), ("payments-service-prod", False), ("mallory.ops", True), ("app.example.test", True),
    ("a..b", False), ("-a.b", False), ("a_b.example", False), ("alice@example.test", False),
])
def test_a_cn_is_constrained_only_when_it_is_a_host_name(value, host):
    assert nc.is_host_name(value) is host


def _client(cn, sans=()):
    return decode(ClientSpec, {"common_name": cn, "sans": list(sans)})


@pytest.mark.parametrize(("clients", "field"), [
    ([("alice", [])], None),                                              # a CN that is no host name
    ([("alice", ["alice.example.test", "alice@other.test", "10.0.0.1", "urn:x:y"])], None),  # other forms
    ([("svc.example.test", [])], None),
    ([("alice", []), ("svc.other.test", [])], "clients[1].common_name"),
    ([("alice", ["ok.example.test", "api.other.test"])], "clients[0].sans[1]"),
])
def test_check_clients_names_the_first_field_outside(clients, field):
    found = nc.check_clients([_client(cn, s) for cn, s in clients], ("example.test",), "own CA 'demo'")
    if field is None:
        assert found is None
    else:
        assert found is not None and found.code == "NAME_NOT_PERMITTED" and found.field == field
        assert "permit DNS example.test" in found.message and "own CA 'demo'" in found.message
        assert f"({field})" in found.message


def test_no_constraints_constrain_nothing():
    assert nc.check_clients([_client("x.other.test")], None, "ca") is None
    nc.check_names("x.other.test", ["y.other.test"], (), "ca")


def test_check_names_of_a_csr():
    nc.check_names("alice", ["alice.example.test"], ("example.test",), "ca")
    with pytest.raises(AlbMtlsError) as info:
        nc.check_names("alice", ["alice.example.test", "evil.test"], ("example.test",), "own CA 'demo'")
    assert info.value.code == "NAME_NOT_PERMITTED" and info.value.field == "sans[1]"
    assert "evil.test" in info.value.message


# -- the certificates ------------------------------------------------------------------------------
def _chain(permitted=("example.test",)):
    root_key = ec.generate_private_key(ec.SECP256R1())
    sub_key = ec.generate_private_key(ec.SECP256R1())
    nb = NOW - timedelta(minutes=5)
    root = ownca_x509.root_builder(root_key.public_key(), "demo", 1, nb, nb + timedelta(days=3650)) \
        .sign(root_key, hashes.SHA256())
    sub = ownca_x509.issuing_builder(sub_key.public_key(), "demo", 1, root, nb, nb + timedelta(days=730), permitted) \
        .sign(root_key, hashes.SHA256())
    return root, sub, sub_key


def _leaf(sub, sub_key, cn, dns):
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.UniformResourceIdentifier(f"albmtls://alb-x/443/{cn}"), *(x509.DNSName(d) for d in dns)]
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .add_extension(x509.SubjectAlternativeName(sans), critical=False).sign(key, hashes.SHA256()))
    return ownca_x509.client_builder(csr, sub, NOW - timedelta(minutes=5), NOW + timedelta(days=30)) \
        .sign(sub_key, hashes.SHA256())


def _pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def test_the_sub_ca_carries_critical_name_constraints():
    _, sub, _ = _chain()
    ext = sub.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical and ext.value.permitted_subtrees == [x509.DNSName("example.test")]
    assert ext.value.excluded_subtrees is None
    assert nc.permitted_dns_of(_pem(sub)) == ("example.test",)
    _, plain, _ = _chain(())
    assert nc.permitted_dns_of(_pem(plain)) is None


@pytest.mark.parametrize(("cn", "dns", "ok"), [
    ("alice", ["alice.example.test"], True),
    ("alice", [], True),                                   # only the URI SAN: unconstrained form
    ("alice", ["alice.other.test"], False),
    ("alice", ["example.test", "x.example.test.evil"], False),
])
def test_path_validation_honours_the_constraints(tmp_path, cn, dns, ok):
    root, sub, sub_key = _chain()
    leaf = _leaf(sub, sub_key, cn, dns)
    verifier = PolicyBuilder().store(Store([root])).time(NOW).build_client_verifier()
    if ok:
        verifier.verify(leaf, [sub])
    else:
        with pytest.raises(VerificationError):
            verifier.verify(leaf, [sub])
    (tmp_path / "root.pem").write_bytes(_pem(root))
    (tmp_path / "sub.pem").write_bytes(_pem(sub))
    (tmp_path / "leaf.pem").write_bytes(_pem(leaf))
    p = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                        str(tmp_path / "sub.pem"), "-purpose", "sslclient", str(tmp_path / "leaf.pem")],
                       capture_output=True, text=True, timeout=20)
    assert (p.returncode == 0) is ok, p.stdout + p.stderr
    if not ok:
        assert "permitted subtree violation" in p.stdout + p.stderr


def test_openssl_checks_a_host_name_cn_without_dns_sans(tmp_path):
    """Why a CN that is a host name is checked: OpenSSL constrains it when no DNS SAN is present."""
    root, sub, sub_key = _chain()
    leaf = _leaf(sub, sub_key, "svc.other.test", [])
    for n, c in (("root", root), ("sub", sub), ("leaf", leaf)):
        (tmp_path / f"{n}.pem").write_bytes(_pem(c))
    p = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                        str(tmp_path / "sub.pem"), str(tmp_path / "leaf.pem")], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode != 0 and "permitted subtree violation" in p.stdout + p.stderr


class _Ca:
    identifier = "own/demo/g1"
    certificate_type = "SUB_ROOT"
    status = "ISSUE"
    algorithm = "ECC"
    not_before = NOW - timedelta(days=1)
    not_after = NOW + timedelta(days=700)
    cert_max_days = None
    remaining_count = None

    def __init__(self, pem):
        self.cert_pem = pem


class _Inp:
    def __init__(self, clients):
        self.clients = clients

    @property
    def ca_id(self):
        from shared.policy.ids import CertificateId
        return CertificateId("own", identifier="own/demo")


def test_names_permitted_is_a_named_check_of_the_ca_chain():
    assert "names_permitted" in CA_CHECKS.names
    _, sub, _ = _chain()
    pem = _pem(sub).decode()
    ok = CaObservation(inp=_Inp([_client("alice", ["a.example.test"])]), now=NOW, ca=_Ca(pem), instance=None)
    assert CA_CHECKS.evaluate(ok) is None
    bad = CaObservation(inp=_Inp([_client("alice", ["a.other.test"])]), now=NOW, ca=_Ca(pem), instance=None)
    v = CA_CHECKS.evaluate(bad)
    assert v is not None and v.code == "NAME_NOT_PERMITTED" and v.field == "clients[0].sans[0]"


@pytest.mark.parametrize("names", [["10.0.0.1"], ["example.test", "192.168.1.10"], ["com"], ["test"], ["a.123"],
                                   ["corp.test", "localhost"]])
def test_a_permitted_name_that_is_no_domain_is_refused_by_both_entries(names):
    """IP addresses (only an iPAddress constraint would constrain IP SANs: not supported), single labels
    and all-digit top labels are refused in `ca create --permitted-dns` (CreateOptions) and the input's
    ca.permitted_dns alike, naming the entry."""
    import msgspec

    from shared.core.errors import AlbMtlsError
    from shared.policy import ownca
    from shared.policy.contracts import OwnCaSpec

    bad = next(i for i, n in enumerate(names) if "." not in n or n.rsplit(".", 1)[1].isdigit())
    with pytest.raises(AlbMtlsError) as info:
        ownca.CreateOptions(name="nc", permitted_dns=tuple(names))
    assert info.value.code == "INVALID_INPUT" and info.value.field == f"permitted_dns[{bad}]"
    assert ("IP address" in info.value.message) == (names[bad][0].isdigit())
    with pytest.raises((AlbMtlsError, msgspec.ValidationError)) as err:
        msgspec.convert({"kind": "own", "name": "nc", "permitted_dns": names}, OwnCaSpec)
    assert f"ca.permitted_dns[{bad}]" in str(err.value)


def test_permitted_names_are_kept_once_in_their_order():
    from shared.policy import ownca

    opts = ownca.CreateOptions(name="nc", permitted_dns=("b.test", "a.test", "b.test", "a.test"))
    assert opts.permitted_dns == ("b.test", "a.test")
