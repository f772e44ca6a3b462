"""The local Alibaba Cloud's emulator: the ALB, CAS (incl. private CA), Alidns, KMS and CloudFlow
OpenAPIs that the real SDK clients talk to over HTTP on 127.0.0.1. Never deployed; the runtime
services that make it a whole cloud (data plane, ECS backends, DNS, CloudFlow executor) are in
``localruntime``.

Layout (moto's per-service shape): the wire protocol (``protocol.py``, ``server.py``), the product
declarations and action registry (``products/__init__.py``, ``registry.py``), one package per
product under ``products/`` (``models`` / ``responses`` / ``exceptions`` / ``seed``), the shared
error base (``errors.py``), state (``store.py``), clock, faults, PKI, seed and the CloudFlow
language and runner (``flow/``).
"""
