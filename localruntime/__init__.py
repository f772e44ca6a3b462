"""The local runtime: what runs beside the emulator (``localcloud``) and makes it a whole cloud on
one machine — the local Function Compute (``fc``: the product's handlers invoked in-process), the
CloudFlow executor behind the fnf API (``flowservice``), ECS backends (``ecs``), the TLS data plane
(``dataplane``), the health checker (``health``), the DNS server (``dnsserver``), and
``cloud.LocalCloud``, the composition. Never deployed.
"""
