"""The local cloud's DNS server: an authoritative server on 127.0.0.1 (UDP and TCP, same port)
answering from the Alidns state (``dns.domain`` / ``dns.record`` docs) — it plays the zones'
Alibaba name servers (``dns1.hichina.com`` …) for the local cloud.

- A, AAAA, CNAME, TXT, MX, NS, SRV, CAA records with their stored TTLs (enabled records only; the
  ``default`` line is preferred over the other lines, as a resolver outside China would see);
- a CNAME is followed inside the same answer when its target is known here (a record of a zone
  of this cloud, or an ALB ``DNSName``);
- every ALB ``DNSName`` (``alb.loadbalancer`` docs) answers A ``127.0.0.1`` — where the data plane
  listens;
- a name under a known zone that does not exist → NXDOMAIN with the zone's SOA in the authority
  section; an existing name without the asked type → NOERROR/NODATA with the SOA;
- a name outside every zone → REFUSED.

The store is read on every query, so a record change is answered on the next query.

    svc = DnsService(cloud); svc.start()     # cloud.runtime["dns_endpoint"] = "127.0.0.1:PORT"
    svc.resolve(dnslib.DNSRecord.question("app.example.test"))   # without sockets
    svc.stop()

Registered as the ``dns`` service of ``LocalCloud`` (port from ``cloud.settings.dns_port``,
0 = a free port).
"""
from __future__ import annotations

import logging
import socketserver
import struct
import threading
from typing import TYPE_CHECKING, Any

from dnslib import AAAA, CAA, CNAME, MX, NS, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSError, DNSHeader, DNSRecord

from localcloud.products.alidns import DOMAIN, RECORD, norm_name, zone_for

if TYPE_CHECKING:  # pragma: no cover
    import socket

    from .cloud import LocalCloud

log = logging.getLogger("localcloud.dns")

ALB_TTL = 60            # TTL of the A record answered for an ALB DNSName
SOA_RNAME = "hostmaster.hichina.com"
SOA_TIMES = (3600, 1200, 86400, 600)   # refresh, retry, expire, minimum (negative-caching TTL)
SOA_TTL = 600
MAX_CHAIN = 8           # CNAME hops followed inside one answer
UDP_LIMIT = 512         # answers above this (without EDNS) are truncated (TC) → the client retries on TCP
TCP_TIMEOUT = 3.0       # seconds a TCP client may take to send a query


