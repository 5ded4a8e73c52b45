"""Quantized vs original model on held-out windows: top-1 agreement, mean KL, perplexity (runs in the worker).

The original model's log-probabilities are computed before quantization (ModelOpt quantizes in place) and kept
on the CPU in float16 (the baseline); `heldout_tokens_cap` bounds their size so a large vocabulary cannot
exhaust host memory.
Random-init test models have nearly flat logits: their numbers prove the plumbing, not accuracy.
"""

from __future__ import annotations

import math
from typing import Any

BASELINE_BYTES_CAP = 4 << 30  # at most 4 GiB of stored baseline log-probs


def heldout_tokens_cap(vocab_size: int, seq_len: int, samples: int) -> int:
    """How many held-out windows fit in BASELINE_BYTES_CAP (fp16 log-probs of every position)."""
    per_window = vocab_size * seq_len * 2
    return max(1, min(samples, BASELINE_BYTES_CAP // max(per_window, 1)))


def _forward_logprobs(model, batch, device):
    import torch

    ids = torch.tensor(batch, dtype=torch.long, device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    return ids, torch.log_softmax(logits, dim=-1)


def baseline(model, heldout_batches: list, device) -> list:
    """The baseline: the original model's log-probs per batch (fp16, CPU), taken before quantization."""
    import torch

    return [_forward_logprobs(model, b, device)[1].to("cpu", dtype=torch.float16) for b in heldout_batches]


def compare(model, heldout_batches: list, ref: list, device) -> dict[str, Any]:
    """Agreement of next-token argmax, mean KL(orig || quant) per token, and perplexities on the held-out
    text."""

    agree = total = 0
    kl_sum = 0.0
    nll_ref = nll_q = 0.0
    n_targets = 0
    for batch, ref_lp in zip(heldout_batches, ref, strict=False):
        ids, q_lp = _forward_logprobs(model, batch, device)
        q_lp = q_lp.cpu()
        r_lp = ref_lp.float()
        agree += int((q_lp.argmax(-1) == r_lp.argmax(-1)).sum())
        total += q_lp.shape[0] * q_lp.shape[1]
        kl_sum += float((r_lp.exp() * (r_lp - q_lp)).sum(-1).sum())
        targets = ids[:, 1:].cpu().unsqueeze(-1)
        nll_ref -= float(r_lp[:, :-1].gather(-1, targets).sum())
        nll_q -= float(q_lp[:, :-1].gather(-1, targets).sum())
        n_targets += targets.numel()
    if not total:
        return {"measured": False, "reason": "no held-out windows"}
    ppl_ref = math.exp(nll_ref / n_targets) if n_targets else float("nan")
    ppl_q = math.exp(nll_q / n_targets) if n_targets else float("nan")
    result = {
        "measured": True,
        "tokens": total,
        "top1_agreement": round(agree / total, 6),
        "mean_kl": round(max(kl_sum / total, 0.0), 8),
        "ppl_original": round(ppl_ref, 4),
        "ppl_quantized": round(ppl_q, 4),
        "ppl_delta": round(ppl_q - ppl_ref, 4),
        "ppl_increase": round(ppl_q / ppl_ref - 1.0, 6) if ppl_ref else float("nan"),
    }
    if not all(map(math.isfinite, (result["mean_kl"], ppl_q))):
        result["warning"] = "non-finite values: the quantized model produced inf/nan logits"
    return result


def perplexity_increase(acc: dict[str, Any]) -> float:
    """Relative growth of held-out perplexity, quantized over original (0.02 = 2 % higher)."""
    return acc["ppl_quantized"] / acc["ppl_original"] - 1.0


def gate_failures(
    acc: dict[str, Any], min_top1: float | None, max_kl: float | None, max_ppl_increase: float | None = None
) -> list[str]:
    """Threshold violations, one line each (empty when the gate passes or nothing was set)."""
    if not acc.get("measured"):
        return []
    out = []
    if max_ppl_increase is not None:
        rise = perplexity_increase(acc)
        if not rise <= max_ppl_increase:  # NaN fails too
            out.append(
                f"perplexity {acc['ppl_original']:.3f} -> {acc['ppl_quantized']:.3f} is "
                f"{rise:+.2%}, above max_perplexity_increase {max_ppl_increase:.2%}"
            )
    if min_top1 is not None and acc["top1_agreement"] < min_top1:
        out.append(f"top-1 agreement {acc['top1_agreement']:.4f} < min_top1_agreement {min_top1}")
    if max_kl is not None and not acc["mean_kl"] <= max_kl:
        out.append(f"mean KL {acc['mean_kl']:.6f} > max_mean_kl {max_kl}")
    return out
