"""GET /ui: the web page (plain HTML, JS and CSS in videogen_api/ui/, no build step), and each job's poster.

The page itself is public, like /docs: it holds no data, and everything it shows it reads through the REST routes
with the API key the user enters. Only the files listed here are served, so no path reaches the filesystem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from videogen_api.deps import ApiKeyRequired, CallerDep, ServicesDep
from videogen_api.errors import not_found
from videogen_api.routes import error_responses
from videogen_api.routes.jobs import _cached_videojob

_UI_DIR: Final = Path(__file__).resolve().parent.parent / "ui"
_FILES: Final = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}

router = APIRouter(tags=["ui"])
posters = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ApiKeyRequired])


@router.get("/ui", include_in_schema=False)
def ui_root() -> RedirectResponse:
    # Relative links in the page (app.js, style.css) resolve under /ui/.
    return RedirectResponse("/ui/", status_code=308)


@router.get("/ui/", include_in_schema=False)
def ui_index() -> FileResponse:
    return _file("index.html")


@router.get("/ui/{name}", include_in_schema=False)
def ui_file(name: str) -> FileResponse:
    if name not in _FILES:
        raise not_found(f"No page file {name!r}")
    return _file(name)


def _file(name: str) -> FileResponse:
    # no-cache: revalidated each load, so a new API version's page is never mixed with an old script.
    return FileResponse(_UI_DIR / name, media_type=_FILES[name], headers={"Cache-Control": "no-cache"})


@posters.get(
    "/job/{job_id}/poster",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **error_responses(401, 404, 500, 503)},
)
async def job_poster(job_id: str, services: ServicesDep, caller: CallerDep) -> StreamingResponse:
    """The first frame of a completed job's video, as JPEG (the runner writes it beside the MP4)."""
    videojob = await _cached_videojob(services, job_id, caller)
    output = videojob.status.output
    poster_uri = output.poster_uri if output is not None else None
    prefix = f"s3://{services.storage.bucket}/"
    # Only a poster in the API's own bucket: a VideoJob's status must not make the API read any object it names.
    if poster_uri is None or not poster_uri.startswith(prefix):
        raise not_found(f"Job {job_id} has no poster")
    key = poster_uri.removeprefix(prefix)
    head = await run_in_threadpool(services.storage.head, key)
    if head is None or head.size == 0:
        raise not_found(f"Job {job_id} has no poster")
    return StreamingResponse(
        services.storage.stream(key, 0, head.size - 1),
        media_type="image/jpeg",
        headers={"Content-Length": str(head.size), "Cache-Control": "private, max-age=3600"},
    )
