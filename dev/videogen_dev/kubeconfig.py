"""Kubeconfig files for the local control plane's identities, with the certificates embedded."""

import base64
from pathlib import Path

import yaml

from videogen_dev import pki
from videogen_dev.settings import DevSettings


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(settings: DevSettings, identity: pki.ClientIdentity, path: Path) -> Path:
    """Write (or rewrite) a kubeconfig for `identity`; returns its path."""
    cert, key = pki.ensure_client(settings.pki_dir, identity)
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
        "users": [
            {
                "name": identity.user,
                "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)},
            }
        ],
        "contexts": [{"name": "videogen-dev", "context": {"cluster": "videogen-dev", "user": identity.user}}],
        "current-context": "videogen-dev",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config))
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def write_token_kubeconfig(settings: DevSettings, user: str, token: str, path: Path) -> Path:
    """A kubeconfig that authenticates with a bearer token (a service account's, say)."""
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
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": "videogen-dev", "context": {"cluster": "videogen-dev", "user": user}}],
        "current-context": "videogen-dev",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
