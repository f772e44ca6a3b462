"""KMS Secrets Manager, version 2016-01-20 (``alibabacloud_kms20160120``): generic secrets with
versioned values and stage labels (``ACSCurrent`` / ``ACSPrevious``).

State (``localcloud/SCHEMA.md``): ``kms.secret`` keyed by ``SecretName``; times are epoch ms in the
store and ISO-8601 UTC strings on the wire. Secret values live only in the store: this product
never logs them and never puts them into error messages.

Error codes and statuses are the documented ones (CreateSecret help page): ``InvalidParameter``
400, ``Forbidden.ResourceNotFound`` 404, ``Rejected.ResourceExist`` 409,
``Rejected.ResourceInDeleteWindow`` 409.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import VERSION

__all__ = ["VERSION"]
