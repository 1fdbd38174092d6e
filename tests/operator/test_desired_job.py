"""desired_job: the Job a VideoJob becomes, as a pure function of the VideoJob, its model and the settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.operator.factories import MODEL, UID, videojob
from videogen_common.logs import REQUEST_ID_ENV
from videogen_common.model_choice import ModelPolicy, ResolvedModel, resolve_model
from videogen_common.names import is_output_filename
from videogen_common.resources.meta import ANNOTATION_REQUEST_ID
from videogen_common.resources.objects import VideoModel
from videogen_common.resources.videojob import Mode
from videogen_common.runner_contract import ExitCode, RunnerInput
from videogen_common.tracing import TRACEPARENT_ENV
from videogen_operator.naming import output_file
from videogen_operator.pod_building import scheduling_problem
from videogen_operator.runner_job import desired_job
from videogen_operator.settings import OperatorSettings


def build(settings: OperatorSettings | None = None, **spec: Any) -> dict[str, Any]:
    return desired_job(videojob(**spec), MODEL, settings or OperatorSettings(), s3_endpoint_url="http://s3:8333")


def runner(job: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return container


def env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in runner(job)["env"]}


def problem_with(scheduling: dict[str, Any] | None, settings: OperatorSettings, **spec: Any) -> str | None:
    return scheduling_problem(videojob(scheduling=scheduling, **spec).spec, settings)


def test_job_is_named_after_the_videojob_and_owned_by_it() -> None:
    job = build()
    assert job["metadata"]["name"] == "cat"
    assert job["metadata"]["namespace"] == "team-a"
    (owner,) = job["metadata"]["ownerReferences"]
    assert owner == {
        "apiVersion": "videogen.dev/v1alpha1",
        "kind": "VideoJob",
        "name": "cat",
        "uid": UID,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def test_same_videojob_gives_the_same_job_every_time() -> None:
    # Restart safety rests on this: a repeated create is AlreadyExists of an identical object.
    assert build() == build()


def test_labels_name_the_videojob_on_job_and_pods() -> None:
    job = build()
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/managed-by"] == "videogen-operator"
        assert labels["app.kubernetes.io/name"] == "videogen"
        assert labels["videogen.dev/videojob"] == "cat"
        assert labels["videogen.dev/videojob-uid"] == UID


def test_gpu_limit_follows_spec_gpus() -> None:
    assert runner(build(gpus=1))["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nvidia.com/gpu" not in runner(build(gpus=0))["resources"]["limits"]


def test_scheduling_comes_from_settings() -> None:
    settings = OperatorSettings(
        node_selector={"pool": "h100"},
        runtime_class_name="nvidia",
        priority_class_name="batch-low",
        affinity={"nodeAffinity": {}},
    )
    pod = build(settings)["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "h100"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert (pod["runtimeClassName"], pod["priorityClassName"]) == ("nvidia", "batch-low")
    assert pod["affinity"] == {"nodeAffinity": {}}


def test_pod_meets_restricted_pod_security_and_has_no_token() -> None:
    pod = build()["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "videogen-runner"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert pod["restartPolicy"] == "Never"


def test_the_runner_is_not_pid_1_so_an_early_sigterm_stops_it() -> None:
    # As PID 1 the runner would ignore a SIGTERM that comes before Python installed its handler (a pod deleted in
    # its first second), and go on to generate and upload; tests/e2e/test_chaos.py deletes a pod that early.
    job = build()
    assert job["spec"]["template"]["spec"]["shareProcessNamespace"] is True
    assert len(job["spec"]["template"]["spec"]["containers"]) == 1
    assert job["spec"]["podReplacementPolicy"] == "Failed"


def test_run_as_user_can_be_left_to_the_image() -> None:
    pod = build(OperatorSettings(runner_run_as_user=None))["spec"]["template"]["spec"]
    assert "runAsUser" not in pod["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_volumes_are_read_only_model_cache_tmp_and_memory_shm() -> None:
    job = build()
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "videogen-model-cache", "readOnly": True}
    assert "emptyDir" in volumes["tmp"]
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    mounts = {m["name"]: m for m in runner(job)["volumeMounts"]}
    assert mounts["model-cache"] == {"name": "model-cache", "mountPath": "/models", "readOnly": True}
    assert mounts["dshm"]["mountPath"] == "/dev/shm"
    assert mounts["tmp"]["mountPath"] == "/tmp"


def test_runtime_options_reach_the_runner_and_the_compile_cache_is_the_only_writable_part_of_the_cache() -> None:
    settings = OperatorSettings.model_validate(
        {"runner_runtime": {"compile": True, "attentionBackend": "_native_cudnn"}, "compile_cache_subpath": ".cc"}
    )
    job = build(settings)
    runtime = RunnerInput.model_validate_json(env(job)["VIDEOGEN_RUNNER_INPUT"]["value"]).runtime
    assert (runtime.compile, runtime.attention_backend, runtime.offload) == (True, "_native_cudnn", "auto")
    assert runtime.compile_cache_dir == "/compile-cache"
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    # Kubernetes applies a volume-level readOnly to every mount, so it goes; the weights' mount stays read-only.
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "videogen-model-cache", "readOnly": False}
    mounts = [m for m in runner(job)["volumeMounts"] if m["name"] == "model-cache"]
    assert mounts == [
        {"name": "model-cache", "mountPath": "/models", "readOnly": True},
        {"name": "model-cache", "mountPath": "/compile-cache", "subPath": ".cc"},
    ]


def test_without_a_compile_cache_the_runtime_defaults_are_automatic() -> None:
    runtime = RunnerInput.model_validate_json(env(build())["VIDEOGEN_RUNNER_INPUT"]["value"]).runtime
    assert (runtime.compile, runtime.attention_backend, runtime.compile_cache_dir) == ("auto", "auto", None)


@pytest.mark.parametrize("subpath", ["", "/models/cc", "../elsewhere", "cc/../../x"])
def test_compile_cache_subpath_must_stay_inside_the_volume(subpath: str) -> None:
    with pytest.raises(ValueError, match="relative folder inside the model cache volume"):
        OperatorSettings.model_validate({"compile_cache_subpath": subpath})


def test_s3_keys_come_from_the_secret_never_inline() -> None:
    variables = env(build())
    for name, key in (
        ("VIDEOGEN_S3_ACCESS_KEY_ID", "accessKeyId"),
        ("VIDEOGEN_S3_SECRET_ACCESS_KEY", "secretAccessKey"),
    ):
        assert "value" not in variables[name]
        assert variables[name]["valueFrom"]["secretKeyRef"] == {"name": "videogen-s3", "key": key}
    assert variables["VIDEOGEN_S3_ENDPOINT_URL"]["value"] == "http://s3:8333"


def test_runner_input_carries_spec_model_and_output_per_the_contract() -> None:
    job = build(prompt="a red fox", seed=7)
    runner_input = RunnerInput.model_validate_json(env(job)["VIDEOGEN_RUNNER_INPUT"]["value"])
    assert runner_input.videojob.name == "cat" and runner_input.videojob.uid == UID
    assert runner_input.spec == videojob(prompt="a red fox", seed=7).spec
    # The folder to load and the repo id to report travel in model; the spec stays as the VideoJob gave it.
    assert (runner_input.model.path, runner_input.model.repo_id, runner_input.model.revision) == (
        MODEL.path,
        MODEL.repo_id,
        "abc",
    )
    assert runner_input.spec.model == "wan-t2v"
    assert runner_input.output.bucket == "videogen"
    assert runner_input.output.video_key == f"outputs/{output_file(videojob())}"
    assert runner_input.progress is not None
    assert runner_input.progress.key == f".progress/team-a/cat-{UID}.json"
    # camelCase on the wire, as the runner reads it
    assert "numInferenceSteps" in json.loads(env(job)["VIDEOGEN_RUNNER_INPUT"]["value"])["spec"]


def test_the_videomodels_overrides_reach_the_runner_input() -> None:
    videomodel = VideoModel.model_validate(
        {
            "metadata": {"name": "wan-t2v", "namespace": "team-a"},
            "spec": {"repoId": MODEL.repo_id, "overrides": {"nativeFps": 24, "maxPixels": 2088960}},
            "status": {"state": "Ready", "path": MODEL.path, "pipelineClass": "WanPipeline"},
        }
    )
    model = resolve_model(Mode.TEXT_TO_VIDEO, "wan-t2v", [videomodel], ModelPolicy())
    assert isinstance(model, ResolvedModel)
    job = desired_job(videojob(), model, OperatorSettings())
    document = json.loads(env(job)["VIDEOGEN_RUNNER_INPUT"]["value"])
    assert document["model"]["overrides"] == {"nativeFps": 24, "maxPixels": 2088960}
    assert RunnerInput.model_validate(document).model.overrides == videomodel.spec.overrides
    # A VideoModel without overrides sends none: the runner uses the model-family table.
    assert "overrides" not in json.loads(env(build())["VIDEOGEN_RUNNER_INPUT"]["value"])["model"]


def test_spec_output_overrides_bucket_and_prefix() -> None:
    runner_input = RunnerInput.model_validate_json(
        env(build(output={"bucket": "team-bucket", "prefix": "renders/"}))["VIDEOGEN_RUNNER_INPUT"]["value"]
    )
    assert runner_input.output.bucket == "team-bucket"
    assert runner_input.output.video_key.startswith("renders/text2video_")


def test_output_file_is_the_reference_shape_and_stable_per_videojob() -> None:
    name = output_file(videojob())
    assert is_output_filename(name)
    assert name.startswith("text2video_20240115_103045_")
    assert output_file(videojob()) == name
    assert output_file(videojob(uid="another-uid")) != name
    image = videojob(mode="image-to-video", input={"uri": "s3://videogen/inputs/cat.png"})
    assert output_file(image).startswith("image2video_")


def test_retries_deadline_and_ttl_come_from_spec_and_settings() -> None:
    spec = build(OperatorSettings(job_ttl_seconds=600), maxRetries=5, activeDeadlineSeconds=900)["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"], spec["ttlSecondsAfterFinished"]) == (5, 900, 600)


def test_pod_failure_policy_fails_fast_on_invalid_input_and_oom_and_ignores_disruptions() -> None:
    rules = build()["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {
            "containerName": "runner",
            "operator": "In",
            "values": [ExitCode.INVALID_INPUT, ExitCode.OUT_OF_MEMORY],
        },
    }
    assert rules[1] == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}


def test_kueue_queue_name_becomes_a_job_label_and_the_job_is_created_suspended() -> None:
    job = build(queueName="gpu-queue")
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "gpu-queue"
    assert job["spec"]["suspend"] is True
    default_queue = build(OperatorSettings(default_queue_name="shared"))
    assert default_queue["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "shared"
    assert default_queue["spec"]["suspend"] is True
    unqueued = build()
    assert "kueue.x-k8s.io/queue-name" not in unqueued["metadata"]["labels"]
    assert "suspend" not in unqueued["spec"]


ALLOWING = OperatorSettings(
    priority_class_name="video-default",
    allowed_priority_classes=["video-low", "video-high"],
    allowed_runtime_classes=["nvidia"],
    allowed_node_selectors={"gpu.product": ["H100", "L4"]},
    allowed_tolerations=[{"key": "pool", "operator": "Equal", "value": "l4", "effect": "NoSchedule"}],
)


def test_allowed_per_job_scheduling_overrides_the_settings() -> None:
    scheduling = {
        "priorityClassName": "video-high",
        "runtimeClassName": "nvidia",
        "nodeSelector": {"gpu.product": "L4"},
        # Without operator: Kubernetes reads it as Equal, so it is the allowed toleration.
        "tolerations": [{"key": "pool", "value": "l4", "effect": "NoSchedule"}],
    }
    assert problem_with(scheduling, ALLOWING) is None
    pod_spec = build(ALLOWING, scheduling=scheduling)["spec"]["template"]["spec"]
    assert (pod_spec["priorityClassName"], pod_spec["runtimeClassName"]) == ("video-high", "nvidia")
    # Merged over the settings' selector and tolerations, which still apply.
    assert pod_spec["nodeSelector"] == {"videogen.dev/pool": "gpu", "gpu.product": "L4"}
    assert pod_spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "pool", "value": "l4", "effect": "NoSchedule"},
    ]


def test_without_per_job_scheduling_the_settings_apply_unchanged() -> None:
    pod_spec = build(ALLOWING)["spec"]["template"]["spec"]
    assert pod_spec["priorityClassName"] == "video-default"
    assert "runtimeClassName" not in pod_spec
    assert pod_spec["nodeSelector"] == {"videogen.dev/pool": "gpu"}


def test_a_value_outside_the_allow_list_is_refused_naming_the_field_and_the_allowed_values() -> None:
    problem = problem_with({"priorityClassName": "system-cluster-critical"}, ALLOWING)
    assert problem == (
        "spec.scheduling.priorityClassName 'system-cluster-critical' is not allowed "
        "(allowed: video-high, video-low; setting allowed_priority_classes)"
    )
    problem = problem_with({"nodeSelector": {"gpu.product": "A100"}}, ALLOWING)
    assert problem is not None and "spec.scheduling.nodeSelector gpu.product=A100 is not allowed" in problem
    assert "allowed: gpu.product=H100, gpu.product=L4" in problem
    problem = problem_with({"tolerations": [{"key": "pool", "operator": "Exists"}]}, ALLOWING)
    assert problem is not None and problem.startswith("spec.scheduling.tolerations ")
    # Every refused field is named, not only the first.
    both = problem_with({"runtimeClassName": "kata", "nodeSelector": {"zone": "a"}}, ALLOWING)
    assert both is not None and "runtimeClassName 'kata'" in both and "nodeSelector zone=a" in both
    with pytest.raises(ValueError, match="runtimeClassName"):
        build(ALLOWING, scheduling={"runtimeClassName": "kata"})


def test_a_priority_above_the_ceiling_is_refused_naming_spec_priority() -> None:
    ceiling = OperatorSettings(max_priority=10, allowed_priority_classes=["video-high"])
    problem = problem_with(None, ceiling, priority=1000)
    assert problem == (
        "spec.priority 1000 is above the ceiling 10 (setting max_priority, chart value queue.maxPriority): lower it "
        "to 10 or less, or also set spec.scheduling.priorityClassName to an allowed PriorityClass (allowed: "
        "video-high; setting allowed_priority_classes)"
    )
    with pytest.raises(ValueError, match=r"spec\.priority 1000"):
        build(ceiling, priority=1000)
    # At the ceiling, and below it (negative priorities yield), anyone may.
    assert problem_with(None, ceiling, priority=10) is None
    assert problem_with(None, ceiling, priority=-1000) is None


def test_a_priority_above_the_ceiling_is_allowed_with_an_allowed_priority_class_only() -> None:
    ceiling = OperatorSettings(max_priority=0, allowed_priority_classes=["video-high"])
    assert problem_with({"priorityClassName": "video-high"}, ceiling, priority=1000) is None
    # A class outside the list is refused for itself, and does not lift the ceiling either.
    refused = problem_with({"priorityClassName": "other"}, ceiling, priority=1000)
    assert refused is not None and "priorityClassName 'other' is not allowed" in refused
    # Other overrides do not lift it.
    refused = problem_with(
        {"runtimeClassName": "nvidia"}, OperatorSettings(allowed_runtime_classes=["nvidia"]), priority=5
    )
    assert refused is not None and refused.startswith("spec.priority 5 is above the ceiling 0")


def test_by_default_the_ceiling_is_0_and_null_lifts_it() -> None:
    problem = problem_with(None, OperatorSettings(), priority=1)
    assert problem is not None and "allowed: none" in problem
    assert problem_with(None, OperatorSettings(max_priority=None), priority=1000) is None


def test_by_default_no_per_job_override_is_allowed() -> None:
    problem = problem_with({"runtimeClassName": "nvidia"}, OperatorSettings())
    assert problem == (
        "spec.scheduling.runtimeClassName 'nvidia' is not allowed (allowed: none; setting allowed_runtime_classes)"
    )


def test_the_request_id_on_the_videojob_reaches_the_runner_env_only_when_it_is_safe() -> None:
    with_id = videojob()
    with_id.metadata.annotations[ANNOTATION_REQUEST_ID] = "req-abc-123"
    built = desired_job(with_id, MODEL, OperatorSettings(), s3_endpoint_url="http://s3:8333")
    assert env(built)[REQUEST_ID_ENV]["value"] == "req-abc-123"
    # Anyone who may edit the VideoJob may write the annotation: a value that could forge log lines is dropped.
    forged = videojob()
    forged.metadata.annotations[ANNOTATION_REQUEST_ID] = 'x"\n{"level": "ERROR"}'
    assert REQUEST_ID_ENV not in env(desired_job(forged, MODEL, OperatorSettings()))
    assert REQUEST_ID_ENV not in env(build())


def test_the_trace_context_given_reaches_the_runner_env_and_none_is_made_up() -> None:
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    built = desired_job(videojob(), MODEL, OperatorSettings(), traceparent=parent)
    assert env(built)[TRACEPARENT_ENV]["value"] == parent
    assert TRACEPARENT_ENV not in env(build())
