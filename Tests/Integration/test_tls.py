"""TLS (issue 17): a TLS client port beside (or instead of) the plain one, with redis-cli --tls and redis-py
ssl=True in their default configurations; TLS 1.2 at least; client certificates (mutual TLS) as no, optional or
yes; the certificate reloaded on SIGHUP or when its files change, connections open before it kept; a plain-text
client on the TLS port closed cleanly; the admin listener over HTTPS with the same certificate."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest
import redis

from conftest import demo_value, free_port, redis_cli, run_tiercache, wait_for


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def issue(directory: Path, name: str, ca: str | None, subject: str, server: bool = False) -> None:
    """`name`.key and `name`.crt, signed by `ca` (None: self-signed); a server's names 127.0.0.1 and localhost."""
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key", cwd=directory)
    if ca is None:
        openssl("req", "-x509", "-new", "-key", f"{name}.key", "-subj", subject, "-days", "2", "-out", f"{name}.crt",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                cwd=directory)
        return
    extensions = directory / f"{name}.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n" if server
                          else "extendedKeyUsage=clientAuth\n")
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=directory)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
            "-days", "2", "-extfile", extensions.name, "-out", f"{name}.crt", cwd=directory)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("tls")
    issue(directory, "ca", None, "/CN=TierCache test CA")
    issue(directory, "server", "ca", "/CN=tiercache-one", server=True)
    issue(directory, "renewed", "ca", "/CN=tiercache-two", server=True)
    issue(directory, "client", "ca", "/CN=app")
    issue(directory, "stranger-ca", None, "/CN=Someone else")
    issue(directory, "stranger", "stranger-ca", "/CN=stranger")
    return directory


def start(proxy, certificates: Path, *args: str, tls_port: int | None = None):
    port = tls_port or free_port()
    px = proxy("--tls-listen", f"127.0.0.1:{port}", "--tls-cert-file", str(certificates / "server.crt"),
               "--tls-key-file", str(certificates / "server.key"), *args)
    px.tls_port = port
    return px


def tls_client(px, certificates: Path, client: str | None = None, **options) -> redis.Redis:
    """redis-py as an application configures TLS: ssl=True and the CA (plus a certificate for mutual TLS)."""
    if client:
        options.update(ssl_certfile=str(certificates / f"{client}.crt"), ssl_keyfile=str(certificates / f"{client}.key"))
    connection = redis.Redis(host="127.0.0.1", port=px.tls_port, ssl=True, ssl_ca_certs=str(certificates / "ca.crt"),
                             **options)
    px._clients.append(connection)
    return connection


