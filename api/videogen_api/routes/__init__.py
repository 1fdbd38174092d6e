"""One router per resource."""

from typing import Any

from videogen_api.schemas import ErrorResponse


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer, all with the ``{"error"}`` body."""
    descriptions = {
        400: "Invalid request: the message says which field and why",
        401: "Missing or wrong API key (only when API keys are configured)",
        404: "No such job or file",
        413: "Upload or body too large",
        415: "Wrong Content-Type or file type",
        416: "Range outside the file",
        429: "Too many concurrent jobs; retry after the Retry-After header's seconds",
        500: "Internal server error",
        503: "Model not loaded, or a dependency is unavailable",
    }
    return {code: {"model": ErrorResponse, "description": descriptions[code]} for code in codes}
