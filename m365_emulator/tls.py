"""A local CA and a server certificate for 127.0.0.1/localhost, kept under the state directory.

msal refuses non-https authorities, so the emulator must serve TLS; clients trust `ca.pem`.
Files are reused across restarts so a CA path pasted into settings stays valid.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "m365-emulator"


@dataclass(frozen=True)
class TlsFiles:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def ensure_tls_files(state_dir: Path | str | None = None) -> TlsFiles:
    """Return the CA and server certificate under state_dir, generating them on first use."""
    directory = Path(state_dir or DEFAULT_STATE_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if all(p.exists() for p in (files.ca_file, files.cert_file, files.key_file)):
        return files
    ca = trustme.CA(organization_name="m365-emulator local CA")
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    # Write the key first with private permissions, then the public parts.
    files.key_file.touch(mode=0o600)
    server.private_key_pem.write_to_path(str(files.key_file))
    server.cert_chain_pems[0].write_to_path(str(files.cert_file))
    ca.cert_pem.write_to_path(str(files.ca_file))
    return files
