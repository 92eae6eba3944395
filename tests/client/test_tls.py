"""TLS trust as httpx has it: ``verify=True`` trusts the CA bundle ``SSL_CERT_FILE`` names, else the CA
directory ``SSL_CERT_DIR`` names (a company CA set the usual way), else certifi's. A real TLS server with a
certificate from a private CA answers the client; it is trusted only through those variables."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trustme

from studio_provider.client import AsyncStudioClient, StudioConfig, StudioTLSError

CA = trustme.CA()
SERVER_TLS = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
CA.issue_cert("127.0.0.1").configure_cert(SERVER_TLS)
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]"


@asynccontextmanager
async def private_ca_studio() -> AsyncIterator[str]:
    """An HTTPS server on 127.0.0.1 whose certificate only the private CA vouches for; it answers any
    request with an empty JSON list (an empty job list)."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(ANSWER)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ssl.SSLError):
            pass  # a client that refused the certificate hangs up mid-handshake
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=SERVER_TLS)
    try:
        yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def list_jobs(url: str) -> object:
    config = StudioConfig.resolve(url=url, token="t0ken-for-tls", team="team-a", extras={"max_retries": 0}, environ={})
    async with AsyncStudioClient(config) as client:
        return await client.list_jobs()


def ca_directory(tmp_path: Path) -> Path:
    """A CA directory as OpenSSL reads one: the certificate under its subject hash."""
    folder = tmp_path / "certs"
    folder.mkdir()
    pem = folder / "company-ca.pem"
    CA.cert_pem.write_to_path(str(pem))
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command names CA files by subject hash (Debian's openssl package)"
    digest = subprocess.run(
        [openssl, "x509", "-noout", "-subject_hash", "-in", str(pem)], capture_output=True, text=True, check=True
    ).stdout.strip()
    (folder / f"{digest}.0").symlink_to(pem.name)
    return folder


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
async def test_a_company_ca_set_the_usual_way_is_trusted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with private_ca_studio() as url:
        with pytest.raises(StudioTLSError):  # certifi does not know the private CA
            await list_jobs(url)
        if variable == "SSL_CERT_FILE":
            bundle = tmp_path / "company-ca.pem"
            CA.cert_pem.write_to_path(str(bundle))
            monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        else:
            monkeypatch.setenv("SSL_CERT_DIR", str(ca_directory(tmp_path)))
        assert await list_jobs(url) == []
