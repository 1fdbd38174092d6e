"""The download pod stores float32 weights in bf16 (``videogen_operator.bf16_weights``), with safetensors files made
by hand: which tensors and components change, sharded indexes, huggingface_hub's blobs, the record, atomicity.
Bit-for-bit agreement with torch and the runner's load are in ``tests/runner/test_fast_load.py``."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from videogen_common.weights import RECORD_FILE, disk_dtypes, read_record, safetensors_header
from videogen_operator.bf16_weights import convert_file, convert_snapshot

# Values bf16 holds exactly, so their bf16 bits are the top half of their float32 bits.
VALUES = (1.0, -2.5, 0.15625, 3.0)
WAN_INDEX = {
    "_class_name": "WanPipeline",
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "vae": ["diffusers", "AutoencoderKLWan"],
    "tokenizer": ["transformers", "T5TokenizerFast"],
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
}


def write_safetensors(
    path: Path, tensors: dict[str, tuple[str, bytes]], metadata: dict[str, str] | None = None
) -> None:
    header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset, data = 0, b""
    for name, (dtype, raw) in tensors.items():
        size = 4 if dtype == "F32" else 2
        header[name] = {"dtype": dtype, "shape": [len(raw) // size], "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def bf16(*values: float) -> bytes:
    return b"".join(struct.pack("<f", v)[2:] for v in values)


def tensor_bytes(path: Path, name: str) -> tuple[str, bytes]:
    header = safetensors_header(path)
    start, end = header[name]["data_offsets"]
    raw = path.read_bytes()
    base = 8 + int.from_bytes(raw[:8], "little")
    return header[name]["dtype"], raw[base + start : base + end]


def test_float32_tensors_become_bf16_except_those_the_class_keeps(tmp_path: Path) -> None:
    file = tmp_path / "model.safetensors"
    write_safetensors(
        file,
        {
            "blocks.0.attn1.to_q.weight": ("F32", f32(*VALUES)),
            "blocks.0.norm2.weight": ("F32", f32(*VALUES)),
            "blocks.0.ffn.net.0.proj.weight": ("BF16", bf16(*VALUES)),
        },
        metadata={"format": "pt"},
    )
    assert convert_file(file, lambda name: "norm2" in name.split("."))

    assert tensor_bytes(file, "blocks.0.attn1.to_q.weight") == ("BF16", bf16(*VALUES))
    assert tensor_bytes(file, "blocks.0.norm2.weight") == ("F32", f32(*VALUES))
    assert tensor_bytes(file, "blocks.0.ffn.net.0.proj.weight") == ("BF16", bf16(*VALUES))
    assert safetensors_header(file)["__metadata__"] == {"format": "pt"}
    # The data starts 8-byte aligned, as safetensors writes it.
    assert int.from_bytes(file.read_bytes()[:8], "little") % 8 == 0
    # Nothing left to convert: the file is not rewritten.
    converted = file.read_bytes()
    assert convert_file(file, lambda name: "norm2" in name.split(".")) is False
    assert file.read_bytes() == converted


def snapshot_in_hub_cache(cache: Path, commit: str, files: dict[str, bytes]) -> Path:
    """A snapshot as huggingface_hub lays it out: files are relative links into ``blobs/``."""
    repo = cache / "models--org--wan"
    snapshot = repo / "snapshots" / commit
    for relative, content in files.items():
        blob = repo / "blobs" / f"blob-{abs(hash(content))}"
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / relative
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


def safetensors_bytes(tmp_path: Path, tensors: dict[str, tuple[str, bytes]]) -> bytes:
    scratch = tmp_path / "scratch.safetensors"
    write_safetensors(scratch, tensors)
    return scratch.read_bytes()


def test_a_sharded_wan_snapshot_is_stored_in_bf16_once(tmp_path: Path) -> None:
    shard = {f"blocks.{i}.attn1.to_q.weight": ("F32", f32(*VALUES)) for i in range(2)}
    vae = safetensors_bytes(tmp_path, {"decoder.conv_in.weight": ("F32", f32(*VALUES))})
    index = {
        "metadata": {"total_size": 32},
        "weight_map": {
            "blocks.0.attn1.to_q.weight": "s-1.safetensors",
            "blocks.1.attn1.to_q.weight": "s-2.safetensors",
        },
    }
    files = {
        "model_index.json": json.dumps(WAN_INDEX).encode(),
        "transformer/s-1.safetensors": safetensors_bytes(tmp_path, dict(list(shard.items())[:1])),
        "transformer/s-2.safetensors": safetensors_bytes(tmp_path, dict(list(shard.items())[1:])),
        "transformer/diffusion_pytorch_model.safetensors.index.json": json.dumps(index).encode(),
        "text_encoder/model.safetensors": safetensors_bytes(tmp_path, {"shared.weight": ("F32", f32(*VALUES))}),
        "vae/diffusion_pytorch_model.safetensors": vae,
    }
    cache = tmp_path / "hub"
    snapshot = snapshot_in_hub_cache(cache, "a" * 40, files)
    # Another revision shares the text encoder's blob: it must stay for that snapshot.
    other = cache / "models--org--wan" / "snapshots" / ("b" * 40) / "text_encoder" / "model.safetensors"
    shared = (snapshot / "text_encoder" / "model.safetensors").resolve()
    # A mode other than the default: the converted file keeps the original's.
    shared.chmod(0o640)
    other.parent.mkdir(parents=True)
    other.symlink_to(os.path.relpath(shared, other.parent))
    blobs_before = set((cache / "models--org--wan" / "blobs").iterdir())

    record = convert_snapshot(snapshot)

    assert record is not None
    assert (record.components, record.unchanged, record.files) == (["transformer", "text_encoder"], ["vae"], 3)
    assert read_record(snapshot) == record and (snapshot / RECORD_FILE).is_file()
    assert disk_dtypes(snapshot, ["transformer", "text_encoder", "vae"]) == {
        "transformer": "bfloat16",
        "text_encoder": "bfloat16",
        "vae": "float32",
    }
    # The index's total_size is the tensors' bytes now: two tensors of four bf16 values.
    written = json.loads((snapshot / "transformer" / "diffusion_pytorch_model.safetensors.index.json").read_text())
    assert written["metadata"]["total_size"] == 16 and written["weight_map"] == index["weight_map"]
    # Converted files replaced their links; the blobs nothing links to any more are gone, the shared one stays.
    blobs_after = set((cache / "models--org--wan" / "blobs").iterdir())
    assert len(blobs_before - blobs_after) == 3  # two shards and the index
    assert other.resolve() == shared and shared in blobs_after
    assert not (snapshot / "text_encoder" / "model.safetensors").is_symlink()
    assert (snapshot / "text_encoder" / "model.safetensors").stat().st_mode & 0o777 == shared.stat().st_mode & 0o777
    assert (snapshot / "vae" / "diffusion_pytorch_model.safetensors").is_symlink()
    assert (snapshot / "vae" / "diffusion_pytorch_model.safetensors").read_bytes() == vae
    assert record.bytes_after < record.bytes_before
    assert not [p for p in snapshot.rglob("*partial*")]

    # A repeated or retried download finds the record: nothing is converted twice.
    assert convert_snapshot(snapshot) is None


def test_components_of_unknown_classes_and_bf16_repos_are_left_as_they_are(tmp_path: Path) -> None:
    index = {**WAN_INDEX, "transformer": ["diffusers", "SomeFutureTransformer"], "text_encoder": None}
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    original = safetensors_bytes(tmp_path, {"w": ("F32", f32(*VALUES))})
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(original)

    assert convert_snapshot(tmp_path) is None
    assert (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").read_bytes() == original
    assert not (tmp_path / RECORD_FILE).exists()


def test_a_weight_file_that_is_not_safetensors_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps(WAN_INDEX))
    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 1000)
    with pytest.raises(ValueError, match="not a safetensors file"):
        convert_snapshot(tmp_path)


def test_a_folder_without_model_index_is_left_to_describe(tmp_path: Path) -> None:
    # describe() refuses it for good (InvalidModel); the conversion must not turn that into a retried failure.
    assert convert_snapshot(tmp_path) is None
