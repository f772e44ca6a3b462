"""SDK exception → AlbMtlsError mapping, with the real SDK exception classes."""
from __future__ import annotations

import pickle

import pytest
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from darabonba.exceptions import RetryError, UnretryableException
from darabonba.policy.retry import RetryPolicyContext

from shared.core.errors import AlbMtlsError, Code, InvalidInputError, TransientError, map_sdk_error


def client_exc(code, status=400, message="msg", request_id="REQ-1"):
    return ClientException(code=code, status_code=status, message=f"code: {status}, {message} request id: {request_id}",
                           request_id=request_id, data={"Code": code, "Message": message, "RequestId": request_id})


def unretryable(inner):
    return UnretryableException(RetryPolicyContext(retries_attempted=0, exception=inner))


@pytest.mark.parametrize(("exc", "cls", "code"), [
    (client_exc("IncorrectStatus.Listener"), TransientError, Code.LISTENER_BUSY),
    (client_exc("ResourceInConfiguring.Listener"), TransientError, Code.LISTENER_BUSY),
    (client_exc("IncorrectStatus.LoadBalancer"), TransientError, Code.CLOUD_BUSY),
    (client_exc("IncorrectBusinessStatus.LoadBalancer"), TransientError, Code.CLOUD_BUSY),
    (client_exc("IncorrectStatus.ServerGroup"), TransientError, Code.CLOUD_BUSY),
    (client_exc("ResourceInUse.ServerGroup"), TransientError, Code.CLOUD_BUSY),
    (client_exc("SystemBusy"), TransientError, Code.CLOUD_BUSY),
    (client_exc("ServiceUnavailable", 503), TransientError, Code.CLOUD_BUSY),
    (client_exc("IdempotenceProcessing"), TransientError, Code.CLOUD_BUSY),
    (client_exc("LastOperationNotFinished"), TransientError, Code.CLOUD_BUSY),
    (client_exc("Throttling.User"), TransientError, Code.THROTTLED),
    (client_exc("Throttling"), TransientError, Code.THROTTLED),
    (client_exc("Rejected.Throttling"), TransientError, Code.THROTTLED),
    (client_exc("Rejected.Throttling", 429, "QPS Limit Exceeded"), TransientError, Code.THROTTLED),   # KMS
    (client_exc("LockFailed"), TransientError, Code.CLOUD_BUSY),
    (client_exc("IncorrectStatus.Acl"), TransientError, Code.CLOUD_BUSY),
    (client_exc("VipStatusNotSupport"), TransientError, Code.CLOUD_BUSY),
    # not an ALB code in any public client (Terraform knows it for NLB only): not retried
    (client_exc("Conflict.Lock", 409), AlbMtlsError, Code.CLOUD_ERROR),
    # ALB's internal busy code inside the body, on the action Terraform retries it on
    (client_exc("OperationFailed", 400, "the listener is being configured (-22001)"), TransientError, Code.CLOUD_BUSY),
    (client_exc("OperationFailed", 400, "failed (-21020)"), AlbMtlsError, Code.CLOUD_ERROR),   # a CreateListener code
    (ServerException(code="InternalError", status_code=500, request_id="R"), TransientError, Code.CLOUD_BUSY),
    (ServerException(code="Whatever", status_code=502, request_id="R"), TransientError, Code.CLOUD_UNAVAILABLE),
    (ThrottlingException(code="Throttling.Api", status_code=400, retry_after=1500), TransientError, Code.THROTTLED),
    (client_exc("ResourceNotFound.LoadBalancer", 404), AlbMtlsError, Code.LOAD_BALANCER_NOT_FOUND),
    (client_exc("ResourceNotFound.Listener", 404), AlbMtlsError, Code.LISTENER_NOT_FOUND),
    (client_exc("InvalidDomainName.NoExist"), AlbMtlsError, Code.DOMAIN_NOT_IN_ACCOUNT),
    (client_exc("DomainRecordConflict"), AlbMtlsError, Code.DNS_CONFLICT),
    (client_exc("Forbidden.RAM", 403), AlbMtlsError, Code.PERMISSION_DENIED),
    (client_exc("QuotaExceeded.ListenersPerLoadBalancer"), AlbMtlsError, Code.QUOTA_EXCEEDED),
    (client_exc("InvalidCredentials"), AlbMtlsError, Code.CREDENTIALS_MISSING),
    (client_exc("DomainRecordDuplicate"), AlbMtlsError, Code.CLOUD_ERROR),
    (unretryable(RetryError("HTTPConnectionPool(host='x', port=1): Max retries exceeded with url: /?A=1")),
     TransientError, Code.CLOUD_UNREACHABLE),
    (unretryable(RuntimeError('Failed to parse the value as json format, Value: "<html>"')),
     TransientError, Code.CLOUD_UNAVAILABLE),
    (ConnectionResetError("reset"), TransientError, Code.CLOUD_UNREACHABLE),
    (KeyError("bug"), AlbMtlsError, Code.INTERNAL),
])
def test_mapping_table(exc, cls, code):
    err = map_sdk_error(exc, "alb:UpdateListenerAttribute")
    assert type(err) is cls
    assert err.code == code
    assert err.details["action"] == "alb:UpdateListenerAttribute"
    assert isinstance(err.retryable, bool) and err.retryable == (cls is TransientError)


