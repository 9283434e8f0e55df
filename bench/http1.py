"""A keep-alive HTTP/1.1 client connection for the load generators, parsed by httptools.

The load processes share the benchmark machine's two cores with the server they measure, so
their own CPU per request is taken from the server's. ``http.client`` parses each response's
header block with the ``email`` package, in Python: about 0.2 ms of CPU per request here, nearly
2 ms per card-app login (nine requests). httptools (llhttp, the parser of Node.js, in C) does the
same for a tenth of that (docs/benchmarks.md, "The load generator's own cost").

The request line and headers are written as RFC 9112 §3 and §5 give them; the response (status,
headers, a body framed by Content-Length or chunked, RFC 9112 §6) is httptools' to parse.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

import httptools


class ProtocolError(ConnectionError):
    """The connection closed before the response ended, or the response was not HTTP/1.1."""


@dataclass
class Response:
    status: int = 0
    #: (lower-cased name, value) in the order received; a name may repeat (Set-Cookie).
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The last value of header ``name`` (lower case), if any."""
        for key, value in reversed(self.headers):
            if key == name:
                return value
        return None

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]


class _Reader:
    """httptools' callbacks for one response."""

    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.complete = False
        self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_body(self, chunk: bytes) -> None:
        self.chunks.append(chunk)

    def on_message_complete(self) -> None:
        # Asked here: once the callback returns, llhttp has reset the message's flags and says
        # no to keep-alive whatever the response said.
        self.keep_alive = self.parser is not None and self.parser.should_keep_alive()
        self.complete = True


class Connection:
    """One persistent connection to ``host:port``, opened on first use and after a close."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._sock: socket.socket | None = None

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        if method == "HEAD":  # a body-less response the parser would wait on; never sent here
            raise ValueError("HEAD is not supported")
        head = [f"{method} {target} HTTP/1.1"]
        given = {name.lower() for name in headers or ()}
        if "host" not in given:
            head.append(f"Host: {self.host}:{self.port}")
        for name, value in (headers or {}).items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r}: line break in a header")
            head.append(f"{name}: {value}")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body or b'')}")
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (body or b"")
        sock = self._connect()
        try:
            sock.sendall(message)
            return self._read(sock)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def _read(self, sock: socket.socket) -> Response:
        reader = _Reader()
        parser = reader.parser = httptools.HttpResponseParser(reader)
        while not reader.complete:
            data = sock.recv(65536)
            if not data:
                raise ProtocolError("the server closed the connection before the response ended")
            try:
                parser.feed_data(data)
            except httptools.HttpParserUpgrade as exc:
                raise ProtocolError("unexpected protocol upgrade") from exc
            except httptools.HttpParserError as exc:
                raise ProtocolError(f"malformed response: {exc}") from exc
        if not reader.keep_alive:
            self.close()
        return Response(parser.get_status_code(), reader.headers, b"".join(reader.chunks))
