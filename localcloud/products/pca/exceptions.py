"""CAS private CA (2020-06-30) error codes; docs/ALIBABA-APIS.md §2.2 and §5.5 settle few of them."""
from __future__ import annotations

from ...errors import ApiError


class CaCertificateNotFound(ApiError):
    code = "CaCertificate.NotFound"
    status = 404
    assumed = ("an unknown CA Identifier / ParentIdentifier (real code unknown; docs/ALIBABA-APIS.md only says 404 "
               "or a code ending in NotFound)")

    def __init__(self, identifier: str) -> None:
        super().__init__(f"The CA certificate {identifier!r} does not exist.")


class CertificateNotFound(ApiError):
    code = "Certificate.NotFound"
    status = 404
    assumed = "an unknown client certificate Identifier"

    def __init__(self, identifier: str) -> None:
        super().__init__(f"The certificate {identifier!r} does not exist.")


class CaInstanceNotFound(ApiError):
    code = "CaInstance.NotFound"
    status = 404
    assumed = "an unknown InstanceId in GetCAInstanceStatus (code unverified)"

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"The private CA instance {instance_id!r} does not exist.")


class InvalidParentIdentifier(ApiError):
    code = "InvalidParameter.ParentIdentifier"
    assumed = "the parent is a ROOT CA or is not ISSUE: only sub-CAs issue client certificates"


class InvalidValidity(ApiError):
    code = "InvalidParameter.Validity"
    assumed = ("notAfter would pass the issuing CA's AfterDate or the PCA subscription end (UseExpireTime), "
               "or BeforeTime/AfterTime are inconsistent")


class InvalidAlgorithm(ApiError):
    code = "InvalidParameter.Algorithm"
    assumed = "the CSR key family (or Algorithm) differs from the sub-CA's (EC vs RSA)"


class InvalidCsr(ApiError):
    code = "InvalidParameter.Csr"
    assumed = "an unparsable CSR, a bad CSR signature or a CSR without CN"


class DuplicateCustomIdentifier(ApiError):
    code = "DuplicateCustomIdentifier"
    assumed = ("CustomIdentifier already used (the SDK calls it 'a unique key'); the message names the "
               "existing Identifier")

    def __init__(self, identifier: str) -> None:
        super().__init__(f"The CustomIdentifier is already used by certificate {identifier}.")


class CertificateQuotaExceeded(ApiError):
    code = "QuotaExceeded.Certificate"
    default_message = "The certificate quota of the sub-CA is used up."
    assumed = "the sub-CA has no CertRemainingCount left"
