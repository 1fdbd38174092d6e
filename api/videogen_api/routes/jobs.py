"""GET/DELETE /api/v1/job/{job_id} and GET /api/v1/jobs: VideoJobs read back as the reference's job view.

Reads come from the watch-fed cache (cache.py) and fall back to the apiserver where the cache cannot answer for
sure: before it has synced, on a miss (a job created a moment ago, here or on another replica, that the watch has
not delivered yet: never a false 404; or a finished job older than the cache's window) and for a job this replica
has changed since the cache's copy. Cancel decides on the apiserver's current object, not the cache's. A job whose
VideoJob is gone (deleted after its TTL) is read from its job record in S3 (job_records.py) while its output lives.

GET /api/v1/jobs lists from the cache: the open jobs and the newest finished ones it keeps (cache_finished_jobs),
newest first, a page at a time. It never reads or sorts the whole history; older jobs are read one by one.

With API keys, a key sees only the jobs it made (their ``videogen.dev/owner`` label, auth.py): another's job is a
404, exactly like one that does not exist. Admin keys see all.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from videogen_api.auth import Caller
from videogen_api.deps import ApiKeyRequired, CallerDep, Services, ServicesDep
from videogen_api.errors import bad_request, not_found
from videogen_api.job_records import read_job_record
from videogen_api.routes import error_responses
from videogen_api.schemas import JobListResponse, JobResponse
from videogen_api.videojobs import videojob_to_job
from videogen_common.names import is_job_id, is_videojob_name, job_id_to_videojob_name
from videogen_common.resources.meta import LABEL_OWNER
from videogen_common.resources.objects import VideoJob
from videogen_common.resources.videojob_status import State

router = APIRouter(prefix="/api/v1", tags=["jobs"], dependencies=[ApiKeyRequired])

_MAX_PAGE = 500


def _output_url(request: Request) -> Callable[[str], str]:
    return lambda filename: str(request.url_for("get_output", filename=filename))


def _videojob(services: Services, job_id: str, caller: Caller) -> VideoJob:
    """The VideoJob as the apiserver has it now, or as its job record shows it once it is gone, if the caller may
    see it."""
    # A malformed id cannot name a VideoJob: the same 404 as an unknown one, and no apiserver call.
    if not is_job_id(job_id):
        raise not_found(f"No job with id {job_id!r}")
    name = job_id_to_videojob_name(job_id)
    videojob = services.kube.get_videojob(name)
    if videojob is None:
        settings = services.settings
        videojob = read_job_record(services.storage, settings.outputs_prefix, settings.namespace, name)
    if videojob is None or not caller.may_see(videojob):
        raise not_found(f"No job with id {job_id!r}")
    return videojob


async def _cached_videojob(services: Services, job_id: str, caller: Caller) -> VideoJob:
    if is_job_id(job_id) and (videojob := services.job_cache.get(job_id_to_videojob_name(job_id))) is not None:
        if not caller.may_see(videojob):
            raise not_found(f"No job with id {job_id!r}")
        return videojob
    return await run_in_threadpool(_videojob, services, job_id, caller)


# The hot path (issue 5's benchmark). ``async def``: a cache hit is a dict lookup, cheaper than the threadpool hop
# a plain ``def`` route costs; only the apiserver fallback goes to the threadpool. One ``services`` dependency
# rather than kube + cache: FastAPI's dependency solving is most of this route's CPU.
@router.get("/job/{job_id}", response_model=JobResponse, responses=error_responses(401, 404, 500))
async def get_job(job_id: str, services: ServicesDep, caller: CallerDep, request: Request) -> JobResponse:
    """The job's status; output_path and output_url once it is completed."""
    videojob = await _cached_videojob(services, job_id, caller)
    return videojob_to_job(videojob, _output_url(request))


@router.delete(
    "/job/{job_id}", response_model=JobResponse, status_code=202, responses=error_responses(400, 401, 404, 500)
)
def cancel_job(
    job_id: str, services: ServicesDep, caller: CallerDep, request: Request, response: Response
) -> JobResponse:
    """Cancel the job: sets the VideoJob's spec.cancel, and the operator stops the run. The record stays."""
    videojob = _videojob(services, job_id, caller)
    state = videojob.status.current_state
    if state == State.CANCELLED or videojob.spec.cancel:
        response.status_code = 200
        return videojob_to_job(videojob, _output_url(request))
    if state.terminal:
        raise bad_request(f"job {job_id} is already {state}; there is nothing to cancel")
    patched = services.kube.cancel_videojob(videojob.name)
    if patched is None:
        raise not_found(f"No job with id {job_id!r}")
    # A GET on this replica must now show cancel_requested, even before the watch delivers the change.
    services.job_cache.note_write(patched)
    return videojob_to_job(patched, _output_url(request))


def _sort_key(videojob: VideoJob) -> tuple[str, str]:
    return (videojob.metadata.creation_timestamp or "", videojob.name)


def _encode_cursor(videojob: VideoJob) -> str:
    created, name = _sort_key(videojob)
    return base64.urlsafe_b64encode(f"{created}|{name}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created, name = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
    except (binascii.Error, UnicodeError, ValueError):
        raise bad_request("cursor is not one this API returned; use next_cursor from the previous page") from None
    return created, name


@router.get("/jobs", response_model=JobListResponse, responses=error_responses(400, 401, 500))
async def list_jobs(
    services: ServicesDep,
    caller: CallerDep,
    request: Request,
    status: Annotated[State | None, Query(description="Only jobs in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=_MAX_PAGE, description="Jobs per page.")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")] = None,
) -> JobListResponse:
    """Jobs, newest first: the open ones and the newest finished ones (up to cache_finished_jobs); older ones are
    read by id. The cursor is the position (creation time, name) after the last job shown."""
    # From the cache once synced: as fresh as the watch (milliseconds behind), not read-your-writes like GET job.
    # Bounded either way: the cache holds open jobs plus its window; unsynced (start-up, readiness says so) the
    # apiserver's open jobs only.
    cached = services.job_cache.snapshot()
    if cached is not None:
        listed = cached
    else:
        selector = None if caller.admin else f"{LABEL_OWNER}={caller.owner}"
        listed = await run_in_threadpool(services.kube.list_open_videojobs, selector)
    videojobs = [vj for vj in listed if is_videojob_name(vj.name) and caller.may_see(vj)]
    if status is not None:
        videojobs = [vj for vj in videojobs if vj.status.current_state == status]
    videojobs.sort(key=_sort_key, reverse=True)
    if cursor is not None:
        after = _decode_cursor(cursor)
        videojobs = [vj for vj in videojobs if _sort_key(vj) < after]
    page = videojobs[:limit]
    next_cursor = _encode_cursor(page[-1]) if len(videojobs) > limit else None
    output_url = _output_url(request)
    return JobListResponse(jobs=[videojob_to_job(vj, output_url) for vj in page], next_cursor=next_cursor)
