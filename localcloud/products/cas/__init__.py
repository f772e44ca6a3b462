"""Certificate Management Service, version 2020-04-07 (``alibabacloud_cas20200407``): the
user's (server) certificates — upload, list, detail, delete.

State (``localcloud/SCHEMA.md``): ``cas.cert`` keyed by ``str(CertId)``; ``Cert`` holds the leaf
PEM followed by any chain certificates, ``Key`` the private key PEM.

The demo seed also makes a local *server* root CA: its PEM is in store meta ``server_root_ca_pem``
(and ``<state_dir>/server-root-ca.pem``) so clients can trust the data-plane listeners; its key is
in meta ``server_root_ca_key_pem`` (``make_server_certificate`` uses it).

Helpers for other parts of the local cloud: ``store_certificate`` (the upload rules, without the
API), ``make_server_certificate`` (a certificate signed by the local server root CA).
"""
from . import responses  # noqa: F401 — registers the actions
from .models import VERSION, make_server_certificate, store_certificate

__all__ = ["VERSION", "make_server_certificate", "store_certificate"]