@pytest.mark.parametrize(("marker", "action", "retried"), [
    ("-21020", "alb:CreateListener", True), ("-21020", "alb:UpdateListenerAttribute", False),
    ("-22001", "alb:UpdateListenerAttribute", True), ("-22001", "alb:StartListener", True),
    ("-22001", "alb:StopListener", True), ("-22001", "alb:CreateListener", False),
    ("-22031", "alb:DeleteListener", True), ("-22031", "alb:CreateListener", False),
    ("-21020", "alidns:AddDomainRecord", False),
])
def test_alb_internal_busy_codes_are_matched_in_the_body_per_action(marker, action, retried):
    """As the Terraform provider's IsExpectedErrors: a substring of the error body, for the actions
    it retries the code on, whatever the Code."""
    err = map_sdk_error(client_exc("OperationFailed", 400, f"The operation failed ({marker})."), action)
    assert err.retryable is retried
    assert (err.details.get("busy_marker") == marker) is retried


def test_keeps_cloud_code_status_and_request_id():
    err = map_sdk_error(client_exc("ResourceNotFound.Listener", 404, request_id="ABC-123"), "alb:GetListenerAttribute")
    assert err.cloud_code == "ResourceNotFound.Listener"
    assert err.status_code == 404
    assert err.request_id == "ABC-123"
    assert err.is_not_found
    assert err.to_dict()["request_id"] == "ABC-123"
    assert "listener_port" in err.message  # says what to change


def test_throttling_retry_after_is_kept():
    err = map_sdk_error(ThrottlingException(code="Throttling.User", status_code=429, retry_after=2500), "pca:X")
    assert isinstance(err, TransientError) and err.retry_after_ms == 2500


def test_connection_error_message_never_contains_the_url_or_parameters():
    inner = RetryError("HTTPConnectionPool(host='kms', port=1): Max retries exceeded with url: "
                       "/?SecretData=hunter2-super-secret&SecretName=x (Caused by NewConnectionError)")
    err = map_sdk_error(unretryable(inner), "kms:CreateSecret")
    assert "hunter2" not in str(err) and "SecretData" not in str(err)
    assert "hunter2" not in repr(err.details)


def test_server_message_is_sanitized_and_truncated():
    pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
    exc = client_exc("InvalidParameter", message=f"bad password=topsecret value {pem} " + "x" * 1000)
    err = map_sdk_error(exc, "cas:UploadUserCertificate")
    assert "topsecret" not in err.message and "MIIEvQ" not in err.message
    assert len(err.message) < 400


def test_passthrough_and_pickle():
    e = InvalidInputError("rr", "bad")
    assert map_sdk_error(e, "x") is e
    assert isinstance(e, ValueError) and e.code == Code.INVALID_INPUT and e.field == "rr"
    t = TransientError(Code.THROTTLED, "slow down", retry_after_ms=10)
    back = pickle.loads(pickle.dumps(t))
    assert type(back) is TransientError and back.code == "THROTTLED" and back.details["retry_after_ms"] == 10


def test_credential_exception_maps_to_credentials_missing():
    from alibabacloud_credentials.exceptions import CredentialException

    err = map_sdk_error(CredentialException("no provider"), "alb:GetLoadBalancerAttribute")
    assert err.code == Code.CREDENTIALS_MISSING and not err.retryable
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in err.message


def test_no_credentials_through_a_client_is_one_permanent_error_naming_the_chain():
    """The SDK wraps the chain's CredentialException in an UnretryableException: CREDENTIALS_MISSING at
    once, never a transient fault retried until the deadline (docs/ALIBABA-APIS.md §4.2)."""
    from alibabacloud_credentials.exceptions import CredentialException
    inner = CredentialException("unable to load credentials from any of the providers in the chain: "
                                "['EnvironmentVariableCredentialsProvider: Environment variable accessKeyId cannot "
                                "be empty', 'CLIProfileCredentialsProvider: unable to open credentials file: "
                                "/h/.aliyun/config.json', 'ProfileCredentialsProvider: failed', "
                                "'EcsRamRoleCredentialsProvider: Failed to get RAM session credentials']")
    err = map_sdk_error(unretryable(inner), "alb:ListLoadBalancers")
    assert type(err) is AlbMtlsError and not err.retryable and err.code == Code.CREDENTIALS_MISSING
    assert "environment (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET), ~/.aliyun/config.json, " \
           "~/.alibabacloud/credentials.ini, ECS instance RAM role" in err.message
    assert "/h/" not in err.message


@pytest.mark.parametrize("code", ["InvalidAccessKeyId.NotFound", "SignatureDoesNotMatch",
                                  "InvalidSecurityToken.Expired"])
def test_a_refused_key_is_credentials_invalid(code):
    err = map_sdk_error(client_exc(code, 404 if code.endswith("NotFound") else 400), "sts:GetCallerIdentity")
    assert err.code == Code.CREDENTIALS_INVALID and not err.retryable
