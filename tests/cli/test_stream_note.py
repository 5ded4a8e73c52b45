"""`serve --check` explains a stream whose text differs from generate's instead of printing it silently."""
from trtforge.cli.serve_cmds import stream_note


def test_no_note_when_the_stream_matches() -> None:
    assert stream_note("ensemble", "abc", "abc") is None
    assert stream_note("ensemble", None, "abc") is None  # no generate answer to compare with


def test_split_character_is_explained_and_points_at_bls() -> None:
    note = stream_note("ensemble", "caf\u00e9!", "caf\ufffd\ufffd!")
    assert "U+FFFD" in note and "tensorrt_llm_bls" in note and note.startswith("ensemble streams")


def test_other_differences_are_reported_as_such() -> None:
    note = stream_note("tensorrt_llm_bls", "abc", "abd")
    assert "differs" in note and "U+FFFD" not in note
    # replacement characters the generate text has too are not a split: still a plain difference
    assert "U+FFFD" not in stream_note("ensemble", "a\ufffdb", "a\ufffdc")
    assert "U+FFFD" in stream_note("ensemble", "a\ufffdb\u00e9", "a\ufffdb\ufffd\ufffd")