class DnsService:
    """The DNS server service (see module doc)."""

    def __init__(self, cloud: LocalCloud, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.cloud = cloud
        self.host = host
        self.requested_port = cloud.settings.dns_port if port is None else port
        self.port: int | None = None
        self._udp: socketserver.UDPServer | None = None
        self._tcp: socketserver.TCPServer | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        last: OSError | None = None
        for _ in range(10):   # a free UDP port whose TCP twin is free too
            udp = _UDPServer((self.host, self.requested_port or 0), _UDPHandler, self)
            port = udp.server_address[1]
            try:
                tcp = _TCPServer((self.host, port), _TCPHandler, self)
            except OSError as exc:
                udp.server_close()
                last = exc
                if self.requested_port:
                    raise
                continue
            self._udp, self._tcp, self.port = udp, tcp, port
            break
        else:  # pragma: no cover - ports exhausted
            raise last or OSError("no free port for the DNS server")
        for srv, name in ((self._udp, "udp"), (self._tcp, "tcp")):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                                 name=f"localcloud-dns-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.cloud.runtime["dns_endpoint"] = f"{self.host}:{self.port}"
        log.info("DNS server on %s:%s (udp+tcp)", self.host, self.port)

    def stop(self) -> None:
        for srv in (self._udp, self._tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        for t in self._threads:
            t.join(timeout=2)
        self._threads.clear()
        self._udp = self._tcp = None
        if self.cloud.runtime.get("dns_endpoint") == f"{self.host}:{self.port}":
            self.cloud.runtime.pop("dns_endpoint", None)

    def pause(self) -> None:
        """Nothing to hold: every query reads the store afresh."""

    def resume(self) -> None:
        pass

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    # -- wire -------------------------------------------------------------------------------
    def handle(self, data: bytes, *, udp: bool) -> bytes | None:
        """One DNS message in, one out (``None`` = no answer: unparseable)."""
        try:
            req = DNSRecord.parse(data)
        except (DNSError, struct.error, IndexError, ValueError):
            if len(data) >= 12:
                (qid,) = struct.unpack("!H", data[:2])
                return DNSRecord(DNSHeader(id=qid, qr=1, rcode=RCODE.FORMERR)).pack()
            return None
        try:
            reply = self.resolve(req)
        except Exception:  # a bug here must not kill the server: SERVFAIL
            log.exception("DNS query failed")
            reply = req.reply(ra=0, aa=0)
            reply.header.rcode = RCODE.SERVFAIL
        out = reply.pack()
        limit = UDP_LIMIT
        for ar in req.ar:
            if ar.rtype == QTYPE.OPT:
                limit = max(UDP_LIMIT, int(ar.rclass))
        if udp and len(out) > limit:
            trunc = req.reply(ra=0, aa=reply.header.aa)
            trunc.header.rcode = reply.header.rcode
            trunc.header.tc = 1
            out = trunc.pack()
        return out

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, req: DNSRecord) -> DNSRecord:
        """Answer one query from the current store state."""
        reply = req.reply(ra=0, aa=1)
        if req.header.opcode != 0 or len(req.questions) != 1:
            reply.header.aa = 0
            reply.header.rcode = RCODE.NOTIMP if req.header.opcode != 0 else RCODE.FORMERR
            return reply
        q = req.q
        qname = norm_name(str(q.qname))
        qtype = QTYPE.get(q.qtype, str(q.qtype))
        albs = self._alb_names()
        if qname in albs:
            if qtype in ("A", "ANY"):
                reply.add_answer(RR(q.qname, QTYPE.A, rdata=A("127.0.0.1"), ttl=ALB_TTL))
            return reply
        found = zone_for(self.cloud.store, qname)
        if found is None:
            reply.header.aa = 0
            reply.header.rcode = RCODE.REFUSED
            return reply
        zone, rr = found
        exists = self._answer(reply, zone, rr, qname, qtype, albs, set())
        if not reply.rr:
            if not exists:
                reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self._soa(zone))
        return reply

    def _alb_names(self) -> set[str]:
        return {norm_name(d["DNSName"]) for d in self.cloud.store.list("alb.loadbalancer") if d.get("DNSName")}

    def _answer(self, reply: DNSRecord, zone: dict[str, Any], rr: str, qname: str, qtype: str,
                albs: set[str], seen: set[str]) -> bool:
        """Add the answers for ``qname`` (following CNAMEs); returns whether the name exists."""
        seen.add(qname)
        domain = zone["DomainName"]
        zone_recs = [r for r in self.cloud.store.list(RECORD, key2=domain) if r.get("Status", "ENABLE") == "ENABLE"]
        recs, exists = _lookup(zone_recs, rr)
        apex = rr == "@"
        if apex and qtype in ("SOA", "ANY"):
            reply.add_answer(self._soa(zone))
        if apex and qtype in ("NS", "ANY") and not any(r["Type"] == "NS" for r in recs):
            for ns in zone.get("DnsServers") or []:
                reply.add_answer(RR(qname, QTYPE.NS, rdata=NS(ns + "."), ttl=SOA_TTL))
        matching = [r for r in recs if qtype == "ANY" or r["Type"] == qtype]
        if matching:
            for r in matching:
                rec = _to_rr(qname, r)
                if rec is not None:
                    reply.add_answer(rec)
            return True
        cnames = [r for r in recs if r["Type"] == "CNAME"]
        if cnames and qtype != "CNAME":
            c = cnames[0]
            reply.add_answer(_to_rr(qname, c))
            target = norm_name(c["Value"])
            if target in seen or len(seen) > MAX_CHAIN:
                return True
            if target in albs:
                if qtype == "A":
                    reply.add_answer(RR(target + ".", QTYPE.A, rdata=A("127.0.0.1"), ttl=ALB_TTL))
                return True
            found = zone_for(self.cloud.store, target)
            if found is not None:
                self._answer(reply, found[0], found[1], target, qtype, albs, seen)
            return True
        return exists or apex

    def _soa(self, zone: dict[str, Any]) -> RR:
        domain = zone["DomainName"]
        stamps = [int(r.get("UpdateTimestamp") or 0) for r in self.cloud.store.list(RECORD, key2=domain)]
        serial = (max(stamps) // 1000) & 0xFFFFFFFF if stamps else 1
        servers = zone.get("DnsServers") or ["dns1.hichina.com"]
        return RR(domain + ".", QTYPE.SOA, ttl=SOA_TTL,
                  rdata=SOA(servers[0] + ".", SOA_RNAME + ".", (serial, *SOA_TIMES)))


def _lookup(zone_recs: list[dict[str, Any]], rr: str) -> tuple[list[dict[str, Any]], bool]:
    """Records of ``rr`` (wildcards applied), preferring the ``default`` line; and whether the name
    exists (records, an empty non-terminal, or a wildcard match)."""
    def at(name: str) -> list[dict[str, Any]]:
        recs = [r for r in zone_recs if r["RR"] == name]
        default = [r for r in recs if r.get("Line", "default") == "default"]
        return default or recs

    recs = at(rr)
    if recs:
        return recs, True
    if rr == "@":
        return [], True
    if any(r["RR"].endswith("." + rr) for r in zone_recs):   # empty non-terminal
        return [], True
    labels = rr.split(".")
    for i in range(1, len(labels) + 1):
        encloser = ".".join(labels[i:])
        wild = at("*." + encloser if encloser else "*")
        if wild:
            return wild, True
        if encloser and any(r["RR"] == encloser or r["RR"].endswith("." + encloser) for r in zone_recs):
            break   # the closest encloser exists and has no wildcard
    return [], False


def _to_rr(owner: str, r: dict[str, Any]) -> RR | None:
    t, v, ttl = r["Type"], str(r["Value"]), int(r.get("TTL") or 600)
    name = owner + "."
    try:
        if t == "A":
            return RR(name, QTYPE.A, rdata=A(v), ttl=ttl)
        if t == "AAAA":
            return RR(name, QTYPE.AAAA, rdata=AAAA(v), ttl=ttl)
        if t == "CNAME":
            return RR(name, QTYPE.CNAME, rdata=CNAME(v.rstrip(".") + "."), ttl=ttl)
        if t == "MX":
            return RR(name, QTYPE.MX, rdata=MX(v.rstrip(".") + ".", int(r.get("Priority") or 10)), ttl=ttl)
        if t == "NS":
            return RR(name, QTYPE.NS, rdata=NS(v.rstrip(".") + "."), ttl=ttl)
        if t == "TXT":
            raw = v.encode()
            return RR(name, QTYPE.TXT, rdata=TXT([raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]), ttl=ttl)
        if t == "SRV":
            prio, weight, port, target = v.split()
            return RR(name, QTYPE.SRV, rdata=SRV(int(prio), int(weight), int(port), target.rstrip(".") + "."), ttl=ttl)
        if t == "CAA":
            flags, tag, value = v.split(None, 2)
            return RR(name, QTYPE.CAA, rdata=CAA(int(flags), tag, value.strip('"')), ttl=ttl)
    except (ValueError, TypeError, DNSError):
        log.warning("record %s (%s %s) cannot be served", r.get("RecordId"), t, v)
    return None   # REDIRECT_URL / FORWARD_URL are web forwarding, not DNS data


# -- sockets ---------------------------------------------------------------------------------
class _UDPServer(socketserver.ThreadingUDPServer):
    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, addr, handler, service: DnsService) -> None:
        self.service = service
        super().__init__(addr, handler)
        self.socket.settimeout(1.0)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, addr, handler, service: DnsService) -> None:
        self.service = service
        super().__init__(addr, handler)
        self.socket.settimeout(1.0)


class _UDPHandler(socketserver.BaseRequestHandler):
    server: _UDPServer

    def handle(self) -> None:
        data, sock = self.request
        out = self.server.service.handle(data, udp=True)
        if out is not None:
            try:
                sock.sendto(out, self.client_address)
            except OSError:  # pragma: no cover - client went away
                pass


class _TCPHandler(socketserver.BaseRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(TCP_TIMEOUT)
        try:
            while True:
                head = _recv_exact(conn, 2)
                if head is None:
                    return
                (n,) = struct.unpack("!H", head)
                data = _recv_exact(conn, n)
                if data is None:
                    return
                out = self.server.service.handle(data, udp=False)
                if out is None:
                    return
                conn.sendall(struct.pack("!H", len(out)) + out)
        except (TimeoutError, OSError):
            return


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf



__all__ = ["DnsService", "DOMAIN", "RECORD"]
