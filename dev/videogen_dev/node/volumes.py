"""A pod's volumes as host folders: emptyDir, hostPath, PVCs bound to hostPath/local PVs, configMap, secret, projected.

Folders of their own (emptyDir, configMap, secret, projected) live under `<pod folder>/volumes/<name>`; the
container is started with each one bind-mounted at its mountPath (see `launch`).
"""

from functools import partial
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from videogen_dev.node.references import ContainerConfigError, field_ref, optional, read_config_map, read_secret


def prepare_volumes(core: Any, pod: Any, pod_dir: Path) -> dict[str, Path]:
    """Each volume as a host folder, by name."""
    ns = pod.metadata.namespace
    volumes: dict[str, Path] = {}
    for volume in pod.spec.volumes or []:
        target = pod_dir / "volumes" / volume.name
        if volume.empty_dir is not None:
            target.mkdir(parents=True, exist_ok=True)
            volumes[volume.name] = target
        elif volume.host_path is not None:
            path = Path(volume.host_path.path)
            if volume.host_path.type in ("DirectoryOrCreate", None, "") and not path.exists():
                path.mkdir(parents=True, exist_ok=True)
            volumes[volume.name] = path
        elif volume.persistent_volume_claim is not None:
            volumes[volume.name] = _claim_path(core, ns, volume.persistent_volume_claim.claim_name)
        elif volume.config_map is not None:
            data = optional(volume.config_map.optional, partial(read_config_map, core, ns, volume.config_map.name))
            _write_files(target, data, volume.config_map.items)
            volumes[volume.name] = target
        elif volume.secret is not None:
            data = optional(volume.secret.optional, partial(read_secret, core, ns, volume.secret.secret_name))
            _write_files(target, data, volume.secret.items)
            volumes[volume.name] = target
        elif volume.projected is not None:
            _write_files(target, _projected(core, pod, volume.projected), None)
            volumes[volume.name] = target
        else:
            raise ContainerConfigError(
                "CreateContainerConfigError",
                f"volume {volume.name!r}: only emptyDir, hostPath, persistentVolumeClaim "
                "(hostPath or local PV), configMap, secret and projected volumes run "
                "on the local node",
            )
    return volumes


def _claim_path(core: Any, namespace: str, claim_name: str) -> Path:
    try:
        claim = core.read_namespaced_persistent_volume_claim(claim_name, namespace)
    except ApiException as err:
        if err.status == 404:
            raise ContainerConfigError(
                "CreateContainerConfigError", f'persistentvolumeclaim "{claim_name}" not found'
            ) from err
        raise
    if not claim.spec.volume_name or (claim.status and claim.status.phase != "Bound"):
        raise ContainerConfigError("ContainerCreating", f'persistentvolumeclaim "{claim_name}" is not bound')
    pv = core.read_persistent_volume(claim.spec.volume_name)
    source = pv.spec.host_path or pv.spec.local
    if source is None:
        raise ContainerConfigError(
            "CreateContainerConfigError", f"persistent volume {pv.metadata.name} is neither hostPath nor local"
        )
    path = Path(source.path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _projected(core: Any, pod: Any, projected: Any) -> dict[str, str]:
    files: dict[str, str] = {}
    ns = pod.metadata.namespace
    for source in projected.sources or []:
        if source.service_account_token is not None:
            token = _service_account_token(core, pod, source.service_account_token)
            files[source.service_account_token.path] = token
        elif source.config_map is not None:
            data = optional(source.config_map.optional, partial(read_config_map, core, ns, source.config_map.name))
            files.update(_select(data, source.config_map.items))
        elif source.secret is not None:
            data = optional(source.secret.optional, partial(read_secret, core, ns, source.secret.name))
            files.update(_select(data, source.secret.items))
        elif source.downward_api is not None:
            for item in source.downward_api.items or []:
                if item.field_ref is not None:
                    files[item.path] = field_ref(pod, item.field_ref.field_path)
    return files


def _service_account_token(core: Any, pod: Any, projection: Any) -> str:
    """A token from the TokenRequest API, bound to the pod: it stops working once the pod is gone."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[projection.audience] if projection.audience else [],
            expiration_seconds=projection.expiration_seconds or 3607,
            bound_object_ref=client.V1BoundObjectReference(
                kind="Pod", api_version="v1", name=pod.metadata.name, uid=pod.metadata.uid
            ),
        )
    )
    response = core.create_namespaced_service_account_token(
        pod.spec.service_account_name or "default", pod.metadata.namespace, request
    )
    return str(response.status.token)


def _select(data: dict[str, str], items: Any) -> dict[str, str]:
    if not items:
        return data
    return {item.path: data[item.key] for item in items if item.key in data}


def _write_files(target: Path, data: dict[str, str], items: Any) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for rel, content in _select(data, items).items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
