"""Atomic output folders and strict run.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from geo.config.locations import sha256_file
from geo.render.files import provenance_json
from geo.render.outdir import MARKER, atomic_directory


def test_atomic_directory_replaces_only_on_success(tmp_path):
    final = tmp_path / "out"
    with atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("first", encoding="utf-8")
        assert not final.exists()
    assert (final / "a.txt").read_text(encoding="utf-8") == "first"

    with pytest.raises(RuntimeError), atomic_directory(final) as tmp:
        (tmp / "a.txt").write_text("half", encoding="utf-8")
        raise RuntimeError("stage failed")
    # The good earlier result is untouched and no temporary folder is left behind.
    assert (final / "a.txt").read_text(encoding="utf-8") == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    with atomic_directory(final) as tmp:
        (tmp / "b.txt").write_text("second", encoding="utf-8")
    assert sorted(p.name for p in final.iterdir()) == sorted([MARKER, "b.txt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_first_run_leaves_no_folder(tmp_path):
    final = tmp_path / "new" / "out"
    with pytest.raises(ValueError), atomic_directory(final):
        raise ValueError("bad input")
    assert not final.exists()
    assert list(final.parent.iterdir()) == []


def test_provenance_json_is_strict():
    text = provenance_json(
        {"a": np.float64("nan"), "b": [np.int64(3), float("inf")], "c": np.array([1.5, np.nan])}
    )
    assert json.loads(text) == {"a": None, "b": [3, None], "c": [1.5, None]}


def test_sha256_file(tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"abc")
    assert sha256_file(path) == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
