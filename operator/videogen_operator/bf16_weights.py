"""Store a downloaded snapshot's weights in bf16, once, in the download pod (no torch here).

The runner on a GPU casts every component but the ones the family keeps in float32 to bf16 after reading them
(``videogen_common.weights``). Real checkpoints ship float32 (Wan2.1 1.3B: 28 GB), so each job read twice the bytes
it used and cast them on the CPU. Here each float32 tensor the runner would cast is rewritten as bf16 with the
rounding torch uses (round to nearest even; NaN becomes 0x7FC0), so what a GPU loads is bit for bit what it loaded
before. Tensors a model class keeps in float32 (Wan's norms, time embedder, ...) stay float32, and so does any
component of a class whose float32 needs are unknown.

The safetensors format is an 8-byte little-endian header length, a JSON header (dtype, shape, data offsets per
tensor) and the raw little-endian data, so a file is rewritten tensor by tensor in chunks, to a temporary file that
then replaces it (a reader sees the old file or the new, never half of one). In huggingface_hub's cache the snapshot
file is a symlink to a blob named by the hub's hash of the original content: the converted file replaces the link,
and the blob goes once no snapshot links to it, so the volume holds the bf16 bytes only. Sharded components'
``*.safetensors.index.json`` get their ``total_size`` recomputed. :data:`~videogen_common.weights.RECORD_FILE` records
the conversion last, so a retried or repeated download skips a folder already converted.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, BinaryIO, Final

from videogen_common.families import model_pipeline
from videogen_common.weights import (
    KEEP_FLOAT32_TENSORS,
    RECORD_FILE,
    WeightsRecord,
    component_classes,
    gpu_component_dtypes,
    keeps_float32,
    read_record,
    safetensors_header,
)

# Bytes of float32 data converted at once (a multiple of 4); measured fastest here (about 400 MB/s on one core).
_CHUNK: Final = 2**20


@lru_cache(maxsize=4)
def _lanes(words: int) -> tuple[int, int, int, int, int]:
    """Per-word constants repeated over ``words`` 32-bit lanes of one big integer: 1, 0x7FFF, the magnitude mask,
    the NaN threshold's complement and the quiet NaN."""

    def repeated(word: int) -> int:
        return int.from_bytes(word.to_bytes(4, "little") * words, "little")

    return repeated(1), repeated(0x7FFF), repeated(0x7FFFFFFF), repeated(0x007FFFFF), repeated(0x7FC00000)


def float32_to_bf16(data: bytes) -> bytes:
    """Little-endian float32 values as bf16, rounded as torch rounds them (c10::BFloat16: add 0x7FFF plus the lowest
    kept bit, keep the top 16 bits), NaNs as the quiet NaN 0x7FC0.

    The operator image has no numpy (the api and operator images stay slim), so the chunk is one big integer with a
    float per 32-bit lane: Python's big-integer arithmetic does the per-lane adds in C. No lane carries into the next
    except a NaN with its sign set (0xFFFF8000 and up), so NaNs are replaced first; a chunk can only hold one where
    a high byte is 0x7F or 0xFF (magnitudes from 2**127 up), which checkpoints never hold, so that is checked first.
    """
    words = len(data) // 4
    one, round_bias, magnitude, nan_threshold, quiet_nan = _lanes(words)
    value = int.from_bytes(data, "little")
    high = data[3::4]
    if b"\x7f" in high or b"\xff" in high:
        # A lane is NaN when its magnitude is above 0x7F800000: adding 0x007FFFFF then sets its bit 31 (never carries).
        nan = (((value & magnitude) + nan_threshold) >> 31) & one
        if nan:
            lanes = nan * 0xFFFFFFFF
            value = (value & ~lanes) | (quiet_nan & lanes)
    rounded = (value + ((value >> 16) & one) + round_bias).to_bytes(4 * words, "little")
    # The top half of each lane, little-endian: bytes 2 and 3 of every 4.
    out = bytearray(2 * words)
    out[0::2] = rounded[2::4]
    out[1::2] = rounded[3::4]
    return bytes(out)


def _write_header(out: BinaryIO, header: dict[str, Any]) -> None:
    raw = json.dumps(header, separators=(",", ":")).encode()
    # safetensors pads the header with spaces so the data starts 8-byte aligned.
    raw += b" " * (-len(raw) % 8)
    out.write(len(raw).to_bytes(8, "little"))
    out.write(raw)


def _copy(src: BinaryIO, out: BinaryIO, size: int, convert: bool) -> None:
    left = size
    while left:
        chunk = src.read(min(_CHUNK, left))
        if not chunk:
            raise ValueError(f"the file ends {left} bytes before its header says")
        left -= len(chunk)
        out.write(float32_to_bf16(chunk) if convert else chunk)


