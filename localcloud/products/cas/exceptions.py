"""CAS (2020-04-07) error codes. docs/ALIBABA-APIS.md (§2.4) settles few of them: see ``assumed``."""
from __future__ import annotations

from ...errors import ApiError


class NameRepeat(ApiError):
    code = "NameRepeat"
    default_message = "The certificate name already exists."
    assumed = ("when Name is already used in the account (message seen in public reports; the code string "
               "itself is a guess)")


class CertificateRepeat(ApiError):
    code = "CertificateRepeat"
    assumed = ("the same certificate (same SHA-256 fingerprint) uploaded again under another name; the message "
               "names the existing CertId. Public reports suggest the real API refuses re-uploads, the exact code "
               "is unknown")

    def __init__(self, existing_cert_id: int | str) -> None:
        what = f"CertId {existing_cert_id}" if isinstance(existing_cert_id, int) else f"Identifier {existing_cert_id}"
        super().__init__(f"The certificate already exists ({what}).")


class InvalidCert(ApiError):
    code = "InvalidParameter.Cert"
    default_message = "The certificate format is invalid: a PEM X.509 certificate is expected."
    assumed = "a Cert that is not PEM X.509 (real message: the certificate format is abnormal)"


class InvalidKey(ApiError):
    code = "InvalidParameter.Key"
    default_message = "The private key format is invalid: a PEM private key is expected."
    assumed = "a Key that is not a PEM private key"


class CertKeyMismatch(ApiError):
    code = "InvalidParameter.CertKeyMismatch"
    default_message = "The certificate and the private key do not match."
    assumed = "the private key does not belong to the (first) certificate"


class CertExpired(ApiError):
    code = "InvalidParameter.CertExpired"
    default_message = "The certificate has expired."
    assumed = "the uploaded certificate has already expired"


class Sm2NotSupported(ApiError):
    code = "InvalidParameter"
    default_message = "SM2 certificates are not supported by the local cloud."


class CertificateNotFound(ApiError):
    code = "Certificate.NotFound"
    status = 404
    assumed = ("an unknown CertId (GetUserCertificateDetail, DeleteUserCertificate) or warehouse certificate "
               "Identifier (DescribeWarehouseCert, DeletePCACert)")

    def __init__(self, cert_id: int | str) -> None:
        super().__init__(f"The certificate {cert_id} does not exist.")


class CertificateInUse(ApiError):
    code = "Certificate.InUse"
    default_message = "The certificate is in use by a cloud product and cannot be deleted."
    assumed = ("DeleteUserCertificate while an ALB listener refers to the certificate, or DeletePCACert while a "
               "listener's CaCertificates names the uploaded CA")


# -- the certificate repository ("warehouse") ----------------------------------------------------------
# The UploadPCACert doc names no error codes (docs/ALIBABA-APIS.md §2.3): every code below is assumed.
class WarehouseNotFound(ApiError):
    code = "Warehouse.NotFound"
    status = 404
    assumed = "an unknown WarehouseId (UploadPCACert, ListCert) or WarehouseInstanceId (DeleteWarehouse)"

    def __init__(self, warehouse: int | str) -> None:
        super().__init__(f"The certificate repository {warehouse} does not exist.")


class WarehouseTypeMismatch(ApiError):
    code = "InvalidParameter.WarehouseType"
    assumed = ("UploadPCACert into a repository whose Type does not hold uploaded certificates (uploaded CA "
               "repositories hold CA chains; uploaded-certificate repositories hold leaf certificates)")


class IncompleteChain(ApiError):
    code = "InvalidParameter.CertChain"
    assumed = ("an uploaded CA whose Cert is not a complete chain: each certificate a CA, each signed by the next, the "
               "last a self-signed root (the console doc: 'A complete certificate chain is required')")


class WarehouseNotEmpty(ApiError):
    code = "Warehouse.NotEmpty"
    default_message = "The certificate repository still holds certificates; delete them first."
    assumed = "DeleteWarehouse of a repository that still holds certificates"
