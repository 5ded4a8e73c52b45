"""Calibration and held-out text: where it comes from, and how it becomes token windows (deterministic,
seeded).

Text is tokenized, joined with EOS and cut into seq_len windows; a seeded shuffle picks the held-out windows
(for the accuracy report) first and the calibration windows from the rest, so the two never overlap.
`synthetic` draws random token ids: it exercises the plumbing in tests and is labelled so in the lock file.
`pydoc` is real English that needs no download: the topic texts of CPython's own documentation
(`pydoc_data.topics`, ~465 KB, shipped with every CPython), one sample per topic in sorted topic order.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from trtforge.errors import InvalidInput, ToolMissing

SYNTHETIC = "synthetic"
SYNTHETIC_LABEL = "synthetic (random token ids: for tests only, not a real calibration)"
PYDOC = "pydoc"


@dataclass
class Windows:
    calibration: list[list[int]]
    heldout: list[list[int]]
    source: str  # what the lock file shows
    synthetic: bool
    warnings: list[str]


def describe_source(dataset: str) -> str:
    """What the lock file shows; a local file by name and content hash (its path differs between machines)."""
    if dataset == SYNTHETIC:
        return SYNTHETIC_LABEL
    if dataset == PYDOC:
        texts = pydoc_texts()
        return (
            f"CPython {sys.version.split()[0]} pydoc_data.topics ({len(texts)} topics, sha256 "
            f"{pydoc_digest()[:16]})"
        )
    if dataset.startswith("hf:"):
        return f"Hugging Face dataset {dataset[3:]}"
    path = Path(dataset)
    if path.is_file():
        import hashlib

        return f"local file {path.name} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:16]})"
    return f"local file {path.name}"


def check_dataset(dataset: str) -> None:
    """Cheap preflight: a local file must exist and have a known suffix."""
    if dataset in (SYNTHETIC, PYDOC) or dataset.startswith("hf:"):
        return
    path = Path(dataset)
    if path.suffix not in (".txt", ".jsonl", ".json"):
        raise InvalidInput(
            f"calibration dataset {dataset} must be a .txt or .jsonl file",
            hint="or 'synthetic' for tests, or 'hf:<dataset>' when a hub is reachable",
        )
    if not path.is_file():
        raise InvalidInput(f"calibration dataset {dataset} does not exist")


def read_texts(dataset: str) -> list[str]:
    """Non-empty text samples of a local .txt (one per line) / .jsonl ('text' field) file, or an hf:
    dataset."""
    if dataset.startswith("hf:"):
        return _hf_texts(dataset[3:])
    if dataset == PYDOC:
        return pydoc_texts()
    check_dataset(dataset)
    path = Path(dataset)
    texts: list[str] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            if path.suffix in (".jsonl", ".json"):
                try:
                    item = json.loads(line)
                except ValueError as e:
                    raise InvalidInput(f"{path}:{n}: not a JSON line ({e.msg})") from None
                text = item.get("text") if isinstance(item, dict) else None
                if not isinstance(text, str):
                    raise InvalidInput(f"{path}:{n}: a JSONL calibration line needs a string 'text' field")
                line = text
            texts.append(line)
    if not texts:
        raise InvalidInput(f"calibration dataset {dataset} holds no text")
    return texts


def pydoc_texts() -> list[str]:
    """The topic texts of CPython's documentation (`pydoc_data.topics`), in sorted topic order."""
    try:
        from pydoc_data.topics import topics
    except ImportError:  # some distributions strip it
        raise ToolMissing(
            "calibration dataset 'pydoc' needs CPython's pydoc_data package, which this Python lacks",
            hint="use a local .txt/.jsonl file",
        ) from None
    return [topics[k] for k in sorted(topics) if topics[k].strip()]


def pydoc_digest() -> str:
    """sha256 of the pydoc text as used (it changes between CPython versions: part of the cache key)."""
    import hashlib

    h = hashlib.sha256()
    for text in pydoc_texts():
        h.update(text.encode("utf-8") + b"\0")
    return h.hexdigest()


