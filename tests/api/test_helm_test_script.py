"""The chart's `helm test` script (helm/videogen/files/helm-test/submit_and_read.py) against the API with keys, as a
production install runs it: the key read from a key file in the API key Secret's format, a tiny job submitted, read
back and cancelled; and failures that say what is wrong. (tests/helm/test_chart_hardening.py runs it through
`helm test` on the installed release, where the local API has keys off.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.api.conftest import Operator, ServeApi
from videogen_dev.settings import REPO_ROOT

SCRIPT = REPO_ROOT / "helm" / "videogen" / "files" / "helm-test" / "submit_and_read.py"


def run_script(url: str, model: str, keys_file: Path | None) -> subprocess.CompletedProcess[str]:
    env = {"VIDEOGEN_TEST_API_URL": url, "VIDEOGEN_TEST_MODEL": model, "VIDEOGEN_TEST_WAIT_SECONDS": "0"}
    if keys_file is not None:
        env["VIDEOGEN_TEST_API_KEYS_FILE"] = str(keys_file)
    # As the chart runs it: python -c with the file's text.
    return subprocess.run(
        [sys.executable, "-c", SCRIPT.read_text()], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_helm_test_submits_with_the_secrets_first_key_reads_back_and_cancels(
    serve_api: ServeApi, operator: Operator, tmp_path: Path
) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text("\nk-tenant\nk-admin admin\n")
    api = serve_api(api_keys_file=keys_file)
    operator.create_model("ltx-video", "Lightricks/LTX-Video", state="Ready")
    result = run_script(api.url, "ltx-video", keys_file)
    assert result.returncode == 0, result.stderr
    (job_id,) = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("submitted ")]
    assert f"read back {job_id}: pending" in result.stdout and f"cancelled {job_id}" in result.stdout
    videojob = operator.videojob(job_id)
    assert videojob["spec"]["model"] == "ltx-video" and videojob["spec"]["cancel"] is True
    # Made with the tenant key (the file's first), so that key alone sees it.
    assert api.http.get(f"/api/v1/job/{job_id}", headers={"X-API-Key": "k-tenant"}).status_code == 200


def test_the_helm_test_fails_saying_what_is_wrong(serve_api: ServeApi, operator: Operator, tmp_path: Path) -> None:
    keys_file = tmp_path / "api-keys"
    keys_file.write_text("k-admin admin\n")
    api = serve_api(api_keys_file=keys_file)
    no_model = run_script(api.url, "", keys_file)
    assert no_model.returncode == 1 and "set helmTest.model or defaultModels.textToVideo" in no_model.stderr
    without_key = run_script(api.url, "ltx-video", None)
    assert without_key.returncode == 1 and "submit answered 401" in without_key.stderr
    not_ready = run_script(api.url, "ltx-video", keys_file)
    assert not_ready.returncode == 1 and "submit answered 400" in not_ready.stderr
    assert operator.videojobs() == []