def convert_file(path: Path, keep_float32: Callable[[str], bool]) -> bool:
    """Rewrite the float32 tensors of one safetensors file as bf16, except those ``keep_float32`` names; False when
    it has none to rewrite (the file is left as it is)."""
    header = safetensors_header(path)
    tensors = sorted(
        ((name, entry) for name, entry in header.items() if name != "__metadata__"),
        key=lambda item: int(item[1]["data_offsets"][0]),
    )
    converted = {name for name, entry in tensors if entry["dtype"] == "F32" and not keep_float32(name)}
    if not converted:
        return False
    new: dict[str, Any] = {"__metadata__": header["__metadata__"]} if "__metadata__" in header else {}
    offset = 0
    for name, entry in tensors:
        start, end = (int(x) for x in entry["data_offsets"])
        size = (end - start) // 2 if name in converted else end - start
        dtype = "BF16" if name in converted else entry["dtype"]
        new[name] = {"dtype": dtype, "shape": entry["shape"], "data_offsets": [offset, offset + size]}
        offset += size
    with path.open("rb") as src:
        data_start = 8 + int.from_bytes(src.read(8), "little")
        scratch = _temporary(path)
        try:
            with scratch.open("wb") as out:
                _write_header(out, new)
                for name, entry in tensors:
                    start, end = (int(x) for x in entry["data_offsets"])
                    src.seek(data_start + start)
                    _copy(src, out, end - start, name in converted)
                out.flush()
                os.fsync(out.fileno())
            # Readable by whoever could read the original (the runner's user; the local cache is world-writable).
            os.chmod(scratch, stat.S_IMODE(path.stat().st_mode))
            _replace(scratch, path)
        finally:
            scratch.unlink(missing_ok=True)
    return True


def _temporary(path: Path) -> Path:
    """A name beside ``path`` no other writer uses: two download pods of the same repo (two VideoModels) may convert
    the same snapshot at once, and process ids repeat across pods."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.partial")


def _replace(new: Path, path: Path) -> None:
    """``new`` takes ``path``'s place; when ``path`` was a link into the cache's blobs, the blob goes too unless
    another snapshot of the repo still links to it."""
    blob = path.resolve() if path.is_symlink() else None
    os.replace(new, path)
    if blob is None or blob.parent.name != "blobs":
        return
    snapshots = blob.parent.parent / "snapshots"
    linked = snapshots.is_dir() and any(p.is_symlink() and p.resolve() == blob for p in snapshots.rglob("*"))
    if not linked:
        blob.unlink(missing_ok=True)


def _data_bytes(path: Path) -> int:
    return sum(
        int(entry["data_offsets"][1]) - int(entry["data_offsets"][0])
        for name, entry in safetensors_header(path).items()
        if name != "__metadata__"
    )


def _update_index(index: Path) -> None:
    """A sharded component's index: ``metadata.total_size`` is the tensors' bytes, which the conversion halved."""
    doc = json.loads(index.read_text())
    shards = sorted(set(doc.get("weight_map", {}).values()))
    total = sum(_data_bytes(index.parent / shard) for shard in shards)
    if doc.get("metadata", {}).get("total_size") == total:
        return
    doc.setdefault("metadata", {})["total_size"] = total
    scratch = _temporary(index)
    try:
        scratch.write_text(json.dumps(doc, indent=2) + "\n")
        _replace(scratch, index)
    finally:
        scratch.unlink(missing_ok=True)


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def convert_snapshot(folder: Path) -> WeightsRecord | None:
    """Store the snapshot's weights in bf16 where the runner runs them in bf16 on a GPU; the record written, or
    None when nothing needed it (already bf16, float32 components only) or it was converted before."""
    # Not a pipeline folder: describe() says why; a folder converted before is left alone.
    if not (folder / "model_index.json").is_file() or read_record(folder) is not None:
        return None
    index = json.loads((folder / "model_index.json").read_text())
    family = model_pipeline(str(index.get("_class_name", ""))).family.name
    classes = component_classes(index)
    dtypes = gpu_component_dtypes(family, classes)
    before = _folder_bytes(folder)
    converted: list[str] = []
    files = 0
    for component, class_name in classes.items():
        if dtypes[component] == "float32" or class_name not in KEEP_FLOAT32_TENSORS:
            continue
        done = [
            convert_file(file, partial(keeps_float32, class_name))
            for file in sorted((folder / component).glob("*.safetensors"))
        ]
        if any(done):
            converted.append(component)
            files += sum(done)
            for sharded in (folder / component).glob("*.safetensors.index.json"):
                _update_index(sharded)
    if not converted:
        return None
    record = WeightsRecord(
        components=converted,
        unchanged=[c for c in classes if c not in converted],
        files=files,
        bytes_before=before,
        bytes_after=_folder_bytes(folder),
    )
    written = _temporary(folder / RECORD_FILE)
    written.write_text(record.to_json())
    os.replace(written, folder / RECORD_FILE)
    return record