def _hf_texts(spec: str) -> list[str]:
    name, _, split = spec.partition(":")
    try:
        import datasets  # optional: only for hf: calibration sources
    except ImportError:
        raise ToolMissing(
            f"calibration dataset hf:{spec} needs the 'datasets' package",
            hint="pip install datasets, or use a local .txt/.jsonl file",
        ) from None
    try:
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as e:  # network, unknown name, auth: one line for the user
        raise InvalidInput(f"cannot load calibration dataset hf:{spec}: {type(e).__name__}: {e}") from None
    column = "text" if "text" in ds.column_names else ds.column_names[0]
    return [t for t in ds[column] if isinstance(t, str) and t.strip()]


def cut_windows(token_lists: list[list[int]], seq_len: int, eos_id: int | None) -> list[list[int]]:
    """Join tokenized samples (EOS between them) and cut the stream into full seq_len windows."""
    stream: list[int] = []
    for ids in token_lists:
        stream.extend(ids)
        if eos_id is not None:
            stream.append(eos_id)
    return [stream[i : i + seq_len] for i in range(0, len(stream) - seq_len + 1, seq_len)]


def split_windows(windows: list[list[int]], n_calib: int, n_heldout: int, seed: int, source: str) -> Windows:
    """Seeded shuffle; held-out windows first, calibration from the rest; warn (not fail) when short."""
    if not windows or (n_heldout > 0 and len(windows) < 2):
        raise InvalidInput(
            f"calibration data from {source} gives {len(windows)} window(s) of the requested "
            "length; need at least one for calibration and one held out",
            hint="use more text or a shorter calibration.seq_len",
        )
    order = list(range(len(windows)))
    random.Random(seed).shuffle(order)
    warnings = []
    heldout_n = min(n_heldout, len(windows) // 2) if n_heldout else 0
    if heldout_n < n_heldout:
        warnings.append(f"accuracy: {heldout_n} held-out windows available, {n_heldout} asked")
    rest = order[heldout_n:]
    calib_n = min(n_calib, len(rest))
    if calib_n < n_calib:
        warnings.append(
            f"calibration: {calib_n} windows available after holding out {heldout_n}, {n_calib} asked"
        )
    return Windows(
        calibration=[windows[i] for i in rest[:calib_n]],
        heldout=[windows[i] for i in order[:heldout_n]],
        source=describe_source(source),
        synthetic=False,
        warnings=warnings,
    )


def synthetic_windows(
    vocab_size: int, n_calib: int, n_heldout: int, seq_len: int, seed: int, low: int = 3
) -> Windows:
    """Random token ids (uniform in [low, vocab_size)), seeded; no torch needed."""
    rng = random.Random(seed)
    hi = max(vocab_size - 1, low)

    def draw(n: int) -> list[list[int]]:
        return [[rng.randint(low, hi) for _ in range(seq_len)] for _ in range(n)]

    heldout = draw(n_heldout)
    return Windows(
        calibration=draw(n_calib), heldout=heldout, source=SYNTHETIC_LABEL, synthetic=True, warnings=[]
    )


def make_windows(
    dataset: str, tokenizer, vocab_size: int, n_calib: int, n_heldout: int, seq_len: int, seed: int
) -> Windows:
    """Calibration + held-out windows for a job (tokenizer: a transformers tokenizer; unused for
    synthetic)."""
    if dataset == SYNTHETIC:
        return synthetic_windows(vocab_size, n_calib, n_heldout, seq_len, seed)
    texts = read_texts(dataset)
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    return split_windows(
        cut_windows(ids, seq_len, getattr(tokenizer, "eos_token_id", None)), n_calib, n_heldout, seed, dataset
    )


def batches(windows: list[list[int]], batch_size: int) -> list[list[list[int]]]:
    return [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
