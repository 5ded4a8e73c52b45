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
    assert (
        verdict == "note" and "U+FFFD" in note and "tensorrt_llm_bls" in note and note.startswith("ensemble")
    )


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


# -- `trtforge serve --check` end to end with a test double behind the HTTP client: exit 1 on a token mismatch


def _serve_check_with(monkeypatch, capsys, tmp_path, slot: SlotTokens, stream_pieces: list[str]):
    import contextlib
    import json
    from types import SimpleNamespace

    import pytest

    from trtforge.cli.app import main
    from trtforge.serve import check, client, launch

    info = {
        "runtime": "reference",
        "runtime_note": None,
        "server": "double",
        "ready_after_s": 0.1,
        "log": "-",
        "endpoints": {"http": "http://127.0.0.1:9", "grpc": "-", "metrics": "-"},
        "generate": [f"http://127.0.0.1:9/v2/models/{m}/generate" for m in ("ensemble", "tensorrt_llm_bls")],
        "generate_stream": [],
    }
    stopped = []

    @contextlib.contextmanager
    def fake_server(target, opts):
        try:
            yield SimpleNamespace(
                info=lambda: info,
                settings=SimpleNamespace(layout="inflight_batcher_llm"),
                server=SimpleNamespace(running=lambda: True),
            )
        finally:  # as running_server: stopped however the block ends
            stopped.append(True)

    def gen(text, chunks=None):
        return client.Generation(text=text, chunks=chunks or [text], latency_s=0.01)

    monkeypatch.setattr(launch, "running_server", fake_server)
    monkeypatch.setattr(check, "discover", lambda url, name: client.Target(url, name, "ensemble", True))
    monkeypatch.setattr(check, "generate", lambda target, body: gen(slot.text))
    monkeypatch.setattr(
        check,
        "generate_stream",
        lambda target, body: (
            gen("".join(stream_pieces), stream_pieces) if target.model == "ensemble" else gen(slot.text)
        ),
    )
    monkeypatch.setattr(check, "slot_tokens", lambda url, prompt: slot)
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(tmp_path), "--check", "Hello", "--json"])
    out, err = capsys.readouterr()
    assert stopped == [True]  # the server is stopped either way
    return exit_info.value.code, [json.loads(line) for line in out.splitlines()], err


def test_serve_check_fails_when_the_stream_has_other_token_ids(monkeypatch, capsys, tmp_path) -> None:
    other = SlotTokens(generated=IDS, streamed=[11, 99, 13], text=SPLIT.text, pieces=SPLIT.pieces)
    code, events, err = _serve_check_with(monkeypatch, capsys, tmp_path, other, SPLIT.pieces)
    assert code == 1
    assert err.strip() == (
        "error: ensemble: the tensorrt_llm slot streams other tokens than it generates for the "
        "same greedy request (token 1: 12 (generate) vs 99 (stream)) (stream and generate must "
        "produce the same tokens)"
    )
    assert [e.get("mismatch") is not None for e in events if e["event"] == "answer"] == [
        False,
        True,
        False,
        True,
    ]


def test_serve_check_passes_a_split_character_with_the_same_ids(monkeypatch, capsys, tmp_path) -> None:
    code, events, err = _serve_check_with(monkeypatch, capsys, tmp_path, SPLIT, SPLIT.pieces)
    assert code == 0, err
    notes = [e for e in events if "note" in e]
    assert [(e["model"], e["route"]) for e in notes] == [("ensemble", "generate_stream")]
    assert events[-1] == {"event": "stopped"}
