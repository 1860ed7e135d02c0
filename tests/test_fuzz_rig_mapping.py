"""Fuzz suite for rig mapping files (``--mapping FILE``, Import Rig Mapping, the JSON saved on a rig): a valid
mapping mutated at every path, damaged byte-wise, or replaced by arbitrary text goes through the real readers
in-process. Only a one-line FormatError may escape; what is accepted keeps the reader's promises (known
channels, finite weights within ±10, Blender-sized key names) and writes back to the same mapping; nothing is
written. Three refused files then go through the real CLI: exit 2, one ``error:`` line (the message the reader
gave in-process), no output file.

300 Hypothesis examples in all, derandomized so CI sees the same cases every run."""

from __future__ import annotations

import json
import math
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from avi_talking.core.arkit import ARKIT52
from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.rigs.channel_groups import KNOWN_CHANNELS
from avi_talking.core.rigs.fit import fit_rig
from avi_talking.core.rigs.mapping import (
    KEY_NAME_BYTES,
    MAX_KEYS,
    MAX_SOURCES,
    WEIGHT_LIMIT,
    RigMapping,
    mapping_from_text,
    read_mapping,
)
from avi_talking.core.rigs.presets import ICT_FACEKIT_KEYS

from conftest import run_cli
from json_mutation import mutate, paths

FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])

NASTY = [True, False, None, "", "jawOpen", "browInnerUp_L", "\ud800", "a\u0007", "é" * 40, "x" * 70, 0, -1, 1, 0.5,
         10.0, 10.000001, -10.0, 1e308, 5e-324, math.nan, math.inf, -math.inf, 10**40, [], {}, [[[]]], {"": {}},
         {"jawOpen": 1}, "avi-talking-rig-mapping", 1, 2]
SCALARS = (st.none() | st.booleans() | st.integers(-10**40, 10**40) | st.floats() | st.text(max_size=20)
           | st.sampled_from(NASTY))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8) | st.sampled_from(ARKIT52[:6]), inner, max_size=4), max_leaves=15)
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5001, "true", "null", "[", "]", "{", "}", '"', ",", ":",
              "\\ud800", "\\u0000", "[" * 5000, "\x00", "\ufeff", '"jawOpen":1,"jawOpen":2', "\\u0007"]


def _base() -> dict[str, Any]:
    doc = json.loads(fit_rig(ARKIT52, list(ICT_FACEKIT_KEYS)).mapping.to_json(rig="ICT"))
    doc["keys"]["blink"] = {"eyeBlinkLeft": 0.5, "eyeBlinkRight": -0.5}
    return doc


BASE = _base()


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _check(mapping: RigMapping) -> None:
    """What an accepted mapping promises the bake."""
    assert len(mapping.keys) <= MAX_KEYS
    for key, sources in mapping.keys:
        assert 0 < len(key.encode("utf-8")) <= KEY_NAME_BYTES and not any(ord(c) < 32 for c in key)
        assert 0 < len(sources) <= MAX_SOURCES
        for channel, weight in sources:
            assert channel in KNOWN_CHANNELS
            assert type(weight) is float and math.isfinite(weight) and abs(weight) <= WEIGHT_LIMIT
    assert mapping_from_text(mapping.to_json(), "round trip") == mapping


def _read(path: Path) -> RigMapping | None:
    try:
        mapping = read_mapping(path)
    except FormatError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return None
    _check(mapping)
    return mapping


@settings(max_examples=200, **FUZZ)
@given(data=st.data())
def test_mutated_mapping_files(tmp_path: Path, data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="raw"):
        text = json.dumps(BASE)
        for _ in range(data.draw(st.integers(1, 3), label="edits")):
            at = data.draw(st.integers(0, len(text)), label="at")
            if data.draw(st.booleans(), label="cut"):
                text = text[:at] + text[at + data.draw(st.integers(1, 30), label="span"):]
            else:
                text = text[:at] + data.draw(st.sampled_from(RAW_TOKENS), label="token") + text[at:]
    else:
        path = data.draw(st.sampled_from(paths(BASE)), label="path")
        kind = data.draw(st.sampled_from(["replace", "replace", "delete", "wrap", "add"]), label="kind")
        new = data.draw(JSON, label="new")
        key = data.draw(st.text(max_size=8) | st.sampled_from(["jawOpen", "tongueOut", "headYaw", "extra"]))
        text = json.dumps(mutate(BASE, path, kind, new, key), ensure_ascii=data.draw(st.booleans()))
    target = tmp_path / "mapping.json"
    _write(target, text)
    before = _listing(tmp_path)
    event("accepted" if _read(target) is not None else "refused")
    assert _listing(tmp_path) == before


@settings(max_examples=100, **FUZZ)
@given(value=JSON)
def test_arbitrary_text_saved_on_a_rig(value: Any) -> None:
    for text in (json.dumps(value), json.dumps({"format": "avi-talking-rig-mapping", "version": 1, "keys": value})):
        try:
            mapping = mapping_from_text(text, "the rig mapping saved on 'Face'")
        except AviTalkError as exc:
            assert isinstance(exc, FormatError) and "\n" not in str(exc)
            assert str(exc).startswith("the rig mapping saved on 'Face'")
            event("refused")
            continue
        _check(mapping)
        event("accepted")


def test_the_base_document_is_accepted(tmp_path: Path) -> None:
    target = tmp_path / "ok.json"
    _write(target, json.dumps(BASE))
    assert _read(target) is not None  # the fuzz starts from a good file: refusals are the mutations' doing


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join(struct.pack("<h", (i * 37) % 2000 - 1000) for i in range(8000)))
    return path


@pytest.mark.parametrize("text", [
    json.dumps({**BASE, "keys": {"jaw": {"jawOpen": math.inf}}}).replace("Infinity", "1e999"),
    json.dumps({**BASE, "keys": {"jaw": {"tongue": 1}}}),
    "[" * 5000,
])
def test_cli_refuses_a_bad_mapping_in_one_line_and_writes_nothing(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad.json"
    _write(bad, text)
    with pytest.raises(FormatError) as info:
        read_mapping(bad)
    audio = _wav(tmp_path / "line.wav")
    before = _listing(tmp_path)
    out = tmp_path / "out.blend"
    done = run_cli("bake", str(audio), "--mapping", str(bad), "-o", str(out))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"error: {info.value}\n"
    assert _listing(tmp_path) == before and not out.exists()
