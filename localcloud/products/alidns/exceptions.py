"""Alidns (2015-01-09) error codes. Reference §3.4 confirms DomainRecordDuplicate,
DomainRecordConflict, DomainRecordLocked, InvalidDomainName.NoExist, InvalidDomainName.Format and
DomainRecordNotBelongToUser; QuotaExceeded.TTL with "A valid TTL must be in the range of 600 to 86400"
is seen in public issue threads (e.g. jeessy2/ddns-go#280, aliyun/terraform-provider-alicloud#640).
The others say what is assumed."""
from __future__ import annotations

from ...errors import ApiError

MAX_TTL = 86400


class DomainRecordDuplicate(ApiError):
    code = "DomainRecordDuplicate"
    default_message = "The DNS record already exists."


class DomainRecordConflict(ApiError):
    code = "DomainRecordConflict"
    default_message = "The DNS record conflicts with other records."


class DomainRecordLocked(ApiError):
    code = "DomainRecordLocked"
    default_message = "The DNS record is locked and cannot be modified or deleted."


class DomainRecordNotBelongToUser(ApiError):
    code = "DomainRecordNotBelongToUser"
    default_message = "The DNS record does not exist or does not belong to the current user."


class InvalidDomainNameNoExist(ApiError):
    code = "InvalidDomainName.NoExist"
    default_message = "The specified domain name does not exist. Refresh the page and try again."
    assumed = "HTTP 400 (docs/ALIBABA-APIS.md §3.4 says 400 or 404)"


class InvalidDomainNameFormat(ApiError):
    code = "InvalidDomainName.Format"
    default_message = "The format of the specified domain name is invalid."


class InvalidDomainNameDuplicate(ApiError):
    code = "InvalidDomainName.Duplicate"
    default_message = "The domain name already exists in your account."
    assumed = "AddDomain of a zone already in this account"


class QuotaExceededTTL(ApiError):
    code = "QuotaExceeded.TTL"

    def __init__(self, min_ttl: int) -> None:
        super().__init__(f"The specified TTL is invalid. A valid TTL must be in the range of {min_ttl} to {MAX_TTL}.")


class InvalidRRFormat(ApiError):
    code = "InvalidRR.Format"
    default_message = "The format of the host record (RR) is invalid."
    assumed = "an RR with characters outside [a-z0-9-_*.] or empty labels"


class InvalidType(ApiError):
    code = "InvalidType"
    default_message = "The specified record type is invalid."
    assumed = "an unknown record Type on add/update; code name guessed"


class InvalidLine(ApiError):
    code = "InvalidLine"
    default_message = "The specified DNS resolution line is invalid."
    assumed = "an unknown Line code; code name guessed"


class InvalidValue(ApiError):
    code = "InvalidValue"
    default_message = "The record value is invalid for the record type."
    assumed = "a Value that does not fit its Type (A not IPv4, AAAA not IPv6, empty); code name guessed"
