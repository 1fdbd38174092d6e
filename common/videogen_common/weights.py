"""Weights on disk: which components of a pipeline run in bfloat16 on a GPU and which stay float32, which tensors a
model class keeps in float32 even then, and the record a download leaves when it stored a model's weights in bf16.

One place for these decisions: the runner's plan takes its GPU component dtypes from here, and the download pod
(operator image, no torch) rewrites, once, the float32 tensors the runner would cast to bf16 anyway, so a GPU node
reads half the bytes and casts nothing on its CPU. No torch, no numpy: the safetensors headers are JSON.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from videogen_common.families import FamilyName
from videogen_common.resources.schema import WireModel

__all__ = [
    "KEEP_FLOAT32_TENSORS",
    "RECORD_FILE",
    "WeightsRecord",
    "component_classes",
    "disk_dtypes",
    "gpu_component_dtypes",
    "keeps_float32",
    "read_record",
    "safetensors_header",
    "weight_components",
]

#: The dtype components run in on a GPU unless they must stay float32.
GPU_DTYPE: Final = "bfloat16"
# diffusers' own Wan examples load the VAE and the CLIP image encoder in float32 (the causal VAE's colours and the
# image conditioning degrade in bf16); everything else, and all of LTX-Video, runs in bf16.
_FLOAT32_COMPONENTS: Final[Mapping[FamilyName, frozenset[str]]] = {
    FamilyName.WAN: frozenset({"vae", "image_encoder"}),
    FamilyName.LTX: frozenset(),
}

#: Per model class (``model_index.json``'s second entry), the parameter-name parts whose tensors the class keeps in
#: float32 when loaded in bf16: diffusers' ``_keep_in_fp32_modules`` (a parameter whose dotted name has one of these
#: parts) and transformers' ``_keep_in_fp32_modules_strict`` (T5's ``wo`` is kept only for float16, not for bf16).
#: A class not listed here is never converted: its float32 needs are unknown. ``tests/runner/test_fast_load.py``
#: checks this table against the installed diffusers and transformers.
KEEP_FLOAT32_TENSORS: Final[Mapping[str, frozenset[str]]] = {
    "WanTransformer3DModel": frozenset({"rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3"}),
    "LTXVideoTransformer3DModel": frozenset(),
    "UMT5EncoderModel": frozenset(),
    "T5EncoderModel": frozenset(),
}

#: The record a download leaves in a snapshot folder whose weights it stored in bf16.
RECORD_FILE: Final = "videogen-weights.json"

# safetensors dtype names -> torch's, and their sizes.
_DTYPE_NAMES: Final = {"F32": "float32", "BF16": "bfloat16", "F16": "float16", "F64": "float64"}
_ITEM_BYTES: Final = {"F32": 4, "BF16": 2, "F16": 2, "F64": 8}


class WeightsRecord(WireModel):
    """What the download did to a snapshot's weights (``videogen-weights.json`` in the snapshot folder)."""

    #: The dtype the converted tensors are stored in.
    converted_to: str = GPU_DTYPE
    #: Components whose float32 tensors were rewritten (tensors their class keeps in float32 stayed float32).
    components: list[str]
    #: Components left as they were: they run in float32, or their class is not in KEEP_FLOAT32_TENSORS.
    unchanged: list[str]
    files: int
    bytes_before: int
    bytes_after: int


def weight_components(model_index: Mapping[str, Any]) -> list[str]:
    """The components of a ``model_index.json`` that hold weights (tokenizers, schedulers and processors do not);
    ``[null, null]`` marks one the checkpoint leaves out."""
    return [
        name
        for name, value in model_index.items()
        if not name.startswith("_")
        and isinstance(value, list)
        and value
        and value[0]
        and not name.startswith(("tokenizer", "scheduler"))
        and "processor" not in name
    ]


def component_classes(model_index: Mapping[str, Any]) -> dict[str, str]:
    """Each weight component's model class (``"transformer": ["diffusers", "WanTransformer3DModel"]``)."""
    return {name: str(model_index[name][-1]) for name in weight_components(model_index)}


def gpu_component_dtypes(family: FamilyName, components: Iterable[str]) -> dict[str, str]:
    """The dtype each component runs in on a GPU: bf16, except those the family keeps in float32."""
    keep = _FLOAT32_COMPONENTS[family]
    return {c: ("float32" if c in keep else GPU_DTYPE) for c in components}


def keeps_float32(class_name: str, tensor_name: str) -> bool:
    """Whether ``class_name`` keeps this tensor in float32 when loaded in bf16 (diffusers' rule: one of the dotted
    name's parts is a kept module's name)."""
    kept = KEEP_FLOAT32_TENSORS.get(class_name, frozenset())
    return any(part in kept for part in tensor_name.split("."))


def safetensors_header(path: Path) -> dict[str, Any]:
    """A safetensors file's JSON header (8 bytes little-endian length, then the JSON): tensor name -> dtype, shape,
    data offsets; ValueError when the file is not safetensors."""
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise ValueError(f"{path} is not a safetensors file (shorter than its header length)")
        (length,) = struct.unpack("<Q", prefix)
        raw = f.read(length) if length <= 100 * 2**20 else b""
    try:
        header = json.loads(raw)
    except ValueError as err:
        raise ValueError(f"{path} is not a safetensors file (its header is not JSON)") from err
    if not isinstance(header, dict):
        raise ValueError(f"{path} is not a safetensors file (its header is not an object)")
    return header


def disk_dtypes(folder: Path, components: Iterable[str]) -> dict[str, str]:
    """Per component, the dtype most of its parameters are stored in (from the headers; none read), e.g. a Wan
    transformer converted at download is ``bfloat16`` though its norms stay float32."""
    found: dict[str, str] = {}
    for component in components:
        counts: dict[str, int] = {}
        for file in sorted((folder / component).glob("*.safetensors")):
            for name, entry in safetensors_header(file).items():
                if name == "__metadata__":
                    continue
                dtype = _DTYPE_NAMES.get(entry["dtype"], entry["dtype"].lower())
                size = entry["data_offsets"][1] - entry["data_offsets"][0]
                counts[dtype] = counts.get(dtype, 0) + size // _ITEM_BYTES.get(entry["dtype"], 1)
        if counts:
            found[component] = max(counts, key=lambda d: counts[d])
    return found


def read_record(folder: Path) -> WeightsRecord | None:
    """The conversion record of a snapshot folder, or None when its weights are as the hub has them."""
    try:
        return WeightsRecord.model_validate_json((folder / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return None
