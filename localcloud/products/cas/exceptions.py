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

    def __init__(self, existing_cert_id: int) -> None:
        super().__init__(f"The certificate already exists (CertId {existing_cert_id}).")


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
    assumed = "an unknown CertId (GetUserCertificateDetail, DeleteUserCertificate)"

    def __init__(self, cert_id: int) -> None:
        super().__init__(f"The certificate {cert_id} does not exist.")


class CertificateInUse(ApiError):
    code = "Certificate.InUse"
    default_message = "The certificate is in use by a cloud product and cannot be deleted."
    assumed = "DeleteUserCertificate while an ALB listener refers to the certificate"
