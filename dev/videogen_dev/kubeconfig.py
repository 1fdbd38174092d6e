"""Kubeconfig files for the local control plane's identities, with the certificates embedded."""

import base64
from pathlib import Path

import yaml

from videogen_dev import pki
from videogen_dev.settings import DevSettings


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _write(settings: DevSettings, user: str, credentials: dict[str, str], path: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "videogen-dev",
                "cluster": {
                    "server": settings.apiserver_url,
                    "certificate-authority-data": _b64(settings.pki_dir / "ca.crt"),
                },
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "videogen-dev", "context": {"cluster": "videogen-dev", "user": user}}],
        "current-context": "videogen-dev",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and moved into place: a reader never sees half a file, nor one readable by others.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def write_kubeconfig(settings: DevSettings, identity: pki.ClientIdentity, path: Path) -> Path:
    """Write (or rewrite) a kubeconfig for `identity`'s client certificate; returns its path."""
    cert, key = pki.ensure_client(settings.pki_dir, identity)
    return _write(settings, identity.user, {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}, path)


def write_token_kubeconfig(settings: DevSettings, user: str, token: str, path: Path) -> Path:
    """A kubeconfig that authenticates with a bearer token (a service account's, say)."""
    return _write(settings, user, {"token": token}, path)
