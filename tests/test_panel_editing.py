"""The segment editor inside real bpy: the structured editor and the text kept in step both ways, the
timeline markers (segments and words), jumping to a segment, the controls greyed while a job runs, the
frame rate the panel shows, and text wrapped at the sidebar's width.

The panels' ``draw`` runs against test_addon's recording layout (the bpy module has no window); the
windowed Blender 3.4 tests (test_blender_window.py) draw the same parts for real."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import SpokenClip, tone, write_audio

pytestmark = pytest.mark.bpy
bpy = pytest.importorskip("bpy")

from test_addon import RecordingLayout  # noqa: E402

from avi_talking.addon import compat, segments, timeline, ui_text, worker_session  # noqa: E402
from avi_talking.core.instructions.adverbs import bin_centre  # noqa: E402
from avi_talking.core.instructions.au_names import au_label  # noqa: E402
from avi_talking.core.instructions.parser import parse  # noqa: E402
from avi_talking.core.instructions.prototypes import expansion  # noqa: E402
from avi_talking.core.instructions.schema import AUS, EMOTIONS  # noqa: E402
from avi_talking.core.instructions.text import ADVERB_VALUE, ADVERBS, to_text  # noqa: E402
from avi_talking.core.lipsync.phone_timing import tokenize  # noqa: E402

QUITE = ADVERB_VALUE["quite"]  # a plain emotion word ("A sad person speaks.") reads one bin above the middle
BIN = 0.5 / len(ADVERBS)  # an adverb names a 1/7 bin and is read back as its centre: at most this far off
TRACK = [{"start": 0.0, "end": 1.5, "text": "A sad person speaks."},
         {"start": 1.5, "end": 3.2, "text": "A happy person speaks with lip corners strongly pulled up."}]


@pytest.fixture
def enabled():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="avi_talking")
    yield bpy.context.preferences.addons["avi_talking"].preferences
    worker_session.running = None
    bpy.ops.preferences.addon_disable(module="avi_talking")


def _scene(fps: int = 25, frame_start: int = 1) -> Any:
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_start = frame_start
    return scene


def _sliders(seg: Any) -> dict[str, float]:
    return {code: getattr(seg, segments.au_prop(code)) for code in AUS if getattr(seg, segments.au_prop(code)) > 0}


def _draw_main() -> list[str]:
    log: list[str] = []
    panel = type("P", (), {"layout": RecordingLayout(log)})()
    bpy.types.AVITALK_PT_main.draw(panel, bpy.context)
    return log


# ---- two-way editing -------------------------------------------------------------------------------------

def test_sliders_rewrite_the_text_and_the_parser_reads_them_back(enabled: Any) -> None:
    settings = _scene().avi_talking
    segments.fill(settings, TRACK)
    seg = settings.segments[0]
    # "sad" stands for its prototype's units, at the plain word's "quite"
    assert seg.edit_intensity == pytest.approx(QUITE) and _sliders(seg) == pytest.approx(prototype("sad", QUITE))
    seg.edit_emotion = "angry"
    assert seg.edit_intensity == pytest.approx(QUITE)  # sad's intensity stays
    # the sliders that showed sad's prototype now show angry's; the text needs no more than the emotion word
    assert _sliders(seg) == pytest.approx(prototype("angry", QUITE)) and seg.text == "A quite angry person speaks."
    seg.edit_intensity = 0.62
    assert _sliders(seg) == pytest.approx(prototype("angry", 0.62))  # the prototype follows the intensity
    seg.au_AU4 = 0.8
    setattr(seg, segments.au_prop("AU12L"), 0.55)
    # the sentence is the generator's for the sliders' structure, and what is baked is its reading
    assert seg.text == to_text(segments.structure(seg))
    assert seg.text == "A quite angry person speaks with brow strongly lowered and left lip corner fairly pulled up."
    reading = parse(seg.text).instruction
    assert reading.emotion == "angry" and abs(reading.intensity - 0.62) <= BIN + 1e-9
    assert set(reading.aus) == {"AU4", "AU12L"} | set(prototype("angry", 0.62))
    assert abs(reading.aus["AU4"] - 0.8) <= BIN + 1e-9 and abs(reading.aus["AU12L"] - 0.55) <= BIN + 1e-9
    assert seg.emotion == "angry" and json.loads(seg.aus) == pytest.approx(reading.aus)  # sent to the model
    # the sliders keep what the artist set (no snapping back while dragging)
    assert seg.edit_intensity == pytest.approx(0.62)
    assert _sliders(seg) == pytest.approx({**prototype("angry", 0.62), "AU4": 0.8, "AU12L": 0.55})
    assert segments.track(settings)[0]["aus"] == pytest.approx(reading.aus)
    # a prototype unit set to 0 leaves the reading: the text says so
    seg.au_AU5 = 0.0
    assert seg.text.endswith("but without upper lids raised.") and "AU5" not in parse(seg.text).instruction.aus
    # the panel shows the reading in one line, the emotion's units included
    assert segments.reading(seg).startswith("Read as: angry (0.64) → brow lowered 0.79, ")
    settings.active_segment = 0
    assert any(line.startswith(("label:Read as: angry (0.64)", "label:angry (0.64) + ")) for line in _draw_main())


def test_an_emotion_picked_from_neutral_starts_where_the_plain_word_reads(enabled: Any) -> None:
    settings = _scene().avi_talking
    segments.fill(settings, [{"start": 0.0, "end": 1.0, "text": "A person speaks."}])
    seg = settings.segments[0]
    assert seg.edit_intensity == 0.0
    seg.edit_emotion = "fearful"
    assert seg.edit_intensity == pytest.approx(segments.EMOTION_INTENSITY) == pytest.approx(QUITE)
    # the same reading as typing the word: picking and typing give one face
    assert parse(seg.text).instruction == parse("An afraid woman speaks.").instruction
    assert _sliders(seg) == pytest.approx(prototype("fearful", QUITE)) and seg.text == "A quite fearful person speaks."
    assert segments.reading(seg).startswith("Read as: fearful (0.64) → ")
    seg.edit_intensity = 0.5  # an explicit "fairly" stays fairly
    assert seg.text == "A fairly fearful person speaks." and parse(seg.text).instruction.intensity == 0.5


def prototype(emotion: str, intensity: float) -> dict[str, float]:
    """The units an emotion word stands for at ``intensity`` (as the parser reads them)."""
    return expansion(emotion, bin_centre(intensity))


@pytest.mark.parametrize("value", [0.05, 0.33, 0.5, 0.71, 0.97])
def test_every_action_unit_slider_survives_text_and_back(enabled: Any, value: float) -> None:
    settings = _scene().avi_talking
    segments.fill(settings, [{"start": 0.0, "end": 1.0, "text": "A person speaks."}])
    seg = settings.segments[0]
    for code in AUS:
        for other in AUS:
            setattr(seg, segments.au_prop(other), 0.0)
        setattr(seg, segments.au_prop(code), value)
        reading = parse(seg.text).instruction
        assert list(reading.aus) == [code], (code, seg.text)
        assert abs(reading.aus[code] - value) <= BIN + 1e-9, (code, seg.text)


def test_typed_text_moves_the_sliders_and_stays_as_typed(enabled: Any) -> None:
    settings = _scene().avi_talking
    segments.fill(settings, TRACK)
    seg = settings.segments[1]
    assert seg.edit_emotion == "happy" and _sliders(seg).keys() == {"AU6", "AU12"}  # filled from the analysis
    typed = "A very sad lady speaks, brows strongly knitted, left lip corner slightly up and zorbly ears"
    seg.text = typed
    assert seg.text == typed  # the editor does not rewrite what was typed
    reading = parse(typed).instruction
    assert seg.edit_emotion == "sad" and seg.edit_intensity == pytest.approx(reading.intensity)
    assert _sliders(seg) == pytest.approx(reading.aus) and "AU12L" in reading.aus
    assert "zorbly" in seg.ignored
    seg.text = "A person speaks."
    assert seg.edit_emotion == "neutral" and seg.edit_intensity == 0.0 and _sliders(seg) == {}


def test_action_unit_menu_and_dialog_edit_the_segment(enabled: Any) -> None:
    settings = _scene().avi_talking
    segments.fill(settings, TRACK)
    settings.active_segment = 0
    assert bpy.ops.avitalk.segment_au(au="AU26") == {"FINISHED"}  # the "Add Action Unit" menu's entry
    seg = settings.segments[0]
    sad = prototype("sad", QUITE)  # segment 0 is "A sad person speaks.": its prototype's units stay
    assert _sliders(seg) == pytest.approx({**sad, "AU26": segments.DEFAULT_INTENSITY})  # an added unit: "fairly"
    assert seg.text == "A quite sad person speaks with jaw fairly dropped."
    assert bpy.ops.avitalk.segment_au(au="AU26", value=0.0) == {"FINISHED"}
    assert _sliders(seg) == pytest.approx(sad) and seg.text == "A quite sad person speaks."
    long_text = "An extremely surprised person speaks with " + ", ".join(
        ["inner brows quite raised", "upper lids strongly raised", "jaw mildly dropped"] * 3) + "."
    assert bpy.ops.avitalk.segment_edit_text(index=1, text=long_text) == {"FINISHED"}
    assert settings.segments[1].text == long_text and settings.segments[1].edit_emotion == "surprised"
    with pytest.raises(RuntimeError, match="at most"):
        bpy.ops.avitalk.segment_edit_text(index=1, text="x" * 2001)
    with pytest.raises(RuntimeError, match="no segment 5"):
        bpy.ops.avitalk.segment_edit_text(index=4, text="A person speaks.")


def test_segments_saved_before_the_editor_show_their_reading_when_loaded(enabled: Any, tmp_path: Path) -> None:
    settings = _scene().avi_talking
    segments.fill(settings, TRACK)
    segments._syncing = True  # as a .blend from before the editor: a reading, and the editor at its defaults
    try:
        for seg in settings.segments:
            seg.edit_emotion, seg.edit_intensity = "neutral", 0.0
            for code in AUS:
                setattr(seg, segments.au_prop(code), 0.0)
    finally:
        segments._syncing = False
    texts = [seg.text for seg in settings.segments]
    path = tmp_path / "old.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.open_mainfile(filepath=str(path))  # the add-on's load handler runs
    loaded = bpy.context.scene.avi_talking.segments
    assert [seg.text for seg in loaded] == texts  # the text is left as it was
    assert [seg.edit_emotion for seg in loaded] == ["sad", "happy"] and _sliders(loaded[1]).keys() == {"AU6", "AU12"}
    assert len(bpy.context.scene.timeline_markers) == 2


# ---- timeline -------------------------------------------------------------------------------------------

def _markers(scene: Any) -> list[tuple[str, int]]:
    return sorted((m.name, m.frame) for m in scene.timeline_markers)


def test_segment_markers_follow_the_segments_and_leave_the_artists_alone(enabled: Any) -> None:
    scene = _scene(fps=25, frame_start=11)
    scene.timeline_markers.new("beat", frame=30)
    scene.timeline_markers.new("S2 happy", frame=200)  # the artist's, with a name like ours
    settings = scene.avi_talking
    segments.fill(settings, TRACK)  # as Analyze does
    ours = [("S1 sad", 11), ("S2 happy", 11 + round(1.5 * 25))]
    assert _markers(scene) == sorted([*ours, ("beat", 30), ("S2 happy", 200)])

    settings.segments[0].text = "An angry person speaks."  # renamed by its new reading
    assert ("S1 angry", 11) in _markers(scene) and ("S1 sad", 11) not in _markers(scene)
    settings.segments[0].end = 2.0  # retimed: the second segment's marker moves with its start
    assert ("S2 happy", 11 + 50) in _markers(scene) and ours[1] not in _markers(scene)
    settings.segments[0].au_AU4 = 0.9  # a slider: the text is rewritten, the reading still angry
    assert ("S1 angry", 11) in _markers(scene)

    scene.frame_current = 11 + 25  # split at the playhead (1.0 s): three markers, renumbered
    settings.active_segment = 0
    assert bpy.ops.avitalk.segment_split() == {"FINISHED"}
    assert [m for m in _markers(scene) if m[0].startswith("S") and m[1] != 200] == [
        ("S1 angry", 11), ("S2 angry", 36), ("S3 happy", 61)]
    assert bpy.ops.avitalk.segment_merge() == {"FINISHED"}  # the active (second) with the third
    assert ("S3 happy", 61) not in _markers(scene) and ("S2 angry", 36) in _markers(scene)

    # an artist's change to one of ours makes it theirs: moved, it stays when ours are replaced
    next(m for m in scene.timeline_markers if m.name == "S2 angry").frame = 40
    settings.segment_markers = False  # the option off: ours go, every artist's marker stays
    assert _markers(scene) == sorted([("beat", 30), ("S2 happy", 200), ("S2 angry", 40)])
    settings.segment_markers = True
    assert ("S1 angry", 11) in _markers(scene) and ("S2 angry", 36) in _markers(scene)
    segments.fill(settings, TRACK[:1])  # a new analysis replaces them
    assert _markers(scene) == sorted([("beat", 30), ("S2 happy", 200), ("S2 angry", 40), ("S1 sad", 11)])


def test_jump_moves_the_playhead_to_a_segments_start(enabled: Any) -> None:
    scene = _scene(fps=24, frame_start=5)
    settings = scene.avi_talking
    with pytest.raises(RuntimeError, match="run Analyze first"):
        bpy.ops.avitalk.segment_jump(index=0)
    segments.fill(settings, TRACK)
    assert bpy.ops.avitalk.segment_jump(index=1) == {"FINISHED"}
    assert scene.frame_current == 5 + 36 and settings.active_segment == 1  # 1.5 s at 24 fps
    assert scene.frame_current == next(m.frame for m in scene.timeline_markers if m.name == "S2 happy")
    settings.active_segment = 0
    assert bpy.ops.avitalk.segment_jump() == {"FINISHED"} and scene.frame_current == 5


def test_bake_moves_markers_to_its_rate_and_shows_the_waveform(enabled: Any, spoken: SpokenClip,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    scene = _scene(fps=24)
    bpy.ops.avitalk.add_head()
    settings = scene.avi_talking
    settings.audio_path, settings.transcript = str(spoken.path), spoken.text  # a transcript for word markers
    settings.use_scene_fps, settings.fps = False, 30.0
    segments.fill(settings, TRACK)
    assert ("S2 happy", 1 + 36) in _markers(scene)
    capfd.readouterr()
    assert bpy.ops.avitalk.bake_audio() == {"FINISHED"}
    reported = "".join(capfd.readouterr())
    assert "transcript" not in reported  # stage 2 is not handed it: no warning meant for the command line
    assert scene.render.fps == 30 and ("S2 happy", 1 + 45) in _markers(scene)  # 1.5 s at the bake's 30 fps
    if compat.audio_supported():  # the PyPI bpy 4.2 has no audio: no strip at all there
        strips = list(compat.iter_sound_strips(scene))
        assert len(strips) == 1 and strips[0].show_waveform


def test_word_markers_from_the_transcript(enabled: Any, spoken: SpokenClip) -> None:
    pytest.importorskip("pocketsphinx")
    scene = _scene(fps=25)
    scene.timeline_markers.new("beat", frame=3)
    settings = scene.avi_talking
    settings.audio_path = str(spoken.path)
    assert not bpy.ops.avitalk.word_markers.poll()  # no transcript: nothing to align
    settings.transcript = spoken.text
    assert bpy.ops.avitalk.word_markers() == {"FINISHED"}  # pocketsphinx is here: runs inside this Python
    words = [m for m in timeline.owned_markers(scene, timeline.WORD_MARKERS)]
    assert [m.name for m in sorted(words, key=lambda m: m.frame)] == tokenize(spoken.text)
    truth = [1 + round(start * 25) for _, start in spoken.speech.words]  # type: ignore[attr-defined]
    assert np.median(np.abs(np.array(sorted(m.frame for m in words)) - truth)) <= 1
    assert timeline.word_count(scene) == len(tokenize(spoken.text))
    assert "operator:avitalk.clear_word_markers" in _draw_main()
    assert bpy.ops.avitalk.clear_word_markers() == {"FINISHED"}
    assert _markers(scene) == [("beat", 3)]


# ---- while a job runs, the frame rate, wrapping ----------------------------------------------------------

def test_controls_that_start_a_job_are_greyed_while_one_runs(enabled: Any, tmp_path: Path) -> None:
    scene = _scene()
    bpy.ops.avitalk.add_head()
    settings = scene.avi_talking
    long_audio = write_audio(tmp_path / "long.wav", np.tile(tone(1.0), 120), 16000)  # two minutes: a slow job
    settings.audio_path, settings.transcript = str(long_audio), "hello"
    segments.fill(settings, TRACK)
    idle = _draw_main()
    assert bpy.ops.avitalk.analyze.poll() and bpy.ops.avitalk.bake_audio.poll()
    assert not bpy.ops.avitalk.cancel_job.poll()

    params = {"audio": str(long_audio), "options": {}}
    job = worker_session.client(bpy.context, "analyze", params).submit("analyze", params)
    worker_session.running = worker_session.Running("Analyze", job)  # as the modal operator does
    try:
        assert not bpy.ops.avitalk.analyze.poll() and not bpy.ops.avitalk.bake_audio.poll()
        assert not bpy.ops.avitalk.word_markers.poll() and bpy.ops.avitalk.cancel_job.poll()
        busy = _draw_main()
        # one status row: the target's label becomes the progress bar and a cancel button; nothing else
        # in the panel changes, so its height does not either (the sub-panels below stay where they are)
        status = next(k for k, line in enumerate(idle) if line.startswith("label:Target:"))
        assert busy[status].startswith("progress:Analyze:") and busy[status + 1] == "operator:avitalk.cancel_job"
        assert busy[:status] == idle[:status] and busy[status + 2:] == idle[status + 1:]
        assert bpy.ops.avitalk.cancel_job() == {"FINISHED"}
        assert job.cancelled and not worker_session.busy() and bpy.ops.avitalk.analyze.poll()
    finally:
        job.cancel()
        worker_session.running = None


def test_the_frame_rate_shown_is_the_one_the_bake_uses(enabled: Any) -> None:
    scene = _scene(fps=24)
    settings = scene.avi_talking
    settings.fps = 30.0
    log = _draw_main()
    assert "label:24 fps" in log and "prop:fps" not in log  # the scene's rate, not a greyed 30
    scene.render.fps, scene.render.fps_base = 30, 1.001
    assert "label:29.97 fps" in _draw_main()
    settings.use_scene_fps = False
    log = _draw_main()
    assert "prop:fps" in log and not any(line.endswith(" fps") for line in log if line.startswith("label:"))


def test_long_text_is_wrapped_at_the_sidebars_width(enabled: Any) -> None:
    text = "A fairly surprised person speaks with inner brows quite raised, upper lids raised and jaw mildly dropped."
    measure = ui_text.measurer(bpy.context)
    width = ui_text.label_width(bpy.context, ui_text.BOX_MARGIN)
    lines = ui_text.wrapped_lines(bpy.context, text, ui_text.BOX_MARGIN)
    assert len(lines) >= 3 and " ".join(lines) == text
    assert all(measure(line) <= width for line in lines)
    # every line is as full as it can be: the next word would not have fitted
    for line, following in zip(lines, lines[1:], strict=False):
        assert measure(f"{line} {following.split()[0]}") > width
    assert ui_text.wrap("abcdefghij", 3.0, len) == ["abc", "def", "ghi", "j"]  # a word longer than a line
    assert ui_text.wrap("  a   b ", 10.0, len) == ["a b"] and ui_text.wrap("", 10.0, len) == []

    settings = _scene().avi_talking
    segments.fill(settings, [{"start": 0.0, "end": 1.25, "text": text}])
    log = _draw_main()
    drawn = [line[len("label:"):] for line in log if line.startswith("label:")]
    assert all(line in drawn for line in lines)  # the segment's text, in full, over several labels
    assert "label:Segment 1: 0.00–1.25 s" in log
    assert any(line.startswith(f"prop:{segments.au_prop('AU1')}") for line in log)
    assert "menu:avitalk.segment_au.au" in log
    # the reading is one line that fits (the sliders name the units where the names do not fit)
    read = [line for line in drawn if line.startswith(("Read as: surprised (0.50)", "surprised (0.50) + "))]
    assert len(read) == 1 and measure(read[0]) <= width, read
    assert segments.reading(settings.segments[0], 10_000.0, measure).startswith(
        "Read as: surprised (0.50) → inner brows raised 0.64, upper lids raised 0.50, ")
    assert segments.reading(settings.segments[0]) == segments.reading(settings.segments[0], 10_000.0, measure)


def test_slider_names_are_plain(enabled: Any) -> None:
    rna = bpy.context.scene.avi_talking.segments.add().bl_rna.properties
    assert rna[segments.au_prop("AU4")].name == "Brow lowerer (AU4)"
    assert all(rna[segments.au_prop(code)].name == au_label(code) for code in AUS)
    assert [item.identifier for item in rna["edit_emotion"].enum_items] == list(EMOTIONS)


def test_the_new_scene_changing_operators_are_one_undo_step(enabled: Any) -> None:
    from avi_talking.addon import operators_segments

    for name in ("segment_au", "segment_edit_text", "word_markers", "clear_word_markers"):
        assert {"REGISTER", "UNDO"} <= getattr(operators_segments, f"AVITALK_OT_{name}").bl_options, name
    assert "UNDO" not in operators_segments.AVITALK_OT_segment_jump.bl_options  # moving the playhead is no edit
