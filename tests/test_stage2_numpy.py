"""The numpy runtime of stage 2 against the torch runtime: every layer on random input, whole takes over many
clips, seeds, instruction tracks, strengths and frame rates (≤ 1e-4 on every channel, the same blinks and
gaze), a weights folder of another shape, the runtime choice, the numpy path with torch made unimportable,
and takes that do not depend on BLAS's thread count."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from avi_talking.core.arkit import ARKIT52, INDEX  # noqa: E402
from avi_talking.core.audio.loader import Audio, from_samples, load_audio  # noqa: E402
from avi_talking.core.common.errors import AviTalkError, FormatError  # noqa: E402
from avi_talking.core.instructions import Instruction, Segment  # noqa: E402
from avi_talking.core.lipsync.visemes import LIP_OPENERS  # noqa: E402
from avi_talking.core.stage2 import numpy_net, runtime, sampling, stored, weights  # noqa: E402
from avi_talking.core.stage2.config import Stage2Config  # noqa: E402
from avi_talking.core.stage2.diffusion import timestep_embedding  # noqa: E402
from avi_talking.core.stage2.synth import Stage2Model  # noqa: E402

from conftest import SpokenClip, tone  # noqa: E402

BOUND = 1e-4  # the parity bound on every channel of a take
LAYER_BOUND = 2e-5  # one layer on unit-scale input: float32 sums in another order (1.001e-5 seen on an AMD EPYC)
HAPPY = Instruction("happy", 0.8, {"AU6": 0.6, "AU12": 0.8})
ANGRY = Instruction("angry", 0.8, {"AU4": 0.8, "AU7": 0.6, "AU24": 0.6})
SAD = Instruction("sad", 0.6, {"AU1": 0.7, "AU15": 0.6, "AU45": 0.9})
SURPRISED = Instruction("surprised", 1.0, {"AU1": 1.0, "AU2": 1.0, "AU5": 0.8, "AU26": 0.7})
FPS = (24.0, 25.0, 30000 / 1001, 30.0, 60.0)
# (lips, expression, blinks)
STRENGTHS = ((1.0, 1.0, 1.0), (0.6, 1.7, 2.0), (1.3, 0.5, 0.0), (2.5, 3.0, 0.7))
EYES = [INDEX[n] for n in ARKIT52 if n.startswith("eyeLook")]


def _tracks(duration: float) -> dict[str, list[Segment] | None]:
    d = duration
    return {
        "none": None,  # the neutral instruction over the whole clip
        "one": [Segment(0.0, d, HAPPY)],
        "three with gaps": [Segment(0.0, 0.3 * d, HAPPY), Segment(0.36 * d, 0.7 * d, ANGRY, "grr"),
                            Segment(0.7 * d, d, SAD)],
        "short, overlapping fades": [Segment(0.0, 0.5, SURPRISED), Segment(0.5, 0.8, HAPPY),
                                     Segment(0.8, 1.0, ANGRY), Segment(1.0, d, SAD)],
    }


@pytest.fixture(scope="module")
def models() -> dict[str, Stage2Model]:
    return {"torch": Stage2Model.load(runtime="torch"), "numpy": Stage2Model.load(runtime="numpy")}


@pytest.fixture(scope="module")
def clips(spoken: SpokenClip) -> dict[str, Audio]:
    speech = load_audio(spoken.path)
    long = np.concatenate([speech.samples] * 6 + [tone(3.0, speech.sr, 180.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # silence is reported as a warning
        return {
            "speech": speech,
            "tone": from_samples(tone(2.5, 16000, 220.0), 16000, name="tone"),
            "silence": from_samples(np.zeros(16000 * 2, np.float32), 16000, name="silence"),
            "long": from_samples(long, speech.sr, name="long"),  # > one 20 s window: windows and overlap
        }


# ---- layers ------------------------------------------------------------------------------------------------

def _close(a: np.ndarray, b: np.ndarray, bound: float = LAYER_BOUND) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    assert diff <= bound, diff
    return diff


def _rand(*shape: int, scale: float = 1.0, seed: int = 0) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x))


def _conv_torch(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(_t(x.T)[None])[0].T.numpy()


def test_erf_and_gelu_are_accurate() -> None:
    x = np.linspace(-7.0, 7.0, 20_001)
    exact_erf = np.array([math.erf(v) for v in x])
    assert np.abs(numpy_net.erf(x) - exact_erf).max() <= 1.6e-7
    x32 = np.linspace(-12.0, 12.0, 40_001).astype(np.float32)
    exact = np.array([0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x32.astype(np.float64)])
    ours = numpy_net.gelu(x32)
    assert ours.dtype == np.float32 and np.abs(ours - exact).max() <= 5e-7
    with torch.no_grad():
        _close(ours, torch.nn.functional.gelu(_t(x32)).numpy(), 2e-6)  # torch's own is 1.1e-6 off here
    assert numpy_net.gelu(np.array([-200.0, 0.0, 200.0], np.float32)).tolist() == [0.0, 0.0, 200.0]


def test_every_layer_matches_its_torch_module(models: dict[str, Stage2Model]) -> None:
    net, prior = models["torch"].backend.net, models["torch"].backend.prior
    npn = models["numpy"].backend
    audio, decoder = npn.audio, npn.decoder
    with npn.session():  # as the runtime runs them: one BLAS thread (core/common/blas.py)
        convs = [(audio.inp, net.audio.inp, 80), (audio.down, net.audio.down, 128), (decoder.out, net.decoder.out, 128)]
        convs += [(ours.conv1, theirs.conv1, 128) for ours, theirs in zip(audio.blocks, net.audio.blocks, strict=True)]
        convs += [(ours.conv2, theirs.conv2, 128) for ours, theirs in zip(audio.blocks, net.audio.blocks, strict=True)]
        for k, (ours, theirs, channels) in enumerate(convs):
            for frames in (1, 2, 7, 40, 97):  # shorter than a dilated kernel's reach, too: padding at both ends
                x = _rand(frames * (4 if ours is audio.down else 1), channels, seed=k * 100 + frames)
                _close(ours(x), _conv_torch(theirs, x))
        x = _rand(50, 128, scale=3.0, seed=1)
        with torch.no_grad():
            _close(numpy_net.gelu(x), torch.nn.functional.gelu(_t(x)).numpy(), 2e-6)
            _close(audio.blocks[0].norm(x), net.audio.blocks[0].norm(_t(x.T)[None])[0].T.numpy())
            for ours, theirs in zip(decoder.blocks, net.decoder.blocks, strict=True):
                gamma, beta = _rand(50, 128, scale=0.3, seed=2), _rand(50, 128, scale=0.3, seed=3)
                film = (_t(gamma.T)[None], _t(beta.T)[None])
                _close(ours(x, (gamma, beta)), theirs(_t(x.T)[None], film)[0].T.numpy())
                _close(ours(x), theirs(_t(x.T)[None])[0].T.numpy())
            v = _rand(6, 104, seed=4)
            _close(npn.instruction(v), net.instruction(_t(v)).numpy())
            h, cond = _rand(64, 128, scale=3.0, seed=5), _rand(64, 96, seed=6)
            _close(decoder(h, cond), net.decoder(_t(h.T)[None], _t(cond)[None])[0].numpy())
            mel = _rand(4 * 120, 80, seed=7)
            ref = net.audio(_t(mel)[None])[0].T.numpy()
            _close(audio(mel), ref, LAYER_BOUND * max(1.0, float(np.abs(ref).max())))  # 10 layers deep: relative
            t = np.array([0, 1, 17, 500, 998, 999])
            _close(sampling.timestep_embedding(t, 256), timestep_embedding(_t(t), 256).numpy(), 1e-6)
            x, cond = _rand(6, 32, seed=8), _rand(6, 64, seed=9)
            _close(npn.prior.denoise(x, t, cond), prior.denoise(_t(x), _t(t), _t(cond)).numpy())
            for guidance in (1.0, 2.0, 3.5):  # 20 steps of the denoiser: relative, as the encoder
                ref = prior.sample(_t(cond), _t(x), guidance=guidance).numpy()
                _close(npn.prior.sample(cond, x, guidance=guidance), ref,
                       LAYER_BOUND * max(1.0, float(np.abs(ref).max())))


def test_the_card_shapes_need_no_torch_and_match_the_modules() -> None:
    for cfg in (Stage2Config(), Stage2Config(channels=48, mel_rate=3, encoder_dilations=(1, 3), decoder_dilations=(2,),
                                             style_dim=8, instr_dim=12, prior_hidden=40, prior_layers=2,
                                             mel_blocks=(1, 2))):
        assert stored.tensor_shapes(cfg) == weights.expected_shapes(cfg)


def test_style_noise_is_numpy_and_one_performer_per_take() -> None:
    a = sampling.style_noise(3, 4, 32)
    assert a.dtype == np.float32 and a.shape == (4, 32)
    assert np.array_equal(sampling.style_noise(3, 2, 32), a[:2])  # adding segments keeps the first ones' noise
    assert (a == a[0]).all() and np.std(a[0]) > 0.5  # every segment starts from the seed's one row
    assert not sampling.style_noise(0, 3, 32).any()  # the default take: the prior's typical performer
    assert not np.allclose(sampling.style_noise(4, 4, 32), a)
    assert np.array_equal(sampling.style_noise(2**32 - 1, 1, 8), sampling.style_noise(2**32 - 1, 1, 8))


# ---- whole takes -------------------------------------------------------------------------------------------

def _peaks(curve: np.ndarray) -> list[int]:
    mid = curve[1:-1]
    return (np.flatnonzero((mid >= curve[:-2]) & (mid > curve[2:]) & (mid > 0.5)) + 1).tolist()


def _saccades(values: np.ndarray) -> list[int]:
    return np.flatnonzero(np.abs(np.diff(values[:, EYES], axis=0)).max(axis=1) > 0.02).tolist()


def test_takes_match_across_runtimes(models: dict[str, Stage2Model], clips: dict[str, Audio]) -> None:
    combos = [(clip, fps, track) for clip in clips for fps in FPS for track in _tracks(2.0)]
    prepared: dict[tuple[str, str, float], object] = {}
    worst, blinks, seen = 0.0, 0, set()
    for index, (clip, fps, track) in enumerate(combos):
        audio = clips[clip]
        seed = index % 10
        lips, expression, blink = STRENGTHS[(index + index // 4) % len(STRENGTHS)]
        seen.add((clip, seed))
        takes = {}
        for name, model in models.items():
            key = (name, clip, fps)
            if key not in prepared:
                prepared[key] = model.prepare(audio, fps)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                takes[name] = model.animate(prepared[key], _tracks(audio.duration)[track], seed,
                                            lips, expression, blink)
        a, b = takes["torch"].values, takes["numpy"].values
        where = (clip, fps, track, seed)
        assert a.shape == b.shape == (takes["torch"].n_frames, len(takes["torch"].channels)), where
        per_channel = np.abs(a.astype(np.float64) - b).max(axis=0)
        worst_channel = takes["torch"].channels[int(per_channel.argmax())]
        assert (per_channel <= BOUND).all(), (where, worst_channel, per_channel.max())
        worst = max(worst, float(per_channel.max()))
        for name in ("eyeBlinkLeft", "eyeBlinkRight"):
            assert _peaks(a[:, INDEX[name]]) == _peaks(b[:, INDEX[name]]), (where, name)
        blinks += len(_peaks(a[:, INDEX["eyeBlinkLeft"]]))
        assert _saccades(a) == _saccades(b), where
        assert takes["torch"].meta["runtime"] == "torch" and takes["numpy"].meta["runtime"] == "numpy"
        assert {k: v for k, v in takes["torch"].meta.items() if k != "runtime"} == \
               {k: v for k, v in takes["numpy"].meta.items() if k != "runtime"}
    assert len(seen) == len(clips) * 10 and blinks > 20  # every clip with 10 seeds; blinks were compared
    print(f"\nnumpy vs torch over {len(combos)} takes: max abs difference {worst:.2e}")


def test_the_comparison_can_fail(models: dict[str, Stage2Model], clips: dict[str, Audio]) -> None:
    # another seed, or another instruction, moves the take by far more than the bound
    audio = clips["speech"]
    numpy_model = models["numpy"]
    prepared = numpy_model.prepare(audio, 30.0)
    base = numpy_model.animate(prepared, [Segment(0.0, audio.duration, HAPPY)], 1).values
    assert np.abs(base - numpy_model.animate(prepared, [Segment(0.0, audio.duration, HAPPY)], 2).values).max() > 0.05
    angry = numpy_model.animate(prepared, [Segment(0.0, audio.duration, ANGRY)], 1).values
    assert np.abs(base - angry).max() > 0.3


def test_a_prepared_clip_of_the_other_runtime_is_encoded_again(models: dict[str, Stage2Model],
                                                                clips: dict[str, Audio]) -> None:
    audio = clips["speech"]
    own = models["numpy"].animate(models["numpy"].prepare(audio, 25.0), None, 5).values
    other = models["numpy"].animate(models["torch"].prepare(audio, 25.0), None, 5).values
    assert np.array_equal(own, other)


def test_any_weights_folder_runs_on_both(tmp_path: Path, clips: dict[str, Audio]) -> None:
    """Another shape — 160 channels (products longer than 128 are summed in slices), mel rate 3 (a kernel of
    4 with stride 3), blocks at the mel rate, other dilations, no guidance, the lips sealed by the share — with
    every weight random (FiLM and offsets too)."""
    from avi_talking.core.stage2.diffusion import Prior
    from avi_talking.core.stage2.net import Stage2Net

    cfg = Stage2Config(channels=160, mel_rate=3, encoder_dilations=(1, 3, 9), decoder_dilations=(2, 5),
                       mel_blocks=(1, 3), style_dim=16, instr_dim=24, prior_hidden=144, prior_layers=2,
                       diffusion_steps=300, ddim_steps=9, guidance=1.0, chunk_seconds=1.5, overlap_seconds=1.2,
                       seal_lips=True)
    torch.manual_seed(0)
    net, prior = Stage2Net(cfg), Prior(cfg)
    with torch.no_grad():
        for p in [*net.parameters(), *prior.parameters()]:
            p.copy_(torch.randn_like(p) * (0.5 / math.sqrt(p[0].numel() if p.dim() > 1 else 16)))  # 0.5 / √fan-in
    weights.write(tmp_path / "w", net, prior, {})
    pair = {name: Stage2Model.load(tmp_path / "w", runtime=name) for name in ("torch", "numpy")}
    audio = clips["speech"]
    segs = [Segment(0.0, 1.2, HAPPY), Segment(1.2, audio.duration, ANGRY)]
    a, b = (m.animate(m.prepare(audio, 24.0), segs, 9).values for m in pair.values())
    assert np.abs(a - b).max() <= BOUND
    assert np.ptp(a[:, INDEX["jawOpen"]]) > 1e-3  # a take that moves, not a constant both agree on


def test_a_sealing_decoder_scales_the_lip_openers_by_the_open_share_on_both(tmp_path: Path) -> None:
    """``seal_lips``: each lip opener is its sigmoid × (1 − mouthClose's share of jawOpen), alike on both runtimes;
    without it, the same weights give openers the share does not bound."""
    from avi_talking.core.stage2.diffusion import Prior
    from avi_talking.core.stage2.net import Stage2Net

    outputs = {}
    for seal in (False, True):
        cfg = Stage2Config(channels=32, encoder_dilations=(1,), decoder_dilations=(1, 2), seal_lips=seal)
        torch.manual_seed(0)
        net, prior = Stage2Net(cfg), Prior(cfg)
        with torch.no_grad():
            for p in net.decoder.parameters():
                p.copy_(torch.randn_like(p) * 0.5)
        weights.write(tmp_path / str(seal), net, prior, {})
        ours = Stage2Model.load(tmp_path / str(seal), runtime="numpy").backend.decoder
        h, cond = _rand(80, 32, scale=3.0, seed=5), _rand(80, 96, seed=6)
        with torch.no_grad():
            ref = net.decoder(_t(h.T)[None], _t(cond)[None])[0].numpy()
        _close(ours(h, cond), ref)
        outputs[seal] = ref
    share = outputs[True][:, INDEX["mouthClose"]] / outputs[True][:, INDEX["jawOpen"]]
    openers = [INDEX[n] for n in LIP_OPENERS]
    assert (share > 0.8).any() and (share < 0.2).any()  # weights that put it to the test
    np.testing.assert_allclose(outputs[True][:, openers], outputs[False][:, openers] * (1.0 - share[:, None]),
                               rtol=1e-5, atol=1e-6)
    rest = [k for k in range(52) if k not in openers]
    np.testing.assert_array_equal(outputs[True][:, rest], outputs[False][:, rest])


def test_bad_weights_are_refused_alike(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "w"
    shutil.copytree(stored.default_weights(), folder)
    data = bytearray((folder / stored.WEIGHTS_NAME).read_bytes())
    data[-3] ^= 0x01
    (folder / stored.WEIGHTS_NAME).write_bytes(bytes(data))
    messages = set()
    for name in ("numpy", "torch"):
        with pytest.raises(FormatError, match="does not match the sha256") as info:
            Stage2Model.load(folder, runtime=name)
        messages.add(str(info.value))
    assert len(messages) == 1
    card = json.loads((folder / stored.CARD_NAME).read_text())
    card["config"]["channels"] = 64
    (folder / stored.CARD_NAME).write_text(json.dumps(card))
    with pytest.raises(FormatError, match="tensor list does not match"):
        Stage2Model.load(folder, runtime="numpy")


# ---- choosing the runtime ----------------------------------------------------------------------------------

def test_the_runtime_choice() -> None:
    assert runtime.choose_runtime("auto", "cpu") == "numpy"
    assert runtime.choose_runtime("", "cpu") == "numpy"
    assert runtime.choose_runtime("auto", "cuda") == "torch"  # torch imports here
    assert runtime.choose_runtime("auto", "cuda:1") == "torch"
    assert runtime.choose_runtime("Torch", "cpu") == "torch"
    assert runtime.choose_runtime("numpy", "cpu") == "numpy"
    for requested, device, message in (("numpy", "cuda", "numpy runtime runs on the CPU only"),
                                       ("jax", "cpu", "unknown stage-2 runtime 'jax'")):
        with pytest.raises(AviTalkError, match=message) as info:
            runtime.choose_runtime(requested, device)
        assert "\n" not in str(info.value)
    with pytest.raises(AviTalkError, match="unknown stage-2 runtime"):
        Stage2Model.load(runtime="auto")  # the class takes a concrete runtime; load_stage2 resolves auto


def test_load_stage2_caches_per_runtime_and_records_it(clips: dict[str, Audio]) -> None:
    a = runtime.load_stage2(None, "cpu")
    assert a.runtime == "numpy" and a is runtime.load_stage2(stored.default_weights(), "cpu", "auto")
    b = runtime.load_stage2(None, "cpu", "torch")
    assert b.runtime == "torch" and b is not a and b is runtime.load_stage2(None, "cpu", "torch")
    anim = a.animate(a.prepare(clips["tone"], 30.0), None, 0)
    assert anim.meta["runtime"] == "numpy" and anim.meta["model_id"] == b.id


def test_a_cpu_only_run_never_imports_torch() -> None:
    """``auto`` asks torch about a GPU only where an NVIDIA driver is present; elsewhere it is the CPU and
    numpy, and torch (installed here) stays unimported."""
    script = ("import sys\nfrom avi_talking.core.stage2.runtime import cuda_driver_present, load_stage2\n"
              "model = load_stage2(None, 'auto', 'auto')\n"
              "print(model.runtime, model.device, 'torch' in sys.modules, cuda_driver_present())")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    chosen, device, imported, driver = proc.stdout.split()
    assert imported == driver  # torch is imported exactly where a driver might make it see a GPU
    if driver == "False":
        assert (chosen, device) == ("numpy", "cpu")
    else:
        assert (chosen, device) == (("torch", "cuda") if torch.cuda.is_available() else ("numpy", "cpu"))


# ---- without torch, and on other thread counts --------------------------------------------------------------

NO_TORCH = r"""
import json, sys
sys.modules["torch"] = None  # importing torch now fails, as in Blender's own Python
import numpy as np
from avi_talking.core.audio.loader import load_audio
from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.instructions import Instruction, Segment
from avi_talking.core.stage2.runtime import choose_runtime, load_stage2
wav, out = sys.argv[1], sys.argv[2]
model = load_stage2(None, "auto", "auto")
audio = load_audio(wav)
segs = [Segment(0.0, 1.0, Instruction("happy", 0.8, {"AU6": 0.6, "AU12": 0.8})),
        Segment(1.0, audio.duration, Instruction("angry", 0.8, {"AU4": 0.8, "AU7": 0.6, "AU24": 0.6}))]
anim = model.animate(model.prepare(audio, 25.0), segs, 7, 1.2, 0.8, 1.5)
np.save(out, anim.values)
errors = []
for requested, device in (("torch", "cpu"), ("auto", "cuda")):
    try:
        choose_runtime(requested, device)
    except AviTalkError as exc:
        errors.append(str(exc))
print(json.dumps({"runtime": anim.meta["runtime"], "errors": errors,
                  "torch": sorted(m for m, v in sys.modules.items() if m.split(".")[0] == "torch" and v)}))
"""


def test_the_numpy_path_runs_without_torch_on_any_thread_count(models: dict[str, Stage2Model], spoken: SpokenClip,
                                                               tmp_path: Path) -> None:
    takes = []
    for threads in ("1", "2"):
        out = tmp_path / f"take_{threads}.npy"
        env = {**os.environ, **{k: threads for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
        proc = subprocess.run([sys.executable, "-c", NO_TORCH, str(spoken.path), str(out)], capture_output=True,
                              text=True, env=env, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        assert report["runtime"] == "numpy" and report["torch"] == []
        torch_missing, cuda_missing = report["errors"]
        assert "pip install 'avi-talking[models]'" in torch_missing and "--runtime numpy" in torch_missing
        assert "CUDA GPU needs torch" in cuda_missing
        takes.append(np.load(out))
    assert np.array_equal(takes[0], takes[1])  # bit for bit on 1 and 2 BLAS threads
    audio = load_audio(spoken.path)
    segs = [Segment(0.0, 1.0, HAPPY), Segment(1.0, audio.duration, ANGRY)]
    here = {name: m.animate(m.prepare(audio, 25.0), segs, 7, 1.2, 0.8, 1.5).values for name, m in models.items()}
    assert np.array_equal(takes[0], here["numpy"])
    assert np.abs(takes[0] - here["torch"]).max() <= BOUND
