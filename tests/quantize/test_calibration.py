"""Calibration sources: local text/JSONL, synthetic; seeded, disjoint held-out windows."""

from __future__ import annotations

import json

import pytest

from trtforge.errors import InvalidInput
from trtforge.quantize import calibration as calib


def test_txt_and_jsonl_are_read(tmp_path):
    t = tmp_path / "c.txt"
    t.write_text("first line\n\nsecond line\n")
    assert calib.read_texts(str(t)) == ["first line", "second line"]
    j = tmp_path / "c.jsonl"
    j.write_text(json.dumps({"text": "a"}) + "\n" + json.dumps({"text": "b", "id": 2}) + "\n")
    assert calib.read_texts(str(j)) == ["a", "b"]


def test_bad_files_name_the_line(tmp_path):
    j = tmp_path / "c.jsonl"
    j.write_text('{"text": "ok"}\n{"nope": 1}\n')
    with pytest.raises(InvalidInput, match=r"c.jsonl:2"):
        calib.read_texts(str(j))
    with pytest.raises(InvalidInput, match="does not exist"):
        calib.check_dataset(str(tmp_path / "missing.txt"))
    with pytest.raises(InvalidInput, match=".txt or .jsonl"):
        calib.check_dataset(str(tmp_path / "data.parquet"))
    calib.check_dataset("synthetic")
    calib.check_dataset("hf:cnn_dailymail")


def test_windows_are_seeded_and_held_out_is_disjoint():
    tokens = [[i] * 10 for i in range(40)]  # 40 samples of 10 tokens + EOS -> 440 tokens
    windows = calib.cut_windows(tokens, 16, eos_id=0)
    assert all(len(w) == 16 for w in windows) and len(windows) == 440 // 16
    a = calib.split_windows(windows, 8, 4, seed=7, source="x.txt")
    b = calib.split_windows(windows, 8, 4, seed=7, source="x.txt")
    c = calib.split_windows(windows, 8, 4, seed=8, source="x.txt")
    assert a.calibration == b.calibration and a.heldout == b.heldout
    assert a.calibration != c.calibration
    assert len(a.calibration) == 8 and len(a.heldout) == 4

    def ids(ws):
        return {tuple(w) for w in ws}

    assert not ids(a.calibration) & ids(a.heldout)
    assert a.source == "local file x.txt" and not a.synthetic and a.warnings == []


def test_short_data_warns_and_too_little_fails():
    windows = [[1] * 8 for _ in range(5)]
    w = calib.split_windows(windows, 8, 4, seed=0, source="s.txt")
    assert len(w.heldout) == 2 and len(w.calibration) == 3 and len(w.warnings) == 2
    with pytest.raises(InvalidInput, match="0 window"):
        calib.split_windows([], 8, 4, seed=0, source="s.txt")


def test_synthetic_is_labelled_and_deterministic():
    a = calib.synthetic_windows(512, 4, 2, 32, seed=3)
    assert a.synthetic and "synthetic" in a.source and "tests only" in a.source
    assert a.calibration == calib.synthetic_windows(512, 4, 2, 32, seed=3).calibration
    assert all(3 <= t < 512 for w in a.calibration + a.heldout for t in w)
    assert calib.batches(a.calibration, 3) == [a.calibration[:3], a.calibration[3:]]
