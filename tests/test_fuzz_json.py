"""Fuzz suite for issue #13: arbitrary JSON, and valid instruction tracks and model cards mutated at every
path, go through the real readers in-process. Whatever the file holds, only a FormatError / AviTalkError
may escape (never a TypeError, ValueError, RecursionError, OverflowError ...), what is accepted keeps
its invariants, and nothing is written. A few refused mutations are then run through the real CLI: exit
2, one ``error:`` line (the very message the reader gave in-process) and no output file.

About 3000 Hypothesis examples in all, derandomized so CI sees the same cases every run."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from avi_talking.core.common.errors import AviTalkError, FormatError
from avi_talking.core.eval.registry import load_model as load_eval_model
from avi_talking.core.instructions import MAX_TEXT_CHARS, Instruction, Segment, parse, read_track, track_to_dict
from avi_talking.core.instructions.track import MAX_SEGMENTS
from avi_talking.core.stage1.model import Stage1Model
from avi_talking.core.stage1.model import load_model as load_stage1

from conftest import run_cli
from json_mutation import mutate, paths

ROOT = Path(__file__).resolve().parents[1]
STAGE1 = ROOT / "weights" / "stage1"
STAGE2 = ROOT / "weights" / "stage2"
SAMPLE = ROOT / "samples" / "sample.wav"
BIG = "__BIG_NUMBER__"  # replaced by 5001 digits after json.dumps (which cannot write such an int itself)
DEEP = "__DEEP__"  # replaced by lists nested 100 000 deep (json.dumps would recurse on them)

FUZZ = dict(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow, HealthCheck.data_too_large])

# ---- strategies -------------------------------------------------------------------------------------------

NASTY = [True, False, None, "", "abc", "0.5", "\ud800", "a" * (MAX_TEXT_CHARS + 1), 0, -1, 1, 0.5, 2.0, -0.0, 1e308,
         -1e308, 5e-324, math.nan, math.inf, -math.inf, 10**40, [], {}, [[[]]], {"": {}}, [0.5, 0.5], BIG, DEEP]
SCALARS = (st.none() | st.booleans() | st.integers(-10**40, 10**40) | st.floats() | st.text(max_size=40)
           | st.sampled_from(NASTY))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                                          max_size=5), max_leaves=25)
RAW_TOKENS = ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5001, "-" + "1" * 40, "true", "null", "[", "]", "{", "}",
              '"', ",", ":", "\\ud800", "\\u0000", "[" * 5000, "\x00", "\ufeff", "0.", "-", "1e", '"x":1,"x":2']


def _dump(doc: Any, ascii_only: bool = False) -> str:
    """JSON text; with ``ascii_only`` a lone surrogate is written as a \\ud800 escape, else as is (and
    ``_write`` encodes it as the invalid UTF-8 some tools produce)."""
    text = json.dumps(doc, ensure_ascii=ascii_only).replace(f'"{BIG}"', "9" * 5001)
    return text.replace(f'"{DEEP}"', "[" * 100_000 + "]" * 100_000)


def _write(path: Path, text: str) -> None:
    path.write_bytes(text.encode("utf-8", "surrogatepass"))


MUTATION = st.tuples(st.sampled_from(["replace", "replace", "replace", "delete", "wrap", "double", "add"]), JSON,
                     st.text(max_size=8) | st.sampled_from(["start", "end", "aus", "AU12", "au12", "emotion"]))


def _mutated(data: st.DataObject, doc: Any) -> str:
    path = data.draw(st.sampled_from(paths(doc)), label="path")
    kind, new, key = data.draw(MUTATION, label="mutation")
    return _dump(mutate(doc, path, kind, new, key))


def _raw_mutated(data: st.DataObject, text: str) -> str:
    """Byte-level damage: a token inserted, a span cut, or both."""
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        at = data.draw(st.integers(0, len(text)), label="at")
        if data.draw(st.booleans(), label="cut"):
            text = text[:at] + text[at + data.draw(st.integers(1, 20), label="span"):]
        else:
            text = text[:at] + data.draw(st.sampled_from(RAW_TOKENS), label="token") + text[at:]
    return text


def _base_track() -> dict[str, Any]:
    segments = [Segment(0.0, 1.5, Instruction("happy", 0.6, {"AU12": 0.5, "AU6": 0.3})),
                Segment(1.5, 3.0, Instruction("sad", 0.4, {"AU15": 0.3, "AU45L": 1.0}), "my own words"),
                Segment(3.2, 4.0, Instruction())]
    doc = track_to_dict(segments)
    doc["segments"][0].update(confidence=0.4, emotion_probabilities={"happy": 0.4, "sad": 0.1}, source="stage 1")
    doc["meta"] = {"model": "avi-stage1", "llm": None, "duration": 4.0, "warnings": ["w"]}
    return doc


BASE_TRACK = _base_track()


# ---- checks on what a reader returns -------------------------------------------------------------------------


def _check_track(path: Path) -> None:
    try:
        segments = read_track(path)
    except FormatError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert len(segments) <= MAX_SEGMENTS
    for a, b in zip(segments, segments[1:], strict=False):
        assert b.start >= a.end - 1e-6
    for s in segments:
        assert type(s.start) is float and type(s.end) is float and 0.0 <= s.start < s.end
        assert isinstance(s.text, str) and len(s.text) <= MAX_TEXT_CHARS
        instr = s.instruction
        assert type(instr.intensity) is float and 0.0 <= instr.intensity <= 1.0
        assert all(type(v) is float and 0.0 <= v <= 1.0 for v in instr.aus.values())


def _only_user_errors(call: Any) -> Any:
    """Run a reader: its result, or None when it refused the input with a one-line AviTalkError."""
    try:
        return call()
    except AviTalkError as exc:  # FormatError included
        assert "\n" not in str(exc)
        return None


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ---- arbitrary JSON into every reader ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage1_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz_stage1") / "model"
    shutil.copytree(STAGE1, folder)
    return folder


@settings(max_examples=500, **FUZZ)
@given(value=JSON, wrap=st.sampled_from(["bare", "segments", "segment", "card"]))
def test_arbitrary_json_into_every_reader(tmp_path: Path, stage1_copy: Path, value: Any, wrap: str) -> None:
    doc = {"bare": value, "segments": {"segments": value}, "segment": {"segments": [value]},
           "card": {"format": "avi-talking-stage1", "weights_sha256": "0" * 64, "config": value}}[wrap]
    text = _dump(doc, ascii_only=True)
    track = tmp_path / "track.json"
    _write(track, text)
    before = _listing(tmp_path)
    _check_track(track)
    weights = tmp_path / "net.safetensors"
    if not weights.exists():
        weights.write_bytes(b"\0")
    _write(tmp_path / "net.json", text)
    _only_user_errors(lambda: load_eval_model(str(weights)))
    _write(stage1_copy / "model.json", text)
    _only_user_errors(lambda: load_stage1(stage1_copy))
    assert _listing(tmp_path) == sorted({*before, "net.json", "net.safetensors"})


# ---- instruction tracks -------------------------------------------------------------------------------------------


@settings(max_examples=800, **FUZZ)
@given(data=st.data())
def test_track_mutated_at_every_path(tmp_path: Path, data: st.DataObject) -> None:
    track = tmp_path / "track.json"
    _write(track, _mutated(data, BASE_TRACK))
    _check_track(track)
    assert _listing(tmp_path) == ["track.json"]


@settings(max_examples=400, **FUZZ)
@given(data=st.data())
def test_track_damaged_byte_by_byte(tmp_path: Path, data: st.DataObject) -> None:
    track = tmp_path / "track.json"
    _write(track, _raw_mutated(data, json.dumps(BASE_TRACK, indent=1)))
    _check_track(track)
    assert _listing(tmp_path) == ["track.json"]


# ---- model cards --------------------------------------------------------------------------------------------------


STAGE1_CARD = json.loads((STAGE1 / "model.json").read_text(encoding="utf-8"))


@settings(max_examples=450, **FUZZ)
@given(data=st.data())
def test_stage1_card_mutated_at_every_path(stage1_copy: Path, data: st.DataObject) -> None:
    _write(stage1_copy / "model.json", _mutated(data, STAGE1_CARD))
    model = _only_user_errors(lambda: load_stage1(stage1_copy))
    if model is not None:
        assert isinstance(model, Stage1Model) and model.temperature > 0 and math.isfinite(model.temperature)
        assert 0.0 <= model.au_threshold <= 1.0 and (model.std > 0).all()
    assert _listing(stage1_copy) == ["model.json", "model.safetensors"]


@pytest.fixture(scope="module")
def stage2_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("fuzz_stage2") / "s2"
    shutil.copytree(STAGE2, folder)
    return folder


STAGE2_CARD = json.loads((STAGE2 / "model_card.json").read_text(encoding="utf-8"))
# the paths whose values decide what is loaded (the card's record of training and metrics is only kept)
STAGE2_DECIDING = [p for p in paths(STAGE2_CARD)
                   if not p or p[0] in ("format", "card_version", "architecture", "weights", "sha256", "config",
                                        "space", "fps") or p in (("channels",), ("tensors",))]


@settings(max_examples=300, **FUZZ)
@given(data=st.data())
def test_stage2_card_mutated_at_every_path(stage2_copy: Path, data: st.DataObject) -> None:
    from avi_talking.core.stage2 import weights
    from avi_talking.core.stage2.config import Stage2Config

    _write(stage2_copy / "model_card.json", _mutated(data, STAGE2_CARD))
    card = _only_user_errors(lambda: weights.read_card(stage2_copy))
    if card is not None:
        cfg = _only_user_errors(lambda: Stage2Config.from_dict(card["config"]))
        assert cfg is None or (cfg.fps > 0 and cfg.channels >= 1)
    assert _listing(stage2_copy) == ["model.safetensors", "model_card.json"]


@settings(max_examples=40, **FUZZ)
@given(data=st.data())
def test_stage2_card_mutated_where_it_decides_the_load(stage2_copy: Path, data: st.DataObject) -> None:
    from avi_talking.core.stage2 import weights

    path = data.draw(st.sampled_from(STAGE2_DECIDING), label="path")
    kind, new, key = data.draw(MUTATION, label="mutation")
    _write(stage2_copy / "model_card.json", _dump(mutate(STAGE2_CARD, path, kind, new, key)))
    _only_user_errors(lambda: weights.load(stage2_copy))
    assert _listing(stage2_copy) == ["model.safetensors", "model_card.json"]


@pytest.fixture(scope="module")
def adapter_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], Any]:
    pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from avi_talking.core.instructions.adapter import build_adapter, save_adapter

    folder = tmp_path_factory.mktemp("fuzz_adapter") / "ad"
    card = {"format": "avi-talking-llm-adapter", "format_version": 1, "n_features": 3, "n_tokens": 2,
            "embed_dim": 8, "hidden": 4, "normalisation": {"mean": [0.0] * 3, "std": [1.0] * 3}}
    save_adapter(folder, build_adapter(3, 2, 8, 4, 1.0), card)
    lm = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        vocab_size=32, hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2))  # a real (tiny) language model with 8-wide embeddings
    return folder, json.loads((folder / "adapter.json").read_text(encoding="utf-8")), lm


@settings(max_examples=150, **FUZZ)
@given(data=st.data())
def test_adapter_card_mutated_at_every_path(adapter_copy: tuple[Path, dict[str, Any], Any],
                                            data: st.DataObject) -> None:
    from avi_talking.core.instructions.adapter import load_adapter

    folder, card, lm = adapter_copy
    _write(folder / "adapter.json", _mutated(data, card))
    loaded = _only_user_errors(lambda: load_adapter(folder, lm))
    if loaded is not None:
        assert tuple(loaded.embed([0.1, 0.2, 0.3]).shape) == (1, loaded.card["n_tokens"], 8)
    assert _listing(folder) == ["adapter.json", "adapter.safetensors"]


@pytest.fixture(scope="module")
def checkpoint_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    torch = pytest.importorskip("torch")
    from avi_talking.core.stage2 import checkpoint
    from avi_talking.core.stage2.config import Stage2Config

    folder = tmp_path_factory.mktemp("fuzz_checkpoint")
    state = {"phase": 1, "epoch": 2, "batch": 0, "step": 10, "prior_step": 0, "seconds": 1.5, "history": [{"l": 1}],
             "optimizer": {"steps": {"0": 10.0}, "param_groups": [{"lr": 0.001, "params": [0]}]},
             "prior_optimizer": {"steps": {}, "param_groups": [{"lr": 0.001, "params": [0]}]},
             "config": Stage2Config().to_dict(), "options": {"seed": 0}}
    checkpoint.save(folder, {"net.w": torch.zeros(2), "rng.torch": torch.get_rng_state()}, state)
    return folder, json.loads((folder / checkpoint.STATE).read_text(encoding="utf-8"))


@settings(max_examples=150, **FUZZ)
@given(data=st.data())
def test_checkpoint_state_mutated_at_every_path(checkpoint_copy: tuple[Path, dict[str, Any]],
                                                data: st.DataObject) -> None:
    from avi_talking.core.stage2 import checkpoint
    from avi_talking.core.stage2.config import Stage2Config

    folder, state = checkpoint_copy
    _write(folder / checkpoint.STATE, _mutated(data, state))
    found = _only_user_errors(lambda: checkpoint.load(folder))
    if found is not None:
        _only_user_errors(lambda: Stage2Config.from_dict(found[1]["config"]))
    assert _listing(folder) == [checkpoint.STATE, checkpoint.TENSORS]


# ---- free text --------------------------------------------------------------------------------------------------

WORDS = ["angry", "happy", "very", "slightly", "not", "without", "brow", "brows", "lowered", "lips", "pressed", "left",
         "smile", "furowed", "AU12", "au 4l", "50%", "0.7", "1e9", "9" * 400, ",", ".", "(", "\u2019", "\u212aelvin",
         "\u017fmile", "\u0130", "\u0661\u0662%", "\ud800", "\u202e", "\U0001f600", "\x00"]


@settings(max_examples=300, **FUZZ)
@given(text=st.text(max_size=2 * MAX_TEXT_CHARS) | st.lists(st.sampled_from(WORDS) | st.text(max_size=12),
                                                            max_size=80).map(" ".join))
def test_parser_never_raises(text: str) -> None:
    result = parse(text)
    assert isinstance(result.instruction, Instruction)
    assert all(0 <= span.start <= span.end <= min(len(text), MAX_TEXT_CHARS) for span in result.understood)


# ---- the command line --------------------------------------------------------------------------------------------


def _refused_mutations(count: int) -> list[str]:
    """The first ``count`` seeded mutations of the base track that the reader refuses in-process."""
    out: list[str] = []
    seed = 0
    while len(out) < count:
        rng = random.Random(seed)
        seed += 1
        every = paths(BASE_TRACK)
        path = every[rng.randrange(len(every))]
        new = rng.choice(NASTY)
        out.append(_dump(mutate(BASE_TRACK, path, rng.choice(["replace", "delete", "wrap"]), new, "x")))
        try:
            read_track_text(out[-1])
            out.pop()
        except FormatError:
            pass
    return out


def read_track_text(text: str) -> None:
    """read_track on ``text`` written to a scratch file (the CLI test compares messages, so one name)."""
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as tmp:
        path = Path(tmp) / "track.json"
        _write(path, text)
        read_track(path)


@pytest.mark.parametrize("k", range(4))
def test_cli_refuses_what_the_reader_refuses(tmp_path: Path, k: int) -> None:
    text = _refused_mutations(4)[k]
    track = tmp_path / "track.json"
    _write(track, text)
    with pytest.raises(FormatError) as info:
        read_track(track)
    out = tmp_path / "out.npz"
    proc = run_cli("generate", str(SAMPLE), "-o", str(out), "--model", "procedural", "--instructions", str(track))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {info.value}"]
    assert _listing(tmp_path) == ["track.json"]
