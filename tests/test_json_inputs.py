"""Issue #13: every JSON file a user can hand to ``core`` — instruction tracks, stage-1, stage-2 and adapter
model cards, eval model cards, training checkpoints — is read by one safe reader (``fileio.read_json``)
and checked against a schema (``common.jsonspec``). Bad input is one FormatError line naming the file and
the JSON path of the bad value; the CLI turns it into exit 2, one ``error:`` line and no output file."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.common.fileio import MAX_JSON_DEPTH, confined_file, read_json
from avi_talking.core.common.jsonspec import SHA256, Int, ListOf, MapOf, Num, Obj, Opt, Str, validate
from avi_talking.core.eval.registry import load_model as load_eval_model
from avi_talking.core.instructions import (
    MAX_SEGMENTS,
    MAX_TEXT_CHARS,
    Instruction,
    Segment,
    check_track_against_audio,
    parse,
    read_track,
    segment_from_dict,
    track_from_dict,
    track_to_dict,
)
from avi_talking.core.instructions.track import MAX_TRACK_BYTES, MAX_TRACK_TEXT_CHARS, max_segments_for
from avi_talking.core.stage1.model import load_model as load_stage1

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample.wav"
STAGE1 = ROOT / "weights" / "stage1"
STAGE2 = ROOT / "weights" / "stage2"


def _track(**segment: Any) -> dict[str, Any]:
    base = {"start": 0.0, "end": 1.5, "text": "A happy person speaks.", "emotion": "happy", "intensity": 0.6,
            "aus": {"AU12": 0.5}}
    return {"segments": [{**base, **segment}]}


def _write(path: Path, data: Any) -> Path:
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _refused(path: Path, message: str) -> str:
    """read_track refuses the file with one line that names it and contains ``message``."""
    with pytest.raises(FormatError) as info:
        read_track(path)
    text = str(info.value)
    assert str(path) in text and message in text, text
    assert "\n" not in text
    return text


# ---- instruction tracks: types (issue item 5) -----------------------------------------------------------


@pytest.mark.parametrize(("segment", "message"), [
    (5, "segments[0] must be an object, not a number"),
    ({"start": "0", "end": 1}, "segments[0].start must be a number, not a string"),
    ({"start": [0], "end": 1}, "segments[0].start must be a number, not a list"),
    ({"start": None, "end": 1}, "segments[0].start must be a number, not null"),
    ({"start": True, "end": 2}, "segments[0].start must be a number, not a boolean"),  # item 8: not 1.0
    ({"start": 0, "end": False}, "segments[0].end must be a number, not a boolean"),
    ({"start": 0, "end": 1, "aus": [["AU12", 0.5]]}, "segments[0].aus must be an object, not a list"),
    ({"start": 0, "end": 1, "aus": {"AU12": "0.5"}}, "segments[0].aus.AU12 must be a number, not a string"),
    ({"start": 0, "end": 1, "aus": {"AU12": True}}, "segments[0].aus.AU12 must be a number, not a boolean"),
    ({"start": 0, "end": 1, "intensity": "strong"}, "segments[0].intensity must be a number, not a string"),
    ({"start": 0, "end": 1, "intensity": 1.5}, "segments[0].intensity must be between 0 and 1, not 1.5"),
    ({"start": 0, "end": 1, "emotion": "bored"}, "segments[0].emotion must be one of neutral, happy"),
    ({"start": 0, "end": 1, "emotion": 3}, "segments[0].emotion must be a string, not a number"),
    ({"start": 0, "end": 1, "text": ["hi"]}, "segments[0].text must be a string, not a list"),
    ({"start": 0, "end": 1, "aus": {"AU99": 0.5}}, "segments[0].aus.AU99 is not a known action unit"),
    ({"start": 0, "end": 1, "aus": {"AU4": 0.5, "au4": 0.2}}, "segments[0].aus names AU4 twice"),
    ({"start": -1, "end": 1}, "segments[0].start must be between 0 and"),
    ({"start": 2, "end": 1}, "segments[0].end must be after start (2 s), not 1"),
    ({"end": 1}, "segments[0] is missing 'start'"),
])
def test_a_track_with_a_wrongly_typed_value_is_refused_with_its_path(tmp_path: Path, segment: Any,
                                                                      message: str) -> None:
    _refused(_write(tmp_path / "bad.json", {"segments": [segment]}), message)


@pytest.mark.parametrize(("text", "message"), [
    ('{"segments": [{"start": ' + "9" * 5001 + ', "end": 1}]}', "segments[0].start is a number with 5001 digits"),
    ('{"segments": [{"start": -' + "1" * 40 + ', "end": 1}]}', "segments[0].start is a number with 40 digits"),
    ('{"segments": [{"start": 0, "end": NaN}]}', "segments[0].end is NaN, which is not a number"),
    ('{"segments": [{"start": 0, "end": Infinity}]}', "segments[0].end is Infinity"),
    ('{"segments": [{"start": 0, "end": -Infinity}]}', "segments[0].end is -Infinity"),
    ('{"segments": [{"start": 0, "end": 1e400}]}', "segments[0].end is 1e400, too large a number"),
    ('{"segments": [{"start": 0, "end": 1, "end": 2}]}', "segments[0] has the key 'end' twice"),
    ('{"segments": [{"start": 0, "end": 1, "text": "\\ud800"}]}', "segments[0].text holds a lone surrogate"),
    ('{"segments": ' + "[" * 100_000 + "]" * 100_000 + "}", "is nested far too deeply"),  # RecursionError
    ('{"segments": ' + "[" * 30 + "]" * 30 + "}", f"is nested more than {MAX_JSON_DEPTH} levels deep"),
    ('{"segments": [}', "is not valid JSON"),
    ("[]", "must be an object, not a list"),
    ('{"segs": []}', "is missing 'segments'"),
])
def test_a_track_file_the_json_reader_refuses(tmp_path: Path, text: str, message: str) -> None:
    _refused(_write(tmp_path / "bad.json", text), message)


def test_a_track_that_is_not_utf8_or_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "latin1.json").write_bytes('{"segments": [{"start": 0, "end": 1, "text": "café"}]}'.encode("latin-1"))
    _refused(tmp_path / "latin1.json", "is not UTF-8 text")
    with pytest.raises(FormatError, match="no instruction track at"):
        read_track(tmp_path)  # a folder
    with pytest.raises(FormatError, match="no instruction track at"):
        read_track(tmp_path / "missing.json")


def test_read_json_never_reads_an_endless_file(tmp_path: Path) -> None:
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.json")  # opening it would block forever
    for name in ("zero.json", "fifo.json"):
        with pytest.raises(FormatError, match="no model card at"):
            read_json(tmp_path / name, "model card")
    _write(tmp_path / "big.json", "[" + "0," * 600 + "0]")
    with pytest.raises(FormatError, match="is larger than 1024 bytes, the most a model card may be"):
        read_json(tmp_path / "big.json", "model card", max_bytes=1024)


def test_a_valid_track_still_reads_with_the_extras_analyze_writes(tmp_path: Path) -> None:
    segments = [Segment(0.0, 1.5, Instruction("happy", 0.6, {"AU12": 0.5})),
                Segment(1.5, 3.0, Instruction("sad", 0.4, {"AU15": 0.3, "AU45L": 1.0}), "my own words")]
    doc = track_to_dict(segments)
    doc["segments"][0].update(confidence=0.4, emotion_probabilities={"happy": 0.4}, source="stage 1")
    doc["meta"] = {"model": "avi-stage1", "llm": None, "duration": 3.0, "warnings": []}
    path = tmp_path / "track.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode())  # a BOM is tolerated
    back = read_track(path)
    assert [(s.start, s.end, s.instruction, s.text) for s in back] == \
        [(s.start, s.end, s.instruction, s.text or doc["segments"][k]["text"]) for k, s in enumerate(segments)]
    # integers are numbers; a whole number written 2.0 is fine too
    assert read_track(_write(tmp_path / "ints.json", {"segments": [{"start": 0, "end": 2}]}))[0].end == 2.0


def test_overlap_names_both_segments(tmp_path: Path) -> None:
    doc = {"segments": [{"start": 0, "end": 2}, {"start": 1.5, "end": 3}]}
    _refused(_write(tmp_path / "o.json", doc), "segments[1].start (1.500 s) is before segments[0] ends (2.000 s)")


def test_in_process_readers_use_the_same_checks() -> None:
    with pytest.raises(FormatError, match=r"^instruction track: segments\[0\]\.start must be a number, not a boolean"):
        track_from_dict({"segments": [{"start": True, "end": 1}]})
    with pytest.raises(FormatError, match=r"^instruction segment: start must be a finite number, not nan"):
        segment_from_dict({"start": math.nan, "end": 1})
    with pytest.raises(FormatError, match=r"^instruction segment must be an object, not a string"):
        segment_from_dict("0..1")  # type: ignore[arg-type]
    with pytest.raises(FormatError, match=r"^instruction: intensity must be a number, not a string"):
        Instruction.from_dict({"emotion": "happy", "intensity": "0.5"})
    with pytest.raises(FormatError, match="intensity must be a number between 0 and 1, not bool"):
        Instruction("happy", True)  # type: ignore[arg-type]
    with pytest.raises(FormatError, match="must be a number between 0 and 1, not str"):
        Instruction("happy", 0.5, {"AU12": "0.5"})  # type: ignore[dict-item]
    with pytest.raises(FormatError, match=r"segments\[1\] must be an object, not a list"):
        track_from_dict({"segments": [{"start": 0, "end": 1}, []]})


# ---- instruction tracks: what a file may ask for (issue items 7 and 8) ----------------------------------


def test_segment_count_is_capped_before_any_segment_is_built(tmp_path: Path) -> None:
    one = {"start": 0, "end": 1}
    t0 = time.perf_counter()
    with pytest.raises(FormatError, match=f"segments has 1000000 items; at most {MAX_SEGMENTS} are allowed"):
        track_from_dict({"segments": [one] * 1_000_000})
    assert time.perf_counter() - t0 < 1.0  # refused at once, not after building a million segments
    doc = {"segments": [{"start": k, "end": k + 1} for k in range(MAX_SEGMENTS + 1)]}
    _refused(_write(tmp_path / "many.json", doc), f"segments has {MAX_SEGMENTS + 1} items")
    doc["segments"].pop()
    assert len(read_track(_write(tmp_path / "ok.json", doc))) == MAX_SEGMENTS


def test_file_size_is_capped_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"segments": [], "pad": "')
        fh.write("x" * MAX_TRACK_BYTES)
        fh.write('"}')
    _refused(path, f"is larger than {MAX_TRACK_BYTES // (1024 * 1024)} MiB")


def test_text_is_capped_per_segment_and_in_all(tmp_path: Path) -> None:
    _refused(_write(tmp_path / "long.json", _track(text="a" * (MAX_TEXT_CHARS + 1))),
             f"segments[0].text is {MAX_TEXT_CHARS + 1} characters long; at most {MAX_TEXT_CHARS} are allowed")
    assert len(read_track(_write(tmp_path / "edge.json", _track(text="a" * MAX_TEXT_CHARS)))[0].text) == MAX_TEXT_CHARS
    n = MAX_TRACK_TEXT_CHARS // MAX_TEXT_CHARS + 1
    doc = {"segments": [{"start": k, "end": k + 1, "text": "b" * MAX_TEXT_CHARS} for k in range(n)]}
    _refused(_write(tmp_path / "all.json", doc), f"segments hold {n * MAX_TEXT_CHARS} characters of text in all")


def test_check_track_against_audio_caps_segments_per_second_and_warns_past_the_end() -> None:
    segs = [Segment(k * 0.1, k * 0.1 + 0.1, Instruction()) for k in range(100)]  # 10 s of 0.1 s segments
    assert max_segments_for(10.0) == 40 and max_segments_for(0.5) == 16 and max_segments_for(1e9) == MAX_SEGMENTS
    with pytest.raises(FormatError, match="has 100 segments for 10.00 s of audio; at most 40 are allowed"):
        check_track_against_audio(segs, 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_track_against_audio(segs[:40], 10.0)  # within the cap, none past the end: silent
        check_track_against_audio([Segment(9.0, 12.0, Instruction())], 10.0)  # runs over the end: fine
    past = [Segment(0.0, 5.0, Instruction()), Segment(10.0, 11.0, Instruction()), Segment(11.0, 12.0, Instruction())]
    with pytest.warns(UserWarning, match=r"segments\[1\] starts at 10.00 s, after the audio ends \(10.00 s\) "
                                         r"\(and 1 more\): it has no effect"):
        check_track_against_audio(past, 10.0)


def test_parser_reads_at_most_the_cap_and_never_raises_on_odd_unicode() -> None:
    t0 = time.perf_counter()
    result = parse("angry " * 1_000_000)  # 6 MB
    assert time.perf_counter() - t0 < 2.0
    assert result.instruction.emotion == "angry"
    assert result.warnings[0] == f"only the first {MAX_TEXT_CHARS} of 6000000 characters were read"
    odd = "\ud800 \u202eyppah\u202c \u212aelvin \u017fmile \u0130 \u0661\u0662% AU\u0661\u0662 " + "\U0001f600" * 50
    assert isinstance(parse(odd).instruction, Instruction)
    assert parse("9" * 5000).instruction == Instruction()


# ---- the schema itself ------------------------------------------------------------------------------------


def test_spec_messages_and_bounds() -> None:
    spec = Obj({"n": Int(1, 10), "x": Opt(Num(0.0, above=True)), "names": Opt(ListOf(Str(max_len=3), max_items=2)),
                "map": Opt(MapOf(Num(), max_items=1)), "sha": Opt(SHA256)}, extra="refuse")
    assert validate({"n": 3.0, "x": 2}, spec, "w") == {"n": 3, "x": 2.0}
    cases = [({"n": 3.5}, "w: n must be a whole number, not 3.5"), ({"n": 11}, "w: n must be between 1 and 10, not 11"),
             ({"n": 10**5000}, "w: n must be between 1 and 10, not a number too large to show"),
             ({"n": 1, "x": 0}, "w: x must be more than 0, not 0"), ({"n": 1, "x": math.inf}, "x must be a finite"),
             ({"n": 1, "names": ["abcd"]}, "names[0] is 4 characters long; at most 3 are allowed"),
             ({"n": 1, "names": ["a"] * 3}, "names has 3 items; at most 2 are allowed"),
             ({"n": 1, "map": {"a": 1, "b": 2}}, "map has 2 entries; at most 1 are allowed"),
             ({"n": 1, "sha": "xyz"}, "sha must be a sha256 (64 hexadecimal digits), not 'xyz'"),
             ({"n": 1, "wings": 2}, "w has an unknown key 'wings' (known: n, x, names, map, sha)"),
             ({"n": 1, "map": {"a\nb\x1b[31m": "s"}}, "w: map['a\\nb\\x1b[31m'] must be a number, not a string")]
    for value, message in cases:
        with pytest.raises(FormatError) as info:
            validate(value, spec, "w")
        assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_confined_file(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "w.safetensors").write_bytes(b"x")
    assert confined_file(folder, "sub/w.safetensors", "weights") == (folder / "sub" / "w.safetensors").resolve()
    for bad in ("../elsewhere/x", "/etc/passwd", "sub/../../x", "", "sub\\..\\x", "C:/x", "a\0b"):
        with pytest.raises(FormatError, match="must be a relative path inside"):
            confined_file(folder, bad, "weights")
    (tmp_path / "outside.safetensors").write_bytes(b"x")
    (folder / "link.safetensors").symlink_to(tmp_path / "outside.safetensors")
    with pytest.raises(FormatError, match="leads outside .* through a symbolic link"):
        confined_file(folder, "link.safetensors", "weights")


# ---- stage-1 model cards (items 3 and 5) -----------------------------------------------------------------


def _stage1_copy(tmp_path: Path, edit: Any = None, name: str = "model") -> Path:
    folder = tmp_path / name
    shutil.copytree(STAGE1, folder)
    card = json.loads((folder / "model.json").read_text())
    if edit is not None:
        edit(card)
    (folder / "model.json").write_text(json.dumps(card))
    return folder


def test_the_shipped_cards_carry_their_hashes_and_load() -> None:
    card = json.loads((STAGE1 / "model.json").read_text())
    assert card["weights_sha256"] == hashlib.sha256((STAGE1 / card["weights"]).read_bytes()).hexdigest()
    assert load_stage1(STAGE1).tensors
    card2 = json.loads((STAGE2 / "model_card.json").read_text())
    assert card2["sha256"] == hashlib.sha256((STAGE2 / card2["weights"]).read_bytes()).hexdigest()


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["calibration"].update(temperature="hot"), "calibration.temperature must be a number, not a string"),
    (lambda c: c["calibration"].update(temperature=0), "calibration.temperature must be more than 0"),
    (lambda c: c["thresholds"].update(au_present=True), "thresholds.au_present must be a number, not a boolean"),
    (lambda c: c.update(format_version="abc"), "format_version must be a whole number, not a string"),
    (lambda c: c["config"].update(hidden=[128, 10**9]), "config.hidden[1] must be between 1 and 4096"),
    (lambda c: c["config"].update(boundary_hidden=None), "config.boundary_hidden must be a whole number, not null"),
    (lambda c: c["normalisation"].update(mean="0"), "normalisation.mean must be a list, not a string"),
    (lambda c: c.pop("weights_sha256"), "is missing 'weights_sha256'"),
    (lambda c: c.update(weights_sha256="0" * 63), "weights_sha256 must be a sha256"),
    (lambda c: c.update(weights="../elsewhere/model.safetensors"), "must be a relative path inside"),
    (lambda c: c.update(weights=str(STAGE1.resolve() / "model.safetensors")), "must be a relative path inside"),
])
def test_a_bad_stage1_card_is_refused(tmp_path: Path, edit: Any, message: str) -> None:
    shutil.copytree(STAGE1, tmp_path / "elsewhere")  # a valid escape target: refused all the same
    folder = _stage1_copy(tmp_path, edit)
    with pytest.raises(FormatError) as info:
        load_stage1(folder)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_stage1_weights_behind_a_link_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    shutil.copytree(STAGE1, tmp_path / "elsewhere")
    folder = _stage1_copy(tmp_path, lambda c: c.update(weights="w.safetensors"))
    (folder / "w.safetensors").symlink_to(tmp_path / "elsewhere" / "model.safetensors")
    with pytest.raises(FormatError, match="leads outside .* through a symbolic link"):
        load_stage1(folder)
    os.remove(folder / "w.safetensors")
    os.link(folder / "model.safetensors", folder / "w.safetensors")  # inside the folder: fine
    assert load_stage1(folder).tensors


def test_analyze_refuses_a_bad_stage1_card_before_any_audio_work(tmp_path: Path) -> None:
    folder = _stage1_copy(tmp_path, lambda c: c["calibration"].update(temperature="hot"))
    out = tmp_path / "track.json"
    proc = run_cli("analyze", str(SAMPLE), "-o", str(out), "--weights", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: stage-1 model card "), proc.stderr
    assert "calibration.temperature must be a number, not a string" in lines[0]
    assert not out.exists()


# ---- stage-2 model cards (items 3 and 5; torch) ----------------------------------------------------------


def _stage2_copy(tmp_path: Path, edit: Any = None, name: str = "s2") -> Path:
    folder = tmp_path / name
    shutil.copytree(STAGE2, folder)
    card = json.loads((folder / "model_card.json").read_text())
    if edit is not None:
        edit(card)
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c.update(fps="abc"), "fps must be a number, not a string"),
    (lambda c: c.update(card_version="abc"), "card_version must be a whole number, not a string"),
    (lambda c: c.update(card_version=True), "card_version must be a whole number, not a boolean"),
    (lambda c: c["config"].update(channels=10**9), "config.channels must be between 1 and 4096"),
    (lambda c: c["config"].update(ddim_steps=True), "config.ddim_steps must be a whole number, not a boolean"),
    (lambda c: c["config"].update(encoder_dilations=7), "config.encoder_dilations must be a list, not a number"),
    (lambda c: c["config"].update(guidance="2"), "config.guidance must be a number, not a string"),
    (lambda c: c["config"].update(wings=2), "config has an unknown key 'wings'"),
    (lambda c: c.update(tensors={"net.x": [3, "4"]}), "tensors['net.x'][1] must be a whole number, not a string"),
    (lambda c: c.pop("sha256"), "is missing 'sha256'"),
    (lambda c: c.update(weights="../elsewhere/model.safetensors"), "must be a relative path inside"),
])
def test_a_bad_stage2_card_is_refused(tmp_path: Path, edit: Any, message: str) -> None:
    pytest.importorskip("torch")
    from avi_talking.core.stage2 import weights

    shutil.copytree(STAGE2, tmp_path / "elsewhere")  # a valid escape target: refused all the same
    folder = _stage2_copy(tmp_path, edit)
    with pytest.raises(FormatError) as info:
        weights.load(folder)
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_stage2_weights_are_loaded_only_with_their_hash(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avi_talking.core.stage2 import weights

    folder = _stage2_copy(tmp_path)
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-5] ^= 0x01  # one bit of one weight: still a valid file
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(FormatError, match="does not match the sha256 in model_card.json"):
        weights.load(folder)
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(STAGE2 / "model.safetensors", tmp_path / "elsewhere" / "model.safetensors")
    linked = _stage2_copy(tmp_path, lambda c: c.update(weights="w.safetensors"), name="linked")
    (linked / "w.safetensors").symlink_to(tmp_path / "elsewhere" / "model.safetensors")
    with pytest.raises(FormatError, match="leads outside .* through a symbolic link"):
        weights.load(linked)
    net, prior, card = weights.load(_stage2_copy(tmp_path, name="fine"))
    assert card["sha256"] == hashlib.sha256((STAGE2 / "model.safetensors").read_bytes()).hexdigest()


def test_checkpoint_state_is_checked(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avi_talking.core.stage2 import checkpoint

    (tmp_path / checkpoint.STATE).write_text(json.dumps({"phase": "one"}))
    with pytest.raises(FormatError, match=r"checkpoint .*checkpoint.json: phase must be a whole number, not a string"):
        checkpoint.load(tmp_path)
    (tmp_path / checkpoint.STATE).write_text("[" * 50_000 + "]" * 50_000)
    with pytest.raises(FormatError, match="nested far too deeply"):
        checkpoint.load(tmp_path)


def test_add_metrics_reads_the_evaluation_safely(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avi_talking.core.stage2 import weights

    folder = _stage2_copy(tmp_path)
    before = (folder / "model_card.json").read_bytes()
    bad = _write(tmp_path / "metrics.json", '{"summary": {"lve_mm": NaN}}')
    with pytest.raises(FormatError, match=r"evaluation .*metrics.json: summary.lve_mm is NaN"):
        weights.add_metrics(folder, "x", bad)
    _write(bad, {"summary": {"lve_mm": "small"}})
    with pytest.raises(FormatError, match="summary.lve_mm must be a number or null, not a string"):
        weights.add_metrics(folder, "x", bad)
    assert (folder / "model_card.json").read_bytes() == before  # the card is untouched
    entry = weights.add_metrics(folder, "x", _write(bad, {"summary": {"lve_mm": 1.5, "fdd_mm": None}, "command": "c"}))
    assert entry == {"lve_mm": 1.5, "fdd_mm": None, "command": "c"}


# ---- the LLM adapter card (torch) -------------------------------------------------------------------------


def test_a_bad_adapter_card_is_refused_before_the_language_model_is_touched(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from avi_talking.core.instructions.adapter import build_adapter, load_adapter, save_adapter

    card = {"format": "avi-talking-llm-adapter", "format_version": 1, "n_features": 3, "n_tokens": 2,
            "embed_dim": 8, "hidden": 4, "normalisation": {"mean": [0.0] * 3, "std": [1.0] * 3}}
    save_adapter(tmp_path / "ad", build_adapter(3, 2, 8, 4, 1.0), card)
    good = json.loads((tmp_path / "ad" / "adapter.json").read_text())
    cases = [(lambda c: c.update(n_tokens="2"), "n_tokens must be a whole number, not a string"),
             (lambda c: c.update(hidden=10**12), "hidden must be between 1 and 16384"),
             (lambda c: c["normalisation"].update(std=[1.0, 0.0, 1.0]), "normalisation.std[1] must be more than 0"),
             (lambda c: c.pop("weights_sha256"), "is missing 'weights_sha256'"),
             (lambda c: c.update(weights="../ad2/adapter.safetensors"), "must be a relative path inside")]
    shutil.copytree(tmp_path / "ad", tmp_path / "ad2")
    for edit, message in cases:
        card = json.loads(json.dumps(good))
        edit(card)
        (tmp_path / "ad" / "adapter.json").write_text(json.dumps(card))
        with pytest.raises(FormatError) as info:
            load_adapter(tmp_path / "ad", None)  # the card fails before the language model is asked anything
        assert message in str(info.value), str(info.value)


def test_adapter_sizes_are_compared_before_anything_is_allocated(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from avi_talking.core.instructions.adapter import build_adapter, load_adapter, save_adapter

    card = {"format": "avi-talking-llm-adapter", "format_version": 1, "n_features": 3, "n_tokens": 2,
            "embed_dim": 8, "hidden": 4, "normalisation": {"mean": [0.0] * 3, "std": [1.0] * 3}}
    save_adapter(tmp_path / "ad", build_adapter(3, 2, 8, 4, 1.0), card)
    lm = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2))
    assert load_adapter(tmp_path / "ad", lm).embed(torch.zeros(3).numpy()).shape == (1, 2, 8)
    big = json.loads((tmp_path / "ad" / "adapter.json").read_text())
    big.update(n_tokens=256, hidden=16_384)  # 2048 x 16384 floats if it were built before the comparison
    (tmp_path / "ad" / "adapter.json").write_text(json.dumps(big))
    with pytest.raises(FormatError, match="do not match the card's sizes"):
        load_adapter(tmp_path / "ad", lm)


# ---- eval model cards ------------------------------------------------------------------------------------------


def test_eval_model_card_is_read_safely(tmp_path: Path) -> None:
    weights = tmp_path / "net.safetensors"
    weights.write_bytes(b"\0")
    for text, message in [('{"architecture": 5}', "architecture must be a string, not a number"),
                          ('{"architecture": "' + "a" * 500 + '"}', "architecture is 500 characters long"),
                          ("[" * 100_000, "nested far too deeply"),
                          ('{"architecture": "x", "n": ' + "1" * 5000 + "}", "n is a number with 5000 digits")]:
        _write(tmp_path / "net.json", text)
        with pytest.raises(AviTalkError) as info:
            load_eval_model(str(weights))
        assert message in str(info.value) and "model card" in str(info.value), str(info.value)


# ---- the command line -----------------------------------------------------------------------------------------


def _generate(tmp_path: Path, *extra: str) -> tuple[Any, Path]:
    out = tmp_path / "out.npz"
    proc = run_cli("generate", str(SAMPLE), "-o", str(out), "--model", "procedural", *extra)
    return proc, out


@pytest.mark.parametrize(("text", "message"), [
    ('{"segments": [5]}', "segments[0] must be an object, not a number"),
    ('{"segments": [{"start": true, "end": 1}]}', "segments[0].start must be a number, not a boolean"),
    ('{"segments": [{"start": 0, "end": ' + "7" * 5001 + "}]}", "segments[0].end is a number with 5001 digits"),
    ('{"segments": ' + "[" * 100_000 + "]" * 100_000 + "}", "is nested far too deeply"),
])
def test_generate_refuses_a_bad_track_with_one_error_line(tmp_path: Path, text: str, message: str) -> None:
    track = _write(tmp_path / "bad.json", text)
    proc, out = _generate(tmp_path, "--instructions", str(track))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: instruction track {track}"), proc.stderr
    assert message in lines[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]


def test_generate_refuses_too_long_text(tmp_path: Path) -> None:
    proc, out = _generate(tmp_path, "--text", "happy " * 400)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: --text is 2400 characters long; at most {MAX_TEXT_CHARS} are allowed"
    assert not out.exists()


def test_generate_with_a_valid_track_still_works(tmp_path: Path) -> None:
    track = _write(tmp_path / "ok.json", _track())
    proc, out = _generate(tmp_path, "--instructions", str(track))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()
