"""The pydoc corpus and the perplexity gate, without a model (hand-computed expectations)."""

from __future__ import annotations

from trtforge.quantize import accuracy, calibration


class CharTokenizer:
    """One id per byte: enough to cut windows deterministically."""

    eos_token_id = 0

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [b + 1 for b in text.encode("utf-8")]}


def test_pydoc_corpus_is_cpython_documentation():
    from pydoc_data.topics import topics

    texts = calibration.pydoc_texts()
    assert (
        len(texts) == len([t for t in topics.values() if t.strip()]) and texts[0] == topics[sorted(topics)[0]]
    )
    assert "pydoc_data.topics" in calibration.describe_source("pydoc")
    calibration.check_dataset("pydoc")  # no file needed


def test_pydoc_windows_split_into_disjoint_calibration_and_heldout():
    w = calibration.make_windows("pydoc", CharTokenizer(), 257, n_calib=40, n_heldout=10, seq_len=512, seed=7)
    assert len(w.calibration) == 40 and len(w.heldout) == 10
    assert not {tuple(x) for x in w.calibration} & {tuple(x) for x in w.heldout}
    again = calibration.make_windows(
        "pydoc", CharTokenizer(), 257, n_calib=80, n_heldout=10, seq_len=512, seed=7
    )
    assert again.heldout == w.heldout  # more calibration never changes what is held out


def test_perplexity_gate():
    acc = {
        "measured": True,
        "top1_agreement": 0.9,
        "mean_kl": 0.04,
        "ppl_original": 20.0,
        "ppl_quantized": 21.0,
    }
    assert accuracy.perplexity_increase(acc) == 21.0 / 20.0 - 1  # +5 %
    assert accuracy.gate_failures(acc, None, None, 0.06) == []
    (line,) = accuracy.gate_failures(acc, None, None, 0.04)
    assert line == "perplexity 20.000 -> 21.000 is +5.00%, above max_perplexity_increase 4.00%"
    assert accuracy.gate_failures({**acc, "ppl_quantized": float("nan")}, None, None, 1.0)  # NaN fails