def peer_common_name(port: int, certificates: Path) -> str:
    context = ssl.create_default_context(cafile=str(certificates / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
            subject = dict(part[0] for part in wrapped.getpeercert()["subject"])
            return subject["commonName"]


def test_redis_cli_and_redis_py_over_tls_and_a_plain_client_closed_cleanly(proxy, certificates):
    px = start(proxy, certificates)
    assert tls_client(px, certificates).get("user_sessions:1") == demo_value("user_sessions", 1)
    cli = redis_cli(px.tls_port, "--tls", "--cacert", str(certificates / "ca.crt"), "GET", "user_sessions:2", raw=True)
    assert cli.stdout.strip() == demo_value("user_sessions", 2).decode(), cli.stderr
    assert px.client().get("user_sessions:3") == demo_value("user_sessions", 3)  # the plain port beside it
    # A plain-text client on the TLS port: closed, without an answer it could misread, and the proxy serves on.
    with socket.create_connection(("127.0.0.1", px.tls_port), timeout=10) as plain:
        plain.sendall(b"*1\r\n$4\r\nPING\r\n")
        received = b""
        while True:
            try:
                chunk = plain.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        assert b"PONG" not in received and not received.startswith(b"+") and not received.startswith(b"-")
    cli = redis_cli(px.tls_port, "PING", raw=True)
    assert "PONG" not in cli.stdout
    assert tls_client(px, certificates).ping()
    px.assert_alive()
    assert px.stats()["server"]["tls_handshake_failures"] >= 2


def test_tls_1_2_at_least(proxy, certificates):
    px = start(proxy, certificates)
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.create_default_context(cafile=str(certificates / "ca.crt"))
        context.minimum_version = context.maximum_version = version
        with socket.create_connection(("127.0.0.1", px.tls_port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as wrapped:
                assert wrapped.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
    # TLS 1.1 offered by a client willing to speak it: the server refuses it with a protocol_version alert.
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{px.tls_port}", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
        input="", capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "alert protocol version" in result.stderr + result.stdout, result.stderr


@pytest.mark.parametrize("rule", ["yes", "optional"])
def test_client_certificates(proxy, certificates, rule):
    px = start(proxy, certificates, "--tls-auth-clients", rule, "--tls-ca-cert-file", str(certificates / "ca.crt"))
    assert tls_client(px, certificates, "client").get("user_sessions:1") == demo_value("user_sessions", 1)
    with pytest.raises(redis.exceptions.ConnectionError):
        tls_client(px, certificates, "stranger", retry=None).ping()  # a certificate of another CA: refused
    if rule == "yes":
        with pytest.raises(redis.exceptions.ConnectionError):
            tls_client(px, certificates, retry=None).ping()  # none at all
        cli = redis_cli(px.tls_port, "--tls", "--cacert", str(certificates / "ca.crt"), "--cert",
                        str(certificates / "client.crt"), "--key", str(certificates / "client.key"), "PING", raw=True)
        assert cli.stdout.strip() == "PONG", cli.stderr
    else:
        assert tls_client(px, certificates).ping()  # optional: none is fine


def test_certificate_reload_keeps_open_connections(proxy, certificates, tmp_path):
    for name in ("server.crt", "server.key"):
        (tmp_path / name).write_bytes((certificates / name).read_bytes())
    port = free_port()
    px = proxy("--tls-listen", f"127.0.0.1:{port}", "--tls-cert-file", str(tmp_path / "server.crt"),
               "--tls-key-file", str(tmp_path / "server.key"))
    px.tls_port = port
    assert peer_common_name(port, certificates) == "tiercache-one"
    before = tls_client(px, certificates, single_connection_client=True)
    assert before.get("user_sessions:1") == demo_value("user_sessions", 1)
    # The renewed certificate written in place (key first, as tools do), then SIGHUP.
    (tmp_path / "server.key").write_bytes((certificates / "renewed.key").read_bytes())
    (tmp_path / "server.crt").write_bytes((certificates / "renewed.crt").read_bytes())
    os.kill(px.process.pid, signal.SIGHUP)
    assert wait_for(lambda: "TLS certificate reloaded" in px.log(), timeout=10), px.log()[-2000:]
    assert peer_common_name(port, certificates) == "tiercache-two"
    assert before.get("user_sessions:2") == demo_value("user_sessions", 2)  # the connection from before goes on
    # A broken file: refused, the renewed certificate stays.
    (tmp_path / "server.crt").write_text("not a certificate")
    os.kill(px.process.pid, signal.SIGHUP)
    assert wait_for(lambda: "TLS files refused" in px.log(), timeout=10)
    assert peer_common_name(port, certificates) == "tiercache-two"


def test_tls_only_and_the_admin_listener_over_https(proxy, certificates):
    admin, port = free_port(), free_port()
    px = proxy("--listen", "off", "--tls-listen", f"127.0.0.1:{port}", "--tls-cert-file",
               str(certificates / "server.crt"), "--tls-key-file", str(certificates / "server.key"),
               "--admin-listen", f"127.0.0.1:{admin}", "--admin-tls", "yes", wait=False)
    px.tls_port = port
    context = ssl.create_default_context(cafile=str(certificates / "ca.crt"))

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"https://127.0.0.1:{admin}/health/live", timeout=5, context=context) as r:
                return r.status == 200
        except OSError:
            return False

    assert wait_for(ready, timeout=30), px.log()[-3000:]
    assert tls_client(px, certificates).get("user_sessions:1") == demo_value("user_sessions", 1)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", px.port), timeout=2).close()  # no plain port


def test_tls_options_are_checked_at_start(tmp_path, certificates):
    def serve(*args: str) -> subprocess.CompletedProcess:
        return run_tiercache("serve", "--database", f"sqlite:{tmp_path / 'x.db'}", "--listen",
                             f"127.0.0.1:{free_port()}", *args, timeout=30)
    cases = {
        ("--tls-listen", "127.0.0.1:1"): "TLS needs both --tls-cert-file and --tls-key-file",
        ("--tls-listen", "127.0.0.1:1", "--tls-cert-file", str(certificates / "server.crt"), "--tls-key-file",
         str(certificates / "server.key"), "--tls-auth-clients", "yes"): "--tls-auth-clients yes needs --tls-ca-cert-file",
        ("--tls-cert-file", str(certificates / "server.crt"), "--tls-key-file", str(certificates / "server.key")):
            "nothing uses it",
        ("--tls-listen", "127.0.0.1:1", "--tls-cert-file", str(certificates / "server.crt"), "--tls-key-file",
         str(certificates / "client.key")): "do they match?",
        ("--tls-listen", "127.0.0.1:1", "--tls-cert-file", str(tmp_path / "missing.crt"), "--tls-key-file",
         str(certificates / "server.key")): "cannot load --tls-cert-file",
        ("--redis", "rediss://127.0.0.1:6379",): "rediss://",
    }
    for args, message in cases.items():
        result = serve(*args)
        assert result.returncode != 0 and message in result.stderr, (args, result.stderr[-2000:])
