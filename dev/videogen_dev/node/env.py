"""A container's environment as Kubernetes builds it: envFrom, then env in order, with `$(VAR)` expansion."""

from collections.abc import Callable
from functools import partial
from typing import Any

from videogen_dev.node.references import ContainerConfigError, field_ref, optional, read_config_map, read_secret


def container_env(core: Any, pod: Any, container: Any) -> dict[str, str]:
    ns = pod.metadata.namespace
    env: dict[str, str] = {}
    for source in container.env_from or []:
        prefix = source.prefix or ""
        if source.secret_ref is not None:
            data = optional(source.secret_ref.optional, partial(read_secret, core, ns, source.secret_ref.name))
        else:
            data = optional(
                source.config_map_ref.optional, partial(read_config_map, core, ns, source.config_map_ref.name)
            )
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.env or []:
        if var.value_from is None:
            env[var.name] = expand(var.value or "", env)
            continue
        ref = var.value_from
        if ref.secret_key_ref is not None:
            value = _key_ref(ref.secret_key_ref, "Secret", partial(read_secret, core, ns), ns)
        elif ref.config_map_key_ref is not None:
            value = _key_ref(ref.config_map_key_ref, "ConfigMap", partial(read_config_map, core, ns), ns)
        elif ref.field_ref is not None:
            value = field_ref(pod, ref.field_ref.field_path)
        elif ref.resource_field_ref is not None:
            value = _resource_value(container, ref.resource_field_ref.resource)
        else:
            value = None
        if value is not None:
            env[var.name] = value
    return env


def _key_ref(ref: Any, kind: str, read: Callable[[str], dict[str, str]], namespace: str) -> str | None:
    """One key of a Secret or ConfigMap; missing and not optional is a config error, as in kubelet."""
    value = optional(ref.optional, partial(read, ref.name)).get(ref.key)
    if value is None and not ref.optional:
        raise ContainerConfigError(
            "CreateContainerConfigError", f"couldn't find key {ref.key} in {kind} {namespace}/{ref.name}"
        )
    return value


def _resource_value(container: Any, resource: str) -> str:
    kind, _, name = resource.partition(".")
    values = getattr(container.resources, kind, None) or {}
    return str(values.get(name, "0"))


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion; $$(VAR) escapes."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$(", i):
            out.append("$(")
            i += 3
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)
