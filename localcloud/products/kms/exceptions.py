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
