"""`serve --check`: a stream is judged against generate by token ids, not by its text."""
from trtforge.serve.check import SlotTokens, stream_verdict

IDS = [11, 12, 13]
# the ensemble decodes each streamed token alone: a character split over tokens 12 and 13 becomes two U+FFFD
SPLIT = SlotTokens(generated=IDS, streamed=IDS, text="caf\u00e9", pieces=["caf", "\ufffd", "\ufffd"])


def test_agreement_needs_no_token_ids() -> None:
    assert stream_verdict("ensemble", "abc", ["a", "bc"], None) == ("ok", None)
    assert stream_verdict("ensemble", "caf\u00e9", ["caf", "\u00e9"], SPLIT) == ("ok", None)


def test_split_character_with_the_same_ids_is_a_note() -> None:
    verdict, note = stream_verdict("ensemble", "caf\u00e9", ["caf", "\ufffd", "\ufffd", ""], SPLIT)
    assert verdict == "note" and "U+FFFD" in note and "tensorrt_llm_bls" in note and note.startswith("ensemble")


def test_other_token_ids_are_a_mismatch_even_when_the_text_looks_split() -> None:
    other = SlotTokens(generated=IDS, streamed=[11, 12, 14], text=SPLIT.text, pieces=SPLIT.pieces)
    verdict, why = stream_verdict("ensemble", "caf\u00e9", ["caf", "\ufffd", "\ufffd"], other)
    assert verdict == "mismatch" and "token 2: 13 (generate) vs 14 (stream)" in why
    short = SlotTokens(generated=IDS, streamed=IDS[:2], text=SPLIT.text, pieces=SPLIT.pieces)
    assert "3 tokens (generate) vs 2 (stream)" in stream_verdict("ensemble", "caf\u00e9", ["caf"], short)[1]


def test_text_the_ids_do_not_explain_is_a_mismatch() -> None:
    # the BLS holds partial characters back: text that is neither its generate text nor per-token decodes
    assert stream_verdict("tensorrt_llm_bls", "caf\u00e9", ["caf", "e"], SPLIT)[0] == "mismatch"
    assert stream_verdict("ensemble", "caf\u00e9", ["cab", "\ufffd", "\ufffd"], SPLIT)[0] == "mismatch"
    # the llmapi layout has no token ids: any difference is a mismatch
    verdict, why = stream_verdict("tensorrt_llm", "abc", ["abd"], None)
    assert verdict == "mismatch" and "token ids unavailable" in why
