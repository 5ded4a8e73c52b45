"""Arithmetic shared by the architecture families: attention, gated MLPs, embeddings, KV layouts."""

from __future__ import annotations

from typing import Any, NamedTuple

from trtforge.errors import InvalidInput
from trtforge.models.spec import KVGroup


def need(cfg: dict[str, Any], key: str) -> Any:
    """A required config.json field, or one clear InvalidInput naming it."""
    value = cfg.get(key)
    if value is None:
        raise InvalidInput(f"config.json has no '{key}' (needed to count parameters)")
    return value


class Dims(NamedTuple):
    """The decoder dimensions every family reads the same way (unpack: `hidden, layers, heads, kv, hd =
    dims(cfg)`)."""

    hidden: int
    layers: int
    heads: int
    kv: int
    hd: int

    def fields(self) -> dict[str, int]:
        """The spec fields these dimensions fill."""
        return dict(
            num_layers=self.layers,
            hidden_size=self.hidden,
            num_attention_heads=self.heads,
            num_kv_heads=self.kv,
            head_dim=self.hd,
        )


def dims(cfg: dict[str, Any]) -> Dims:
    return Dims(
        int(need(cfg, "hidden_size")),
        int(need(cfg, "num_hidden_layers")),
        int(need(cfg, "num_attention_heads")),
        kv_heads(cfg),
        head_dim(cfg),
    )


def head_dim(cfg: dict[str, Any]) -> int:
    explicit = cfg.get("head_dim")
    if explicit:
        return int(explicit)
    return int(need(cfg, "hidden_size")) // int(need(cfg, "num_attention_heads"))


def kv_heads(cfg: dict[str, Any]) -> int:
    return int(cfg.get("num_key_value_heads") or need(cfg, "num_attention_heads"))


def attention_weights(hidden: int, heads: int, kv: int, hd: int) -> int:
    """q, k, v and o projection weights (no biases)."""
    return hidden * heads * hd + 2 * hidden * kv * hd + heads * hd * hidden


def qkv_bias(heads: int, kv: int, hd: int) -> int:
    return heads * hd + 2 * kv * hd


def gated_mlp(hidden: int, inter: int) -> int:
    """gate, up and down projections of a SwiGLU/GeGLU MLP."""
    return 3 * hidden * inter


def embeddings(cfg: dict[str, Any], hidden: int, tied_default: bool = False) -> tuple[int, int]:
    """(input embedding, output head) parameters; a tied head adds none."""
    vocab = int(need(cfg, "vocab_size"))
    tied = bool(cfg.get("tie_word_embeddings", tied_default))
    return vocab * hidden, 0 if tied else vocab * hidden


def layer_windows(cfg: dict[str, Any], num_layers: int) -> list[int | None]:
    """Attention window of each layer: None for full attention.

    Only per-layer `layer_types` count (sliding_attention -> sliding_window, chunked_attention ->
    attention_chunk_size): TensorRT-LLM wires those windows itself (gpt-oss, Gemma 2, Llama 4). A
    config-wide `sliding_window` (Mistral v0.1, Phi-3) takes effect only if the runtime is given a
    max_attention_window, so the KV cache is sized as full attention there: never over-promise capacity.
    A window not smaller than the context is ignored.
    """
    max_pos = int(cfg.get("max_position_embeddings") or 0)
    windows: list[int | None] = []
    for kind in (cfg.get("layer_types") or [])[:num_layers]:
        if kind == "sliding_attention":
            windows.append(_usable_window(cfg.get("sliding_window"), max_pos))
        elif kind == "chunked_attention":
            windows.append(_usable_window(cfg.get("attention_chunk_size"), max_pos))
        else:
            windows.append(None)
    return windows + [None] * (num_layers - len(windows))


def _usable_window(window: Any, max_pos: int) -> int | None:
    if not window:
        return None
    window = int(window)
    if window <= 0:  # not a window (some configs use -1 for "off"); never a negative KV size
        return None
    return window if not max_pos or window < max_pos else None


def kv_groups(windows: list[int | None], elements_per_token: int, heads: int) -> tuple[KVGroup, ...]:
    """Group layers by window; `heads` is 0 for an MLA latent cache."""
    counts: dict[int | None, int] = {}
    for w in windows:
        counts[w] = counts.get(w, 0) + 1
    order = sorted(counts, key=lambda w: (w is not None, w or 0))
    return tuple(
        KVGroup(layers=counts[w], elements_per_token=elements_per_token, window=w, kv_heads=heads)
        for w in order
    )


def standard_kv(cfg: dict[str, Any], num_layers: int, kv: int, hd: int) -> tuple[KVGroup, ...]:
    return kv_groups(layer_windows(cfg, num_layers), 2 * kv * hd, kv)
