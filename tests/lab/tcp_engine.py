"""The machine's Docker engine listening on TCP at 127.0.0.1, plain or with TLS, for the tcp:// tests.

:func:`tcp_engine` forwards every connection on a 127.0.0.1 port to the engine's unix socket, byte
for byte (hijacked exec and attach streams included), so remediate talks to a real engine over
TCP exactly as it would to ``dockerd -H tcp://``. With ``tls=`` it terminates TLS the way dockerd
does with ``--tlsverify``: a server certificate for 127.0.0.1 and a required client certificate,
both signed by a test CA that :func:`make_certs` writes in the docker CLI's layout (``ca.pem``,
``cert.pem``, ``key.pem`` for ``DOCKER_CERT_PATH``).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ENGINE_SOCKET = "/var/run/docker.sock"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None,
          signer: ec.EllipticCurvePrivateKey, *, ca: bool = False, ip: str | None = None) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    return builder.sign(signer, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path = path.with_name(path.name.replace("cert", "key"))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)


def make_certs(directory: Path) -> tuple[Path, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate. Returns (the client's
    DOCKER_CERT_PATH, the server's directory: ``ca.pem``, ``server-cert.pem``, ``server-key.pem``)."""
    client, server = directory / "client", directory / "server"
    client.mkdir(parents=True)
    server.mkdir(parents=True)
    ca_key = _key()
    ca = _cert("remediate test CA", ca_key, None, ca_key, ca=True)
    for where in (client, server):
        _write(where / "ca.pem", ca)
    server_key, client_key = _key(), _key()
    _write(server / "server-cert.pem", _cert("127.0.0.1", server_key, ca.subject, ca_key, ip="127.0.0.1"), server_key)
    _write(client / "cert.pem", _cert("remediate test client", client_key, ca.subject, ca_key), client_key)
    return client, server


def server_context(server_dir: Path) -> ssl.SSLContext:
    """TLS as ``dockerd --tlsverify``: this server's certificate, client certificates required."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(server_dir / "ca.pem"))
    context.load_cert_chain(server_dir / "server-cert.pem", server_dir / "server-key.pem")
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(client: socket.socket, tls: ssl.SSLContext | None) -> None:
    try:
        if tls is not None:
            client = tls.wrap_socket(client, server_side=True)
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        engine.connect(ENGINE_SOCKET)
    except (OSError, ssl.SSLError):
        client.close()
        return
    back = threading.Thread(target=_pump, args=(engine, client), daemon=True)
    back.start()
    _pump(client, engine)
    back.join(timeout=5)
    client.close()
    engine.close()


@contextmanager
def tcp_engine(tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """The engine on a free 127.0.0.1 port (yielded) until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=_serve, args=(client, tls), daemon=True).start()

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        acceptor.join(timeout=5)
        listener.close()
