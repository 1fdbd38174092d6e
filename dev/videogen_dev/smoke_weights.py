"""Tiny random-weight pipelines in the real diffusers format, built in code with no download.

Each smoke model keeps its family's real compression (Wan: 8x spatial and 4x temporal VAE, 2x2 patches; LTX: 32x
spatial and 8x temporal VAE, 1x1 patches), so the runner's frame/size rules, the pipelines' own checks and the
latent shapes are those of the real models; only widths and depths shrink. Tests, ``make up`` and examples load
them through the same code as real models. A development tool (``videogen-dev make-smoke-model``), not part of
the runner image; it needs the runner extra (torch, diffusers, transformers).
"""

from __future__ import annotations

import importlib
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import torch

#: Folder name of each smoke model under the output folder.
WAN_T2V: Final = "tiny-wan-t2v"
WAN_I2V: Final = "tiny-wan-i2v"
LTX: Final = "tiny-ltx"

_TEXT_DIM: Final = 32


def _diffusers() -> Any:
    # diffusers' model constructors are wrapped by register_to_config and carry no types; Any says so once.
    return importlib.import_module("diffusers")


def build_tokenizer() -> Any:
    """A T5-style Unigram tokenizer with a few hundred pieces, so `from_pretrained` works offline afterwards."""
    from transformers import T5Tokenizer

    # Scores only rank the pieces; longer pieces score higher so common words stay whole.
    words = [
        "the",
        "a",
        "of",
        "in",
        "on",
        "and",
        "with",
        "cat",
        "dog",
        "sea",
        "sun",
        "sky",
        "ball",
        "play",
        "run",
        "over",
        "blue",
        "red",
        "beautiful",
        "sunset",
        "ocean",
        "video",
        "blurry",
        "low",
        "quality",
    ]
    pieces: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [("\u2581" + w, -5.0 + len(w) * 0.1) for w in words]
    pieces += [("\u2581", -8.0)]
    pieces += [(c, -10.0) for c in string.ascii_letters + string.digits + string.punctuation]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def _t5_config(vocab_size: int) -> dict[str, Any]:
    return {
        "vocab_size": vocab_size,
        "d_model": _TEXT_DIM,
        "d_kv": 8,
        "d_ff": 64,
        "num_layers": 2,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 32,
        "feed_forward_proj": "gated-gelu",
        "pad_token_id": 0,
        "eos_token_id": 1,
        "decoder_start_token_id": 0,
    }


def _wan_components(image_to_video: bool) -> dict[str, Any]:
    d = _diffusers()
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = build_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(**_t5_config(len(tokenizer))))
    heads, head_dim = 2, 12
    transformer = d.WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        # I2V concatenates the first-frame latents and a mask to the noise: 16 + 16 + 4 channels.
        in_channels=36 if image_to_video else 16,
        out_channels=16,
        text_dim=_TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        # One block keeps the 512x512x65 reference-default run affordable on a laptop CPU.
        num_layers=1,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        image_dim=8 if image_to_video else None,
        added_kv_proj_dim=heads * head_dim if image_to_video else None,
        rope_max_seq_len=1024,
    )
    vae = d.AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    # Wan2.1's own scheduler settings (flow matching through UniPC).
    scheduler = d.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    components: dict[str, Any] = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "transformer": transformer,
        "vae": vae,
        "scheduler": scheduler,
    }
    if image_to_video:
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        # Wan2.1 I2V reads the penultimate hidden states of a CLIP vision tower (ViT-H/14 in the real model).
        components["image_encoder"] = CLIPVisionModel(
            CLIPVisionConfig(
                hidden_size=8,
                num_hidden_layers=2,
                num_attention_heads=2,
                intermediate_size=16,
                image_size=32,
                patch_size=4,
            )
        )
        components["image_processor"] = CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        )
    return components


def _ltx_components() -> dict[str, Any]:
    d = _diffusers()
    from transformers import T5Config, T5EncoderModel

    tokenizer = build_tokenizer()
    text_encoder = T5EncoderModel(T5Config(**_t5_config(len(tokenizer))))
    transformer = d.LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=_TEXT_DIM,
    )
    # patch_size 4 with three down/up-scaling levels: 4 * 2**3 = 32x spatial and 2**3 = 8x temporal, as in LTX.
    vae = d.AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=4,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    # LTX-Video's scheduler settings (resolution-dependent shift).
    scheduler = d.FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )
    return {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "transformer": transformer,
        "vae": vae,
        "scheduler": scheduler,
    }


def _build_wan_t2v() -> Any:
    return _diffusers().WanPipeline(**_wan_components(image_to_video=False))


def _build_wan_i2v() -> Any:
    return _diffusers().WanImageToVideoPipeline(**_wan_components(image_to_video=True))


def _build_ltx() -> Any:
    return _diffusers().LTXPipeline(**_ltx_components())


BUILDERS: Final[dict[str, Callable[[], Any]]] = {
    WAN_T2V: _build_wan_t2v,
    WAN_I2V: _build_wan_i2v,
    LTX: _build_ltx,
}


def make_smoke_models(out_dir: Path, names: list[str] | None = None, seed: int = 0) -> list[Path]:
    """Write the named smoke models (all by default) under ``out_dir``; the same seed gives the same weights."""
    written = []
    for name in names or list(BUILDERS):
        if name not in BUILDERS:
            raise ValueError(f"unknown smoke model {name!r}; known: {', '.join(BUILDERS)}")
        torch.manual_seed(seed)
        pipe = BUILDERS[name]()
        target = out_dir / name
        pipe.save_pretrained(target, safe_serialization=True)
        written.append(target)
    return written
