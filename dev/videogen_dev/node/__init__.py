"""The local node agent: registers a GPU-pool-like Node and runs the pods bound to it, as podman containers of our
images where podman's store holds them (container mode) and as local processes otherwise.

A development tool, not a kubelet. It keeps the Node Ready (status heartbeat and Lease), watches the pods
scheduled onto it, and for each one: resolves env (literals, Secret/ConfigMap refs, the downward API),
prepares volumes as folders (emptyDir, hostPath, hostPath/local PVCs, configMap, secret, projected
service-account tokens), runs init containers in order and then the containers in a private mount namespace,
and reports phase, container states, exit codes and termination messages. Deleting a pod sends SIGTERM, then
SIGKILL after the grace period.

It authenticates as `system:node:<name>`, so the Node authorizer and NodeRestriction apply to it as they
do to a real kubelet. Settings come from `VIDEOGEN_NODE_*` variables (see `settings.NodeAgentSettings`).

| module            | owns                                                                         |
|-------------------|------------------------------------------------------------------------------|
| `agent`           | the process: wiring, signals, threads (`videogen-node-agent`)                |
| `settings`        | `VIDEOGEN_NODE_*`                                                            |
| `apiserver`       | the clients, the patch content type, the API's timestamps                    |
| `registration`    | the Node object, its status heartbeat and Lease                              |
| `watch`           | list and watch of the pods bound to this node                                |
| `pods`            | which pods run here: start, stop, confirm deletions, forget                  |
| `lifecycle`       | one pod's run: prepare, init containers, containers, restarts, stop, delete  |
| `references`      | what a pod refers to: Secrets, ConfigMaps, its own fields (downward API)     |
| `env`             | a container's environment and `$(VAR)` expansion                             |
| `volumes`         | volumes as host folders                                                      |
| `launch`          | a container's launch spec: mounts, identity, env, argv; the pod's folders    |
| `runtime`         | how a container is started, signalled and awaited (`ContainerRuntime`)       |
| `image_store`     | which images run from podman's store (ours, when built here)                 |
| `podman`          | containers run from their images with podman                                 |
| `state`           | what the agent remembers about each pod it runs                              |
| `status`          | pod and container status documents, and patching them                        |

`kubectl logs` is served by `videogen_dev.node_logs`; the process inside the mount namespace is
`videogen_dev.container_shim`.
"""
