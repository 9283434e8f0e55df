"""bench.http1: the load generators' HTTP/1.1 connection, against a real local server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import http1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless a response says otherwise

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        if self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello, ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/cookies":
            self.send_response(302)
            self.send_header("Location", "/next?x=1")
            self.send_header("Set-Cookie", "a=1; Path=/")
            self.send_header("Set-Cookie", "b=2; Path=/")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/drop":
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"dropped")
            self.close_connection = True  # closed after this response, no Connection: close
        elif self.path == "/close":
            body = b"bye"
            self.send_response(200)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            body = f"{self.headers['Host']}|{self.headers['X-Test']}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self) -> None:
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[::-1])


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.connections = set()  # type: ignore[attr-defined]
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _connection(server: ThreadingHTTPServer) -> http1.Connection:
    return http1.Connection("127.0.0.1", server.server_address[1], timeout=5)


def test_requests_share_one_kept_alive_connection(server: ThreadingHTTPServer) -> None:
    conn = _connection(server)
    first = conn.request("GET", "/", headers={"X-Test": "one"})
    second = conn.request("POST", "/", b"abc", {"Content-Type": "text/plain"})
    third = conn.request("GET", "/", headers={"X-Test": "two", "Host": "idp.example"})
    conn.close()

    assert (first.status, first.body) == (200, f"127.0.0.1:{server.server_address[1]}|one".encode())
    assert (second.status, second.body) == (201, b"cba")
    assert third.body == b"idp.example|two"  # a Host given by the caller is the one sent
    assert len(server.connections) == 1  # type: ignore[attr-defined]


def test_chunked_body_and_repeated_headers(server: ThreadingHTTPServer) -> None:
    conn = _connection(server)
    chunked = conn.request("GET", "/chunked")
    redirect = conn.request("GET", "/cookies")
    conn.close()

    assert chunked.body == b"hello, chunked world"
    assert redirect.status == 302
    assert redirect.header("location") == "/next?x=1"
    assert redirect.all("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert redirect.body == b""


def test_a_response_closing_the_connection_is_followed_by_a_new_one(
    server: ThreadingHTTPServer,
) -> None:
    conn = _connection(server)
    closing = conn.request("GET", "/close")
    after = conn.request("GET", "/", headers={"X-Test": "again"})
    conn.close()

    assert closing.body == b"bye"
    assert after.body.endswith(b"|again")
    assert len(server.connections) == 2  # type: ignore[attr-defined]


def test_a_connection_the_server_dropped_is_an_error_then_reopened(
    server: ThreadingHTTPServer,
) -> None:
    conn = _connection(server)
    # The server answers, then closes the connection without saying so (an idle timeout or a
    # restart between two requests on a kept-alive connection).
    dropped = conn.request("GET", "/drop")
    with pytest.raises(ConnectionError):
        conn.request("GET", "/", headers={"X-Test": "lost"})
    again = conn.request("GET", "/", headers={"X-Test": "new"})
    conn.close()

    assert dropped.body == b"dropped"
    assert again.body.endswith(b"|new")
    assert len(server.connections) == 2  # type: ignore[attr-defined]


def test_header_injection_is_refused(server: ThreadingHTTPServer) -> None:
    conn = _connection(server)
    with pytest.raises(ValueError, match="line break"):
        conn.request("GET", "/", headers={"X-Test": "a\r\nX-Evil: 1"})
    with pytest.raises(ValueError, match="HEAD"):
        conn.request("HEAD", "/")
