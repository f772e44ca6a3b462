"""The local Alibaba Cloud: an emulator of the ALB, CAS (incl. private CA), Alidns, KMS and
CloudFlow OpenAPIs that the real SDK clients talk to over HTTP on 127.0.0.1, with a real TLS
data plane, local ECS backends, a DNS server and a CloudFlow runner. Never deployed.

Layout (moto-style): per product a ``models`` part (state and behaviour, in ``products/<p>.py``)
apart from the protocol translation (``protocol.py``/``server.py``) apart from errors
(``errors.py``: one class per real error code).
"""
