"""FP8 linear layers on the transformer (``spec.speed`` balanced or fast, on GPUs with FP8 tensor cores), as the plan
decided them (:func:`videogen_runner.plan.choose_fp8`): torchao's float8 dynamic activation + weight quantization.

Weights are quantized to float8 e4m3 once, one scale per output row; each activation is quantized as it comes, one
scale per token row, and the matmul runs on ``torch._scaled_mm`` with a bf16 result. Per-row scales keep far more of
the outliers of video transformers' activations than one scale per tensor, at the same speed.
"""

from __future__ import annotations

import logging
from typing import Final

from torch import nn

from videogen_runner.errors import RunnerError

log = logging.getLogger(__name__)

#: Float8 matmuls (``torch._scaled_mm``) need both dimensions of a weight to be multiples of 16; torchao leaves the
#: other layers in bf16 without a word, so they are filtered out here, where they can be counted.
FP8_DIM_MULTIPLE: Final = 16


def fp8_layer_names(transformer: nn.Module) -> list[str]:
    """The Linear layers that run in FP8: those inside the transformer's repeated blocks (diffusers'
    ``_repeated_blocks``, the blocks regional compile compiles) whose in and out features are multiples of 16.

    The embedders (patch, timestep, text, image) and the final output projection stay bf16, as diffusers' and
    torchao's recipes for diffusion transformers leave them: they are a tiny share of the FLOPs, and the most
    sensitive to precision (the timestep embedding modulates every block; the last projection is the prediction).
    """
    block_classes = set(getattr(transformer, "_repeated_blocks", None) or ())
    names = []
    for block_name, block in transformer.named_modules():
        if type(block).__name__ not in block_classes:
            continue
        for name, module in block.named_modules():
            if (
                isinstance(module, nn.Linear)
                and module.in_features % FP8_DIM_MULTIPLE == 0
                and module.out_features % FP8_DIM_MULTIPLE == 0
            ):
                names.append(f"{block_name}.{name}")
    return names


def apply_fp8(transformer: nn.Module) -> int:
    """Quantize :func:`fp8_layer_names`' layers of the (bf16) ``transformer`` in place; returns how many. Before
    any compile (the compiled graphs then contain the float8 casts and scaled matmuls, fused by inductor)."""
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    chosen = frozenset(fp8_layer_names(transformer))
    if not chosen:
        # The plan checked the transformer's width; a model whose blocks still have no such layer is a plan bug,
        # and reporting FP8 that did not run would be a lie.
        raise RunnerError("FP8 was planned, but the transformer's blocks have no Linear layer float8 matmuls can run")
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    quantize_(transformer, config, filter_fn=lambda _module, fqn: fqn in chosen)
    log.info("fp8: %d Linear layers of the transformer's blocks in float8 (per-row scales)", len(chosen))
    return len(chosen)
