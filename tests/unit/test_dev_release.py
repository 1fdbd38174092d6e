"""videogen_dev.release: the values for the local node come from dev/local-values.yaml, with overrides merged in."""

from __future__ import annotations

import yaml

from videogen_dev import release


def test_overrides_merge_map_by_map_and_replace_everything_else() -> None:
    base = {"api": {"port": 8080, "tolerations": [{"key": "a"}]}, "models": [{"name": "x"}], "bindAddress": "0"}
    merged = release.merged(base, {"api": {"port": 1234, "tolerations": []}, "models": [], "queue": {"cap": 2}})
    assert merged == {"api": {"port": 1234, "tolerations": []}, "models": [], "bindAddress": "0", "queue": {"cap": 2}}
    assert base["api"] == {"port": 8080, "tolerations": [{"key": "a"}]}  # the base is not changed


def test_local_values_are_the_make_up_file_with_only_the_overrides_changed() -> None:
    file = yaml.safe_load(release.LOCAL_VALUES.read_text())
    values = release.local_values({"api": {"port": 40123}, "s3": {"endpoint": "http://127.0.0.1:1"}})
    assert values["api"] == {**file["api"], "port": 40123}
    assert values["s3"] == {**file["s3"], "endpoint": "http://127.0.0.1:1"}
    assert {k: v for k, v in values.items() if k not in ("api", "s3")} == {
        k: v for k, v in file.items() if k not in ("api", "s3")
    }
    # Nulls survive: they drop the chart's defaults (the local node runs the venv's python as root).
    assert values["podSecurityContext"]["runAsUser"] is None


def test_every_mode_defaults_to_the_fast_smoke_model_and_every_smoke_model_is_registered() -> None:
    values = release.local_values()
    assert set(values["defaultModels"].values()) == {"smoke-ltx"}
    assert {m["name"] for m in values["models"]} == {"smoke-wan-t2v", "smoke-wan-i2v", "smoke-ltx"}
