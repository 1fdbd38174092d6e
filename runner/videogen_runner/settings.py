"""Settings the runner takes from its environment (the chart's Secret and the Job), never from the spec."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from videogen_common.logs import LogFormat
from videogen_common.runner_contract import TERMINATION_LOG_ENV
from videogen_common.s3 import S3Settings
from videogen_runner.media import VideoLimits

__all__ = ["RunnerSettings", "S3Settings"]


class RunnerSettings(BaseSettings):
    """Process-level settings."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    #: json (one object per line, with the job id, VideoJob and request id) or plain.
    log_format: LogFormat = Field(default="json", alias="VIDEOGEN_RUNNER_LOG_FORMAT")
    #: Where the result (or a short error) is written for Kubernetes to show as the termination message.
    termination_log: str = Field(default="/dev/termination-log", alias=TERMINATION_LOG_ENV)
    #: x264 preset of the MP4 (CRF 18 either way): faster presets make larger files sooner. `veryfast` suits CPU-only
    #: nodes, where encoding takes a real share of the run.
    mp4_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = Field(default="medium", alias="VIDEOGEN_RUNNER_MP4_PRESET")
    #: Most frames an input video may have (a kubectl-made VideoJob is held to the API's upload limits here too).
    max_input_video_frames: int = Field(default=3600, ge=1, alias="VIDEOGEN_RUNNER_MAX_INPUT_VIDEO_FRAMES")
    #: Longest input video, in seconds.
    max_input_video_seconds: float = Field(default=120.0, gt=0, alias="VIDEOGEN_RUNNER_MAX_INPUT_VIDEO_SECONDS")
    #: Largest width or height of an input video.
    max_input_video_dimension: int = Field(default=4096, ge=1, alias="VIDEOGEN_RUNNER_MAX_INPUT_VIDEO_DIMENSION")

    def video_limits(self) -> VideoLimits:
        return VideoLimits(
            max_frames=self.max_input_video_frames,
            max_seconds=self.max_input_video_seconds,
            max_dimension=self.max_input_video_dimension,
        )
