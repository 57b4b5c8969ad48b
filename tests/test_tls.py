"""TLS is real (issue 12): `[server] ssl = True` serves HTTPS with Radicale's options, never
plain HTTP; a certificate that cannot be used stops the server with one line; slow clients
and bad credentials are handled before a thread is spent, as over plain HTTP."""

import base64
import re
import socket
import ssl
import subprocess
import time

import pytest
import requests
import trustme

from conftest import REPO, ROOMCAL, event


@pytest.fixture(scope="module")
def authority():
    return trustme.CA()


def https_server(make_server, authority, folder, *, client_certificates=False):
    """A server on HTTPS with a certificate of ``authority`` (and, if asked, requiring
    client certificates of it: [server] certificate_authority)."""
    certificate = authority.issue_cert("127.0.0.1", "localhost")
    cert, key, ca = folder / "cert.pem", folder / "key.pem", folder / "ca.pem"
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    authority.cert_pem.write_to_path(str(ca))
    options = f"[server]\nssl = True\ncertificate = {cert}\nkey = {key}"
    server = make_server(start=False)
    if client_certificates:
        options += f"\ncertificate_authority = {ca}"
        client = folder / "client.pem"
        authority.issue_cert("alice@example.org").private_key_and_cert_chain_pem.write_to_path(str(client))
        server.cert = str(client)
    server.configure(("[server]", options))
    server.url = server.url.replace("http://", "https://")
    server.verify = str(ca)
    return server.start()


@pytest.fixture(scope="module")
def tls(make_server, authority, tmp_path_factory):
    server = https_server(make_server, authority, tmp_path_factory.mktemp("tls"))
    server.add_user("alice")
    server.add_room("secure")
    return server


def test_https_serves_caldav_and_api(tls):
    assert tls.put_ics("/rooms/secure/a.ics", event("20270301T100000Z", "20270301T110000Z"),
                       user="alice").status_code == 201
    assert tls.request("GET", "/api/rooms/secure", user="alice").status_code == 200


def test_the_web_pages_session_cookie_is_secure_over_tls(tls):
    session = requests.Session()
    form = session.get(tls.url + "/", timeout=30, verify=tls.verify)
    assert "Secure" in form.headers["Set-Cookie"]   # the sign-in form's token too
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    answer = session.post(tls.url + "/signin", data={"csrf": token, "username": "alice",
                                                     "password": tls.passwords["alice"]},
                          allow_redirects=False, timeout=30, verify=tls.verify)
    assert answer.status_code == 303
    session_cookie = [c for c in answer.raw.headers.getlist("Set-Cookie") if c.startswith("roomcal_session=")]
    assert session_cookie and "Secure" in session_cookie[0] and "HttpOnly" in session_cookie[0]


def test_no_plain_http_on_a_tls_port(tls):
    with pytest.raises(requests.ConnectionError):
        requests.get(tls.url.replace("https://", "http://") + "/api/rooms", timeout=5,
                     auth=tls.auth("alice"))


def tls_socket(tls):
    context = ssl.create_default_context(cafile=tls.verify)
    return context.wrap_socket(socket.create_connection(("127.0.0.1", tls.port)),
                               server_hostname="127.0.0.1")


def test_bad_credentials_are_refused_before_the_body_over_tls(tls):
    sock = tls_socket(tls)
    wrong = base64.b64encode(b"alice:wrong").decode()
    sock.sendall(f"PUT /rooms/secure/big.ics HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n"
                 f"Authorization: Basic {wrong}\r\n\r\nBEGIN:VCALENDAR\r\n".encode())
    sock.settimeout(5)
    answer = sock.recv(65536)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:100]


def test_slow_tls_clients_do_not_stall_others(tls):
    """More dribbling TLS connections than the worker has threads (8)."""
    auth = base64.b64encode(f"alice:{tls.passwords['alice']}".encode()).decode()
    slow = []
    for _ in range(12):
        sock = tls_socket(tls)
        sock.sendall(f"PUT /rooms/secure/slow.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                     "Content-Length: 1000\r\n\r\nB".encode())
        slow.append(sock)
    try:
        t0 = time.time()
        assert tls.request("GET", "/api/rooms", user="alice").status_code == 200
        assert time.time() - t0 < 5
    finally:
        for sock in slow:
            sock.close()


def test_a_missing_certificate_stops_the_server_with_one_line(make_server):
    server = make_server(start=False)
    server.configure(("[server]", "[server]\nssl = True\ncertificate = /nonexistent/cert.pem\n"
                                  "key = /nonexistent/key.pem"))
    result = subprocess.run(ROOMCAL + ["--config", server.config, "serve"], capture_output=True,
                            text=True, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "roomcal: error: [server] ssl is on, but certificate '/nonexistent/cert.pem' cannot be read: "
        "No such file or directory"]


def test_client_certificates_when_a_certificate_authority_is_set(make_server, authority, tmp_path):
    server = https_server(make_server, authority, tmp_path, client_certificates=True)
    server.add_user("alice")
    assert server.request("GET", "/api/rooms", user="alice").status_code == 200
    with pytest.raises((requests.ConnectionError, requests.exceptions.SSLError)):
        requests.get(server.url + "/api/rooms", verify=server.verify, auth=server.auth("alice"), timeout=5)
