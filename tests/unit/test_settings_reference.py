"""The README's settings tables are the settings classes, rendered: a new or changed setting must show up there."""

from videogen_dev import settings_reference


def test_every_setting_has_a_description() -> None:
    assert settings_reference.undocumented() == [], "add a `#:` comment above each of these fields"


def test_readme_settings_tables_match_the_settings_classes() -> None:
    readme = settings_reference.README.read_text()
    assert settings_reference.readme_block(readme) == settings_reference.render(), (
        "README.md's settings tables are stale: run `.venv/bin/videogen-dev settings-reference --write`"
    )


def test_rendering_shows_env_names_defaults_bounds_and_descriptions() -> None:
    table = settings_reference.render()
    # The prefix comes from the class's env_prefix, the bound from Field(ge=...), the text from the comment.
    assert "| `VIDEOGEN_API_MAX_CONCURRENT_JOBS` | `2` | Active (pending + processing) VideoJobs allowed" in table
    assert "(>= 1) |" in table
    assert "| `VIDEOGEN_S3_FORCE_PATH_STYLE` | `true` |" in table
    assert "| `VIDEOGEN_OPERATOR_MAX_RUNNING_JOBS` | `2` |" in table
    # Machine paths are shown relative to the checkout / home, so the README is the same on every machine.
    assert "`<checkout>/.dev`" in table and "`~/.cache/videogen`" in table
