"""KMS error codes (documented on the CreateSecret help page). Messages never carry secret values."""
from __future__ import annotations

from ...errors import ApiError


class ResourceNotFound(ApiError):
    code = "Forbidden.ResourceNotFound"
    status = 404
    default_message = "The resource is not found."


class ResourceExist(ApiError):
    code = "Rejected.ResourceExist"
    status = 409
    default_message = "The resource already exists."


class ResourceInDeleteWindow(ApiError):
    code = "Rejected.ResourceInDeleteWindow"
    status = 409
    default_message = "The secret is planned to be deleted."


# -- keys (KMS public error codes, docs/ALIBABA-APIS.md §7.5) ------------------------------------
class KeyNotFound(ApiError):
    code = "Forbidden.KeyNotFound"
    status = 404
    default_message = "The specified Key is not found."


class AliasNotFound(ApiError):
    code = "Forbidden.AliasNotFound"
    status = 404
    default_message = "The specified Alias is not found."


class AliasAlreadyExists(ApiError):
    code = "AliasAlreadyExists"
    status = 400
    default_message = "The specified alias already exists."


class KeyDisabled(ApiError):
    code = "Rejected.Disabled"
    status = 409
    default_message = "The key is disabled."


class KeyPendingDeletion(ApiError):
    # spelled as the KMS public error code table spells it; clients match both spellings
    code = "Rejetced.PendingDeletion"
    status = 409
    default_message = "The key is pending deletion."


class KeyResourceNotFound(ApiError):
    """An unknown key version of an existing key, or an unknown KMS instance."""

    code = "Forbidden.ResourceNotFound"
    status = 404
    default_message = "The specified resource is not found."
    assumed = ("an unknown KeyVersionId of an existing key, or an unknown KmsInstanceId / DKMSInstanceId: the code "
               "is not documented for them (the generic not-found code).")


class UnsupportedOperation(ApiError):
    code = "UnsupportedOperation"
    status = 400
    default_message = "The operation is not supported for this key."
    assumed = ("signing with a key that is not an asymmetric SIGN/VERIFY key, GetPublicKey of a symmetric key: "
               "the code is not documented.")
