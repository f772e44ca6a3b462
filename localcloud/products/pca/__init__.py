"""CAS Private CA API, version 2020-06-30 (``alibabacloud_cas20200630``): the CA hierarchy
(root → sub-CA) and client certificates issued **from the caller's CSR** with real X.509.

State (``localcloud/SCHEMA.md``): ``pca.ca`` (root and sub-CAs, with their key PEM) and
``pca.client`` (issued certificates, key2 = ``ParentIdentifier``).

Helpers for other parts of the local cloud: ``issue_client_certificate`` (e.g. to bulk-load
certificates for a rotation benchmark without going through the QPS-limited API), ``ca_doc``,
``create_root_ca``/``create_sub_ca``.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import VERSION, ca_doc, create_root_ca, create_sub_ca, issue_client_certificate

__all__ = ["VERSION", "ca_doc", "create_root_ca", "create_sub_ca", "issue_client_certificate"]
