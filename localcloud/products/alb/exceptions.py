"""ALB (2020-06-16) error codes: one class per code, its HTTP status, and for the codes the
docs/ALIBABA-APIS.md (§1.16, §5) does not confirm, what is assumed."""
from __future__ import annotations

from ...errors import ApiError


class _NotFound(ApiError):
    status = 404
    kind = ""

    def __init__(self, resource_id: str) -> None:
        super().__init__(f"The specified resource {resource_id} of {self.kind} is not found.")


class LoadBalancerNotFound(_NotFound):
    code, kind = "ResourceNotFound.LoadBalancer", "LoadBalancer"


class ListenerNotFound(_NotFound):
    code, kind = "ResourceNotFound.Listener", "Listener"


class ServerGroupNotFound(_NotFound):
    code, kind = "ResourceNotFound.ServerGroup", "ServerGroup"


class CertificateNotFound(ApiError):
    code = "ResourceNotFound.Certificate"
    status = 404
    assumed = ("an unknown server certificate, including a bare numeric CAS id without the site-region suffix "
               "(by analogy with ResourceNotFound.*)")

    def __init__(self, cert_id: str) -> None:
        hint = " A certificate id must end with the site region, e.g. 12345-cn-hangzhou." if cert_id.isdigit() else ""
        super().__init__(f"The specified certificate {cert_id} is not found.{hint}")


class CaCertificateNotFound(ApiError):
    code = "ResourceNotFound.CaCertificate"
    status = 404
    assumed = ("an unknown CaCertificates.N.CertificateId, including a PCA CA named by its other identifier than "
               "the one ALB takes (NLB uses this code; ALB unverified)")

    def __init__(self, cert_id: str) -> None:
        super().__init__(f"The specified CA certificate {cert_id} is not found.")


class VpcNotFound(ApiError):
    code = "ResourceNotFound.Vpc"
    status = 404
    assumed = "CreateServerGroup with a VpcId no ALB or ECS instance of the account uses"

    def __init__(self, vpc_id: str) -> None:
        super().__init__(f"The specified VPC {vpc_id} is not found.")


class SecurityPolicyNotFound(ApiError):
    code = "ResourceNotFound.SecurityPolicy"
    status = 404
    assumed = "a SecurityPolicyId that is not a system policy (no custom policies here)"

    def __init__(self, policy_id: str) -> None:
        super().__init__(f"The specified security policy {policy_id} is not found.")


class BackendServerNotFound(ApiError):
    code = "ResourceNotFound.BackendServer"
    status = 404
    assumed = ("AddServersToServerGroup with an unknown ECS instance (NLB's code; ALB unverified); "
               "RemoveServersFromServerGroup / UpdateServerGroupServersAttribute naming a server that is not a member")

    def __init__(self, server_id: str) -> None:
        super().__init__(f"The specified backend server {server_id} is not found.")


class BackendServerExists(ApiError):
    code = "ResourceAlreadyExist.BackendServer"
    assumed = "the same ServerId+Port added twice to a server group"

    def __init__(self, server_id: str, port: int, server_group_id: str) -> None:
        super().__init__(f"The backend server {server_id}:{port} already exists in server group {server_group_id}.")


class ListenerExists(ApiError):
    code = "ResourceAlreadyExist.Listener"

    def __init__(self, port: int, load_balancer_id: str, listener_id: str, protocol: str) -> None:
        super().__init__(f"The port {port} of load balancer {load_balancer_id} is already used by listener "
                         f"{listener_id} ({protocol}).")


class DryRunOperation(ApiError):
    code = "DryRunOperation"
    default_message = "Request validation has been passed with DryRun flag set."


class LoadBalancerIncorrectStatus(ApiError):
    code = "IncorrectStatus.LoadBalancer"

    def __init__(self, load_balancer_id: str, status: str | None) -> None:
        super().__init__(f"The status of load balancer {load_balancer_id} is {status}; Active is required.")


class ListenerIncorrectStatus(ApiError):
    code = "IncorrectStatus.Listener"
    assumed = ("Update/Start/Stop while the listener is Provisioning/Configuring; a Stopped listener may be "
               "updated")


class ServerGroupIncorrectStatus(ApiError):
    code = "IncorrectStatus.ServerGroup"
    assumed = ("AddServersToServerGroup while the group is Creating/Configuring; listeners may reference a group "
               "that is still Creating (lenient)")

    def __init__(self, server_group_id: str, status: str) -> None:
        super().__init__(f"The status of server group {server_group_id} is {status}; wait until it is Available.")


class VpcNotMatch(ApiError):
    code = "VpcNotMatch"
    assumed = "a server group whose VpcId differs from the ALB's VpcId in DefaultActions (code unverified)"


class BackendServerVpcNotMatch(ApiError):
    code = "VpcNotMatch.BackendServer"
    assumed = "AddServersToServerGroup with an ECS instance in another VPC than the server group"


class EditionDenied(ApiError):
    code = "OperationDenied.LoadBalancerEdition"
    assumed = ("CaEnabled=true (mutual authentication) on a Basic-edition ALB "
               "(docs/ALIBABA-APIS.md §5.4, code unverified)")


class CaCertificatesQuotaExceeded(ApiError):
    code = "QuotaExceeded.CaCertificatesNum"
    default_message = "Only one CA certificate can be associated with a listener."
    assumed = "more than one CA certificate on a listener (SDK docs: only one CA supported; code unverified)"
