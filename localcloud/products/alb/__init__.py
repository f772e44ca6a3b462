"""ALB (Application Load Balancer) 2020-06-16 of the local cloud.

State lives in the store kinds of ``localcloud/SCHEMA.md``: ``alb.loadbalancer``, ``alb.listener``
(key2 = LoadBalancerId), ``alb.servergroup``, ``alb.job``; it reads ``ecs.instance``, ``cas.cert``,
``cas.whcert`` (uploaded CAs), ``pca.ca`` and ``health.server``.

Writes are asynchronous like the real service: they return a ``JobId`` and the resource reports a
transitional status (listener ``Provisioning``/``Configuring``, server group ``Creating``/
``Configuring``, server ``Adding``, job ``Processing``) until ``cloud.clock.time()`` reaches the
resource's ``busy_until_s`` (now + ``settings.alb_job_seconds`` at the time of the write). Status is
derived lazily on every read from the clock — no threads. The change itself is stored at once.

Public helpers for other parts of the local cloud (data plane, health checker, CLI):

- ``listener_status(doc, now_s)`` / ``listener_view(doc, now_s)`` / ``get_listener(cloud, id)`` /
  ``list_listeners(cloud, load_balancer_id=None)`` — a listener with its *effective* status.
- ``server_group_status(doc, now_s)`` / ``server_group_view(doc, now_s)`` /
  ``get_server_group(cloud, id)`` — likewise for server groups (servers get ``Adding``/``Available``).
- ``listener_server_group_ids(doc)`` — the server groups a listener forwards to.
- ``server_certificate(store, cert_id)`` — the ``cas.cert`` doc of a listener ``CertificateId``.
- ``ca_certificate_exists(store, cert_id, form)`` — the CA a ``CaCertificates`` id names (a PCA CA
  in the configured id form, or an uploaded CA), or None.
- ``ca_trust_pem(store, cert_id)`` — the PEM the data plane verifies client certificates against.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import (
                     VERSION,
                     ca_certificate_exists,
                     ca_trust_pem,
                     get_listener,
                     get_server_group,
                     list_listeners,
                     listener_server_group_ids,
                     listener_status,
                     listener_view,
                     server_certificate,
                     server_group_status,
                     server_group_view,
)

__all__ = ["VERSION", "ca_certificate_exists", "ca_trust_pem", "get_listener", "get_server_group", "list_listeners",
           "listener_server_group_ids", "listener_status", "listener_view", "server_certificate",
           "server_group_status", "server_group_view"]
