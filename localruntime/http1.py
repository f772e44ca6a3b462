"""The data plane's HTTP/1.1 message handling: one request read from a TLS connection (headers and
a body, ``Content-Length`` or chunked, with limits) and one response written (``Connection: close``)."""
from __future__ import annotations

import http.client

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def read_request(rfile) -> tuple[str, str, str, list[tuple[str, str]], bytes] | None:
    line = rfile.readline(MAX_HEADER_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_HEADER_BYTES:
        raise BadRequest(414, "414 Request-URI Too Large")
    parts = line.decode("latin-1").rstrip("\r\n").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise BadRequest(400, "400 Bad Request")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    size = 0
    while True:
        h = rfile.readline(MAX_HEADER_BYTES + 1)
        size += len(h)
        if size > MAX_HEADER_BYTES:
            raise BadRequest(431, "431 Request Header Fields Too Large")
        if not h:
            raise BadRequest(400, "400 Bad Request")
        if h in (b"\r\n", b"\n"):
            break
        k, sep, v = h.decode("latin-1").partition(":")
        if not sep:
            raise BadRequest(400, "400 Bad Request")
        headers.append((k.strip(), v.strip()))
    lower = {k.lower(): v for k, v in headers}
    body = b""
    if "chunked" in lower.get("transfer-encoding", "").lower():
        chunks = []
        total = 0
        while True:
            size_line = rfile.readline(1024)
            n = int(size_line.split(b";")[0].strip() or b"0", 16)
            if n == 0:
                while rfile.readline(MAX_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                    pass
                break
            total += n
            if total > MAX_BODY_BYTES:
                raise BadRequest(413, "413 Request Entity Too Large")
            chunks.append(rfile.read(n))
            rfile.readline(8)
        body = b"".join(chunks)
    elif lower.get("content-length"):
        n = int(lower["content-length"])
        if n > MAX_BODY_BYTES:
            raise BadRequest(413, "413 Request Entity Too Large")
        body = rfile.read(n)
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    return method, target, version, headers, body


def send(sock, status: int, headers: list[tuple[str, str]], body: bytes, head: bool = False) -> None:
    reason = http.client.responses.get(status, "")
    lines = [f"HTTP/1.1 {status} {reason}"]
    have_len = False
    for k, v in headers:
        if k.lower() == "content-length":
            have_len = True
        lines.append(f"{k}: {v}")
    if not have_len:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if not head:
        data += body
    try:
        sock.sendall(data)
    except OSError:
        pass
