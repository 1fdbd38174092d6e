"""Settings the runner takes from its environment (the chart's Secret and the Job), never from the spec."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from videogen_common.runner_contract import TERMINATION_LOG_ENV
from videogen_common.s3 import S3Settings

__all__ = ["RunnerSettings", "S3Settings"]


class RunnerSettings(BaseSettings):
    """Process-level settings."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    #: Where the result (or a short error) is written for Kubernetes to show as the termination message.
    termination_log: str = Field(default="/dev/termination-log", alias=TERMINATION_LOG_ENV)
    #: x264 preset of the MP4 (CRF 18 either way): faster presets make larger files sooner. `veryfast` suits CPU-only
    #: nodes, where encoding takes a real share of the run.
    mp4_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = Field(default="medium", alias="VIDEOGEN_RUNNER_MP4_PRESET")
