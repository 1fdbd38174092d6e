"""``videogen``: generate videos, follow jobs and manage models from a terminal, through the REST API.

Every command exits 0 on success and 1 with the server's own error message otherwise (a failed or cancelled job
too, when waited for); 2 is a usage mistake. The server and key come from --url/--api-key or VIDEOGEN_URL and
VIDEOGEN_API_KEY.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from videogen_client.api import ApiError, Client

MODES = ("text-to-video", "image-to-video", "video-to-video")
# Messages and the progress bar go to stderr, so stdout carries only what a script may read (ids, JSON).
err = Console(stderr=True)
out = Console()


def _client(ctx: click.Context) -> Client:
    client: Client = ctx.obj
    return client


@click.group()
@click.option("--url", envvar="VIDEOGEN_URL", default="http://127.0.0.1:8080", show_default=True, help="API URL.")
@click.option("--api-key", envvar="VIDEOGEN_API_KEY", default=None, help="API key (when the server requires one).")
@click.pass_context
def cli(ctx: click.Context, /, url: str, api_key: str | None) -> None:
    """Video generation on Kubernetes: the videogen REST API from the command line."""
    ctx.obj = Client(url, api_key)
    ctx.call_on_close(ctx.obj.close)


@cli.command()
@click.argument("mode", type=click.Choice(MODES))
@click.option("--prompt", help="What the video shows (required for text-to-video).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Input image.")
@click.option("--video", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Input video.")
@click.option("--negative-prompt", help="What to avoid.")
@click.option("--num-frames", type=int)
@click.option("--width", type=int)
@click.option("--height", type=int)
@click.option("--fps", type=int)
@click.option("--seed", type=int)
@click.option("--guidance-scale", type=float)
@click.option("--num-inference-steps", type=int)
@click.option("--strength", type=float, help="video-to-video: how much of the input to change (0-1).")
@click.option("--model", help="VideoModel name or Hugging Face repo id (default: the server's for the mode).")
@click.option("--wait", is_flag=True, help="Follow the job with a progress bar until it ends.")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Save the MP4 here (implies --wait)."
)
@click.pass_context
def generate(
    ctx: click.Context,
    /,
    mode: str,
    image: Path | None,
    video: Path | None,
    wait: bool,
    output: Path | None,
    **fields: Any,
) -> None:
    """Start a generation; with --wait (or -o) follow it and download the MP4."""
    upload = _upload(mode, image, video)
    body = {name: value for name, value in fields.items() if value is not None}
    client = _client(ctx)
    created = client.generate(mode, body, upload)
    job_id = str(created["job_id"])
    err.print(f"job {job_id}: {created['status']} ({created['message']})")
    if not (wait or output):
        out.print(job_id, highlight=False)
        return
    job = _follow(client, job_id)
    if job["status"] != "completed":
        raise click.ClickException(f"job {job_id} {job['status']}: {job['message']}")
    target = output or Path(str(job["output_path"]).rsplit("/", 1)[-1])
    size = client.download(job["output_url"] or f"/outputs/{target.name}", target)
    err.print(f"saved {target} ({size} bytes)")
    out.print(job_id, highlight=False)


def _upload(mode: str, image: Path | None, video: Path | None) -> tuple[str, Path] | None:
    wanted = {"text-to-video": None, "image-to-video": "image", "video-to-video": "video"}[mode]
    given = {"image": image, "video": video}
    for part, path in given.items():
        if path is not None and part != wanted:
            raise click.UsageError(f"--{part} does not go with {mode}")
    if wanted is None:
        return None
    path = given[wanted]
    if path is None:
        raise click.UsageError(f"{mode} needs --{wanted} FILE")
    return wanted, path


def _follow(client: Client, job_id: str) -> dict[str, Any]:
    """The job once final, with a progress bar (on stderr) that follows its steps."""
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False) as bar:
        task = bar.add_task("pending", total=100)

        def show(job: dict[str, Any]) -> None:
            progress = job.get("progress") or {}
            percent = 100 if job["status"] == "completed" else progress.get("percent", 0)
            step = f" step {progress['step']}/{progress['total_steps']}" if progress.get("total_steps") else ""
            bar.update(task, completed=percent, description=f"{job['status']}{step}")

        return client.follow(job_id, show)


@cli.command()
@click.option("--status", type=click.Choice(["pending", "processing", "completed", "failed", "cancelled"]))
@click.option("--limit", type=int, default=50, show_default=True)
@click.pass_context
def jobs(ctx: click.Context, /, status: str | None, limit: int) -> None:
    """Jobs, newest first."""
    params: dict[str, Any] = {"limit": limit} | ({"status": status} if status else {})
    listed = _client(ctx).request("GET", "/api/v1/jobs", params=params)["jobs"]
    table = Table("job", "status", "progress", "mode", "model", "created", "output")
    for job in listed:
        progress = job.get("progress") or {}
        table.add_row(
            job["job_id"], job["status"], f"{progress.get('percent', 0)} %", job["mode"], job.get("model") or "",
            job["created_at"], job.get("output_path") or "",
        )  # fmt: skip
    out.print(table)


@cli.command()
@click.argument("job_id")
@click.option("--wait", is_flag=True, help="Follow it with a progress bar until it ends.")
@click.pass_context
def job(ctx: click.Context, /, job_id: str, wait: bool) -> None:
    """One job, as JSON."""
    client = _client(ctx)
    shown = _follow(client, job_id) if wait else client.job(job_id)
    out.print_json(json.dumps(shown))
    if wait and shown["status"] != "completed":
        raise click.ClickException(f"job {job_id} {shown['status']}: {shown['message']}")


@cli.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, /, job_id: str) -> None:
    """Cancel a job (the record stays, as cancelled)."""
    shown = _client(ctx).request("DELETE", f"/api/v1/job/{job_id}")
    err.print(f"job {job_id}: {shown['status']}{' (cancel requested)' if shown.get('cancel_requested') else ''}")


@cli.command()
@click.pass_context
def models(ctx: click.Context, /) -> None:
    """Models the server knows, and whether they are downloaded."""
    table = Table("id", "name", "state", "downloaded")
    for model in _client(ctx).request("GET", "/api/v1/models")["models"]:
        table.add_row(model["id"], model["name"], model.get("state") or "", "yes" if model["downloaded"] else "no")
    out.print(table)


@cli.command()
@click.argument("model_id")
@click.pass_context
def download(ctx: click.Context, /, model_id: str) -> None:
    """Start downloading a model (a Hugging Face repo id) into the cluster's model cache."""
    answer = _client(ctx).request("POST", "/api/v1/models/download", json={"model_id": model_id})
    err.print(f"{answer['model_id']}: {answer['message']}")


def main() -> None:
    try:
        cli(standalone_mode=False)
    except ApiError as exc:
        err.print(f"error: {exc.message}", style="red", highlight=False)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        err.print("aborted")
        sys.exit(130)
    except httpx.HTTPError as exc:
        err.print(f"error: cannot reach the server: {exc}", style="red", highlight=False)
        sys.exit(1)
