"""The optional LLM backend: answers are validated (junk keeps the predictor's instruction), a real local
OpenAI-style HTTP server, a tiny randomly initialised transformers causal LM built from a config (no
download), and the soft-prompt adapter trained with the LM frozen."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from avi_talking.core.audio.loader import load_audio
from avi_talking.core.common.errors import AviTalkError
from avi_talking.core.instructions import read_track
from avi_talking.core.instructions.llm import (
    SYSTEM_PROMPT,
    AudioDescription,
    ChatServerBackend,
    chat_url,
    first_sentence,
    instruct,
    messages_for,
    render_prompt,
    validate,
)
from avi_talking.core.instructions.schema import Instruction

from conftest import run_cli

SR = 16000
TEXT = "Please bring the blue bottle back to the kitchen before dinner."
GOOD = "A strongly angry person speaks with brow quite lowered and lips strongly pressed."


# ---- validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, ok", [
    (GOOD, True),
    ("Sure! Here is the sentence:\n\nA slightly sad person speaks with lip corners mildly pulled down.", True),
    ('"A happy person speaks with lip corners strongly pulled up." I hope this helps!', True),
    ("", False),
    ("I cannot tell emotions from audio.", False),
    ("A zorgish person speaks with a blorf.", False),  # unknown emotion
    ("An angry and happy person speaks.", False),  # two emotions
    ("frustrated frustrated frustrated close close close haughty haughty", False),  # degenerate repetition
    ("A person speaks with brow lowered.", False),  # no emotion named
])
def test_answers_are_validated(answer: str, ok: bool) -> None:
    assert validate(answer).accepted is ok


def test_first_sentence_and_urls() -> None:
    assert first_sentence("Here you go: An angry person speaks. More text.") == "An angry person speaks."
    assert chat_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/v1/chat/completions"
    assert chat_url("http://h/v1/") == "http://h/v1/chat/completions"
    assert chat_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    with pytest.raises(AviTalkError):
        ChatServerBackend("localhost:8080")
    assert "contemptuous" in SYSTEM_PROMPT and "brow lowered" in SYSTEM_PROMPT


# ---- a real local chat server --------------------------------------------------------------------------------


@dataclass
class ChatServer:
    answer: str = GOOD
    status: int = 200
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, **body})
                reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": server.answer}}]})
                data = reply.encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ChatServer]:
    s = ChatServer()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from avi_talking.core.tts import espeak

    if not espeak.available():
        pytest.skip("espeak-ng is not installed (the set-up script installs it)")
    # espeak-ng's output depends slightly on what the process synthesised before (its state carries over
    # between calls), so the clip is made in a fresh process: the same bytes whatever ran earlier
    path = tmp_path_factory.mktemp("llm") / "speech.wav"
    code = ("import sys, soundfile; from avi_talking.core.tts import espeak; "
            "s = espeak.synthesize(sys.argv[2], voice='en-us', rate=170); "
            "soundfile.write(sys.argv[1], s.samples, s.sr, subtype='PCM_16')")
    subprocess.run([sys.executable, "-c", code, str(path), TEXT], check=True)
    return path


def test_instruct_keeps_the_predictor_on_junk(server: ChatServer) -> None:
    description = AudioDescription(0.0, 2.0, {"median_pitch_hz": 150.0}, {"happy": 0.6, "neutral": 0.4},
                                   "A fairly happy person speaks.")
    fallback = Instruction("happy", 0.5, {})
    backend = ChatServerBackend(server.url, "my-model")
    good = instruct(backend, description, fallback, "A fairly happy person speaks.")
    assert good.used_llm and good.instruction.emotion == "angry" and good.text == GOOD
    sent = server.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["model"] == "my-model" and sent["temperature"] == 0
    assert sent["messages"][0]["role"] == "system" and "happy 0.60" in sent["messages"][1]["content"]
    server.answer = "Honestly I have no idea."
    junk = instruct(backend, description, fallback, "A fairly happy person speaks.")
    assert not junk.used_llm and junk.instruction == fallback and "rejected" in junk.warnings[0]


def test_analyze_with_a_chat_server(server: ChatServer, wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "llm.json"
    proc = run_cli("analyze", str(wav), "-o", str(out), "--llm-url", server.url, "--transcript", TEXT)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert all(s["source"] == "llm" and s["emotion"] == "angry" for s in doc["segments"])
    assert doc["segments"][0]["text"] == GOOD and doc["meta"]["llm"].endswith(server.url)
    user = server.requests[0]["messages"][1]["content"]
    assert TEXT in user and "syllables per second" in user and "Its suggestion: A" in user
    server.answer = "As an AI model I cannot hear."
    proc = run_cli("analyze", str(wav), "-o", str(out), "--llm-url", server.url, "--transcript", TEXT)
    assert proc.returncode == 0 and "rejected" in proc.stderr
    assert all(s["source"] == "stage1" for s in json.loads(out.read_text())["segments"])


def test_an_unreachable_or_failing_server_is_an_error(server: ChatServer, wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.json"
    server.status = 500
    proc = run_cli("analyze", str(wav), "-o", str(out), "--llm-url", server.url, "--transcript", TEXT)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "HTTP 500" in proc.stderr
    assert not out.exists()
    server.stop()
    proc = run_cli("analyze", str(wav), "-o", str(out), "--llm-url", server.url, "--transcript", TEXT)
    assert proc.returncode == 2 and "cannot reach" in proc.stderr and not out.exists()
    server.__post_init__()  # a fresh one for the fixture's stop()


# ---- a tiny transformers causal LM ---------------------------------------------------------------------------


def make_tiny_lm(folder: Path, seed: int = 0) -> Path:
    """A 2-layer GPT-2 with random weights and a word-level tokenizer over the instruction language, saved
    like any Hugging Face model folder."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from avi_talking.core.instructions.lexicon import KNOWN_WORDS

    words = set(KNOWN_WORDS) | {w.strip(".,:;'\"()").lower() for w in SYSTEM_PROMPT.split()}
    words |= {w.lower() for w in TEXT.replace(".", " ").split()} | {"a", "an", "person", "speaks", "with"}
    tokens = ["[PAD]", "[UNK]", "[EOS]", ".", ",", ":", ";", "'", '"', "(", ")", "-", "<", ">", "|"]
    vocab = {w: i for i, w in enumerate(tokens + sorted(w for w in words if w and w not in tokens))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(vocab), n_positions=1024, n_embd=32, n_layer=2, n_head=2, bos_token_id=2,
                        eos_token_id=2, pad_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_lm(tmp_path_factory.mktemp("tinylm"))


def test_a_random_lm_gives_junk_and_the_predictor_is_kept(tiny_lm: Path, wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "rand.json"
    proc = run_cli("analyze", str(wav), "-o", str(out), "--llm", str(tiny_lm), "--transcript", TEXT)
    assert proc.returncode == 0, proc.stderr
    assert "rejected" in proc.stderr and "predictor's instruction is kept" in proc.stderr
    doc = json.loads(out.read_text())
    assert all(s["source"] == "stage1" for s in doc["segments"])
    assert doc["meta"]["llm"] == tiny_lm.name


def test_a_taught_lm_writes_the_instruction(tiny_lm: Path, wav: Path, tmp_path: Path) -> None:
    """Teach the tiny LM one answer for this clip's exact prompt (all weights, a few dozen steps), then
    `analyze --llm` must use what it generates."""
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from avi_talking.core.stage1.describe import describe
    from avi_talking.core.stage1.predict import load_predictor

    tok = AutoTokenizer.from_pretrained(str(tiny_lm))
    lm = AutoModelForCausalLM.from_pretrained(str(tiny_lm))
    result = load_predictor().analyze(load_audio(wav))
    prompts = [render_prompt(tok, messages_for(describe(s, TEXT))) for s in result.segments]
    opt = torch.optim.Adam(lm.parameters(), lr=5e-3)
    lm.train()
    for _ in range(40):
        for prompt in prompts:
            p = tok(prompt, add_special_tokens=False)["input_ids"]
            t = tok(" " + GOOD, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            ids = torch.tensor([p + t])
            labels = torch.tensor([[-100] * len(p) + t])
            loss = lm(input_ids=ids, labels=labels).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    taught = tmp_path / "taught"
    lm.save_pretrained(taught)
    tok.save_pretrained(taught)
    out = tmp_path / "taught.json"
    proc = run_cli("analyze", str(wav), "-o", str(out), "--llm", str(taught), "--transcript", TEXT)
    assert proc.returncode == 0, proc.stderr
    segments = json.loads(out.read_text())["segments"]
    assert all(s["source"] == "llm" for s in segments), proc.stderr
    # "angry" brings its prototype's lid units; the pressed lips stand in for its tightened ones
    assert all(s["emotion"] == "angry" and set(s["aus"]) == {"AU4", "AU5", "AU7", "AU24"} for s in segments)
    assert read_track(out)[0].instruction.aus["AU24"] > read_track(out)[0].instruction.aus["AU4"]


# ---- the soft-prompt adapter ----------------------------------------------------------------------------------


def test_adapter_trains_with_the_lm_frozen_and_steers_it(tiny_lm: Path, tmp_path: Path) -> None:
    """A tiny Llama (rotary positions, so a prefix does not shift what it learned) first learns three
    instruction sentences; then, frozen, it must say the one the audio features point to, through the
    adapter's soft prompt alone."""
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from avi_talking.core.common.errors import FormatError
    from avi_talking.core.instructions.adapter import AdapterExample, load_adapter, save_adapter, train_adapter

    tok = AutoTokenizer.from_pretrained(str(tiny_lm))
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512, bos_token_id=2,
                         eos_token_id=2, pad_token_id=0)
    lm = LlamaForCausalLM(config)
    targets = ["A strongly angry person speaks with brow quite lowered.",
               "A fairly happy person speaks with lip corners strongly pulled up.",
               "A slightly sad person speaks with inner brows mildly raised."]
    rows = [tok("Describe the face: " + t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            for t in targets]
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    labels = torch.tensor([r + [-100] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    opt = torch.optim.Adam(lm.parameters(), lr=1e-2)
    lm.train()
    for _ in range(80):
        loss = lm(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    before = {k: v.clone() for k, v in lm.state_dict().items()}
    rng = np.random.default_rng(0)
    examples = []  # which sentence to say is only in the features
    for k in range(24):
        x = rng.normal(size=12)
        x[0] = 3.0 * (k % 3)
        examples.append(AdapterExample(x, "Describe the face:", targets[k % 3]))
    mean, std = np.zeros(12), np.ones(12)
    adapter, losses = train_adapter(lm, tok, examples, mean, std, n_tokens=4, hidden=32, steps=150, batch=6, lr=1e-2)
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])  # the loss falls
    assert all(torch.equal(before[k], v) for k, v in lm.state_dict().items())  # the LM stayed frozen
    card = {"format": "avi-talking-llm-adapter", "format_version": 1, "n_features": 12, "n_tokens": 4,
            "embed_dim": 32, "hidden": 32, "normalisation": {"mean": mean.tolist(), "std": std.tolist()}}
    save_adapter(tmp_path / "ad", adapter, card)
    loaded = load_adapter(tmp_path / "ad", lm)
    said = set()
    prompt = lm.get_input_embeddings()(tok("Describe the face:", add_special_tokens=False, return_tensors="pt")
                                       ["input_ids"])
    for k in range(3):
        soft = loaded.embed(examples[k].features)
        assert soft.shape == (1, 4, 32)
        assert torch.allclose(soft, adapter(torch.tensor(examples[k].features[None], dtype=torch.float32)), atol=1e-6)
        embeds = torch.cat([soft, prompt], dim=1).detach()
        out = lm.generate(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                          max_new_tokens=16, do_sample=False, pad_token_id=0)
        said.add(tok.decode(out[0], skip_special_tokens=True))
    assert len(said) >= 2  # the soft prompt changes what the frozen model says
    wider = LlamaForCausalLM(LlamaConfig(**{**config.to_dict(), "hidden_size": 64, "intermediate_size": 128}))
    with pytest.raises(FormatError, match="another model"):
        load_adapter(tmp_path / "ad", wider)


def test_train_llm_adapter_cli_and_analyze_with_it(tiny_lm: Path, wav: Path, tmp_path: Path) -> None:
    from avi_talking.core.corpus.build import build_corpus

    corpus = tmp_path / "corpus"
    build_corpus(corpus, 0.01, 3, workers=1, shard_seconds=60.0)
    out = tmp_path / "adapter"
    proc = run_cli("train", "llm-adapter", "--corpus", str(corpus), "--llm", str(tiny_lm), "--out", str(out),
                   "--steps", "6", "--batch", "2", "--tokens", "2", "--hidden", "16", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    card = json.loads((out / "adapter.json").read_text())
    assert card["n_tokens"] == 2 and card["embed_dim"] == 32 and len(card["training"]["losses"]) == 6
    assert card["language_model"]["model_type"] == "gpt2"
    result = tmp_path / "a.json"
    proc = run_cli("analyze", str(wav), "-o", str(result), "--llm", str(tiny_lm), "--llm-adapter", str(out),
                   "--transcript", TEXT)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(result.read_text())["meta"]["llm"].endswith("soft prompt")


def test_pocketsphinx_words_for_the_llm(wav: Path) -> None:
    from avi_talking.core.stage1.describe import describe, prosody_summary, transcribe
    from avi_talking.core.stage1.predict import load_predictor

    audio = load_audio(wav)
    words = transcribe(audio, 0.0, audio.duration)
    assert words and len(set(words.lower().split()) & set(TEXT.lower().replace(".", "").split())) >= 2
    assert transcribe(audio, 0.0, 0.05) is None  # too short to hear anything
    seg = load_predictor().analyze(audio).segments[0]
    summary = prosody_summary(seg.features)
    assert 60 < summary["median_pitch_hz"] < 400 and summary["syllables_per_second"] > 1
    text = describe(seg, words).to_text()
    assert words in text and "An acoustic emotion classifier says" in text
