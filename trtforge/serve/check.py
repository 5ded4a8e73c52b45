"""`serve --check PROMPT`: answer through every generate route and fail when streaming and generate disagree.

Text alone cannot tell a real disagreement from the ensemble's per-token decoding (NVIDIA's postprocessing
decodes each streamed token alone, so a character split across byte-level tokens arrives as U+FFFD, and a
SentencePiece word loses its leading space). Token ids can: for the classic layout the check asks the
`tensorrt_llm` slot itself (prompt ids from `preprocessing`, as the ensemble wires them) for the same greedy
request through generate and through its stream, and `postprocessing` to decode those ids whole and one by
one.
- the slot's streamed ids differ from its generated ids: a mismatch (exit 1);
- a route's streamed text equals its generate text: agreement;
- the ensemble's streamed chunks are exactly the one-token decodes of those ids, and its generate text is
their
  whole decode: agreement, with a note saying why the texts differ;
- anything else (the llmapi layout has no token ids: its text must match): a mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass

from trtforge.serve.client import (
    Target,
    discover,
    generate,
    generate_stream,
    payload,
    post_json,
    stream_events,
)

CHECK_MAX_TOKENS = 16
SPLIT_NOTE = (
    "{model} streams one token per chunk and decodes each alone (as NVIDIA's postprocessing does), so a "
    "character split across tokens arrives as U+FFFD; the token ids agree; tensorrt_llm_bls streams whole "
    "characters"
)


@dataclass
class SlotTokens:
    """What the tensorrt_llm slot generates for the check prompt, and postprocessing's decodes of it."""

    generated: list[int]
    streamed: list[int]
    text: str  # decode of all generated ids
    pieces: list[str]  # decode of each generated id alone


@dataclass
class Answer:
    model: str
    route: str
    text: str
    latency_s: float
    chunks: list[str] | None = None
    verdict: str = "ok"  # ok | note | mismatch
    message: str | None = None


def _flat(value) -> list:
    """Triton's JSON flattens a one-element tensor to a scalar; nested lists for [batch, beam, tokens]."""
    if isinstance(value, list):
        return [x for v in value for x in _flat(v)]
    return [value]


def _infer_outputs(url: str, model: str, inputs: list[dict], outputs: list[str]) -> dict[str, list]:
    data = post_json(
        url, f"/v2/models/{model}/infer", {"inputs": inputs, "outputs": [{"name": n} for n in outputs]}
    )
    return {o["name"]: o["data"] for o in data.get("outputs", [])}


def _decode(url: str, ids: list[int]) -> str:
    out = _infer_outputs(
        url,
        "postprocessing",
        [
            {"name": "TOKENS_BATCH", "datatype": "INT32", "shape": [1, 1, len(ids)], "data": ids},
            {"name": "SEQUENCE_LENGTH", "datatype": "INT32", "shape": [1, 1], "data": [len(ids)]},
        ],
        ["OUTPUT"],
    )
    return "".join(str(x) for x in out["OUTPUT"])


def slot_tokens(url: str, prompt: str, max_tokens: int = CHECK_MAX_TOKENS) -> SlotTokens:
    """The classic layout's token view of one greedy request (see the module docstring)."""
    pre = _infer_outputs(
        url,
        "preprocessing",
        [
            {"name": "QUERY", "datatype": "BYTES", "shape": [1, 1], "data": [prompt]},
            {"name": "REQUEST_OUTPUT_LEN", "datatype": "INT32", "shape": [1, 1], "data": [max_tokens]},
        ],
        ["INPUT_ID", "REQUEST_INPUT_LEN", "OUT_END_ID", "OUT_PAD_ID"],
    )
    body = {
        "input_ids": pre["INPUT_ID"],
        "input_lengths": pre["REQUEST_INPUT_LEN"][0],
        "request_output_len": max_tokens,
        "end_id": pre["OUT_END_ID"][0],
        "pad_id": pre["OUT_PAD_ID"][0],
    }
    whole = post_json(url, "/v2/models/tensorrt_llm/generate", body)
    generated = [int(t) for t in _flat(whole["output_ids"])][: int(_flat(whole["sequence_length"])[0])]
    slot = Target(url=url, model="tensorrt_llm", api="ids", decoupled=True)
    streamed = []
    for _, event in stream_events(slot, {**body, "streaming": True}):
        ids = [int(t) for t in _flat(event.get("output_ids", []))]
        length = _flat(event.get("sequence_length", len(ids)))[0]
        streamed.extend(ids[: int(length)])
    return SlotTokens(
        generated=generated,
        streamed=streamed,
        text=_decode(url, generated) if generated else "",
        pieces=[_decode(url, [t]) for t in generated],
    )


def _first_difference(a: list[int], b: list[int]) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"token {i}: {x} (generate) vs {y} (stream)"
    return f"{len(a)} tokens (generate) vs {len(b)} (stream)"


def stream_verdict(
    model: str, whole: str, chunks: list[str], tokens: SlotTokens | None
) -> tuple[str, str | None]:
    """("ok" | "note" | "mismatch", why) for a route's stream against the same request's generate text."""
    if tokens is not None and tokens.generated != tokens.streamed:
        return "mismatch", (
            f"{model}: the tensorrt_llm slot streams other tokens than it generates for the same greedy "
            f"request ({_first_difference(tokens.generated, tokens.streamed)})"
        )
    streamed = "".join(chunks)
    if streamed == whole:
        return "ok", None
    # empty chunks (a final response with no token, a special token skipped in decoding) carry no text
    if (
        tokens is not None
        and [c for c in chunks if c] == [p for p in tokens.pieces if p]
        and whole == tokens.text
    ):
        return "note", SPLIT_NOTE.format(model=model)
    why = "token ids unavailable" if tokens is None else "not explained by per-token decoding of the same ids"
    return "mismatch", (
        f"{model}: the streamed text differs from the generate text for the same greedy request ({why}): "
        f"{streamed!r} vs {whole!r}"
    )


def run_check(url: str, models: list[str], prompt: str, layout_has_slot: bool) -> list[Answer]:
    """Every route of every generate model, each stream judged against its generate answer."""
    tokens: SlotTokens | None = None
    slot_error: str | None = None
    answers: list[Answer] = []
    for name in models:
        target = discover(url, name)
        result = generate(target, payload(target, prompt, CHECK_MAX_TOKENS, False))
        answers.append(Answer(name, "generate", result.text, result.latency_s))
        if not target.decoupled:
            continue
        streamed = generate_stream(target, payload(target, prompt, CHECK_MAX_TOKENS, True))
        if layout_has_slot and tokens is None and slot_error is None:
            try:
                tokens = slot_tokens(url, prompt)
            except Exception as exc:  # noqa: BLE001 - reported in the verdict, never hidden
                slot_error = str(exc)
        verdict, message = stream_verdict(name, result.text, streamed.chunks, tokens)
        if verdict == "mismatch" and slot_error:
            message = f"{message}; token ids could not be read: {slot_error}"
        answers.append(
            Answer(
                name, "generate_stream", streamed.text, streamed.latency_s, streamed.chunks, verdict, message
            )
        )
    return answers
