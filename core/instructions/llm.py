"""Optional LLM backend for stage 1: a language model writes each segment's instruction.

The paper's stage 1 is an LLM prompted with audio. Here the model gets, per segment, a text description
of the audio (prosody summary, the trained predictor's emotion probabilities and suggestion, a
pocketsphinx transcript when there is one) and, with a trained soft-prompt adapter (``adapter.py``),
audio features as virtual input tokens. It answers one sentence in the instruction language; the
sentence is parsed (``parser.parse``) and used only if it names an emotion the parser knows. Anything
else (an empty answer, chatter, an unknown emotion) keeps the predictor's instruction, with a warning.

Two ways to reach a model, both local:
- ``ChatServerBackend(url)``: an OpenAI-compatible ``/v1/chat/completions`` server the user runs on
  their own machine (llama.cpp's server, vLLM, Ollama, LM Studio ...), through ``requests``;
- ``TransformersBackend(path)``: a local Hugging Face causal LM folder, loaded with ``transformers``
  (the optional ``llm`` extra, imported only here and only when used).

Decoding is greedy (temperature 0), so the same model gives the same instruction.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..common.errors import AviTalkError
from .lexicon import EMOTION_SYNONYMS
from .parser import ParseResult, parse
from .schema import Instruction
from .text import ADVERBS, AU_PHRASES, EMOTION_WORDS, to_text

MAX_NEW_TOKENS = 80
_WORD = re.compile(r"[A-Za-z']+|\d+(?:\.\d+)?%?")
TIMEOUT = 120.0  # seconds per request to a local server

SYSTEM_PROMPT = (
    "You describe how a speaker's face looks while they talk. Answer with ONE sentence in this form: "
    "'A <adverb> <emotion> person speaks with <face part> <adverb> <movement>, ... and <face part> <adverb> "
    "<movement>.' Emotions: " + ", ".join(EMOTION_WORDS.values()) + ". Adverbs, weakest to strongest: " +
    ", ".join(w for _, w in ADVERBS) + ". Face movements: " +
    "; ".join(dict.fromkeys(f"{part} {motion}" for part, motion in AU_PHRASES.values())) +
    ". Use only these words; no other text."
)


@dataclass
class AudioDescription:
    """What the LLM is told about one segment."""

    start: float
    end: float
    prosody: dict[str, float]  # human-scale summary (see ``stage1.describe``)
    emotion_probabilities: dict[str, float]
    suggestion: str  # the predictor's instruction text
    transcript: str | None = None
    features: np.ndarray | None = None  # the segment's raw stage-1 features, for a soft-prompt adapter

    def to_text(self) -> str:
        p = self.prosody
        lines = [f"Speech from {self.start:.2f} s to {self.end:.2f} s ({self.end - self.start:.1f} s)."]
        if p:
            lines.append("Prosody: " + ", ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in p.items()) + ".")
        if self.emotion_probabilities:
            top = sorted(self.emotion_probabilities.items(), key=lambda kv: -kv[1])[:4]
            lines.append("An acoustic emotion classifier says: " + ", ".join(f"{e} {v:.2f}" for e, v in top) + ".")
        if self.transcript:
            lines.append(f'Words (automatic transcript, may be wrong): "{self.transcript}".')
        lines.append(f"Its suggestion: {self.suggestion}")
        lines.append("Write the instruction sentence.")
        return "\n".join(lines)


def messages_for(description: AudioDescription) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": description.to_text()}]


class LLMBackend(Protocol):
    name: str

    def complete(self, messages: list[dict[str, str]], description: AudioDescription) -> str:
        """The model's answer (raw text)."""
        ...


# ---- an OpenAI-compatible server ---------------------------------------------------------------------------


def chat_url(url: str) -> str:
    """'http://localhost:8080' → '.../v1/chat/completions'; full endpoint URLs are kept."""
    base = url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    if base.endswith("/v1"):
        return base + "/chat/completions"
    return base + "/v1/chat/completions"


class ChatServerBackend:
    def __init__(self, url: str, model: str = "default", timeout: float = TIMEOUT, api_key: str | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise AviTalkError(f"--llm-url must be an http(s) URL, not {url!r}")
        self.url = chat_url(url)
        self.model = model
        self.timeout = timeout
        self.api_key = api_key
        self.name = f"{model} at {url}"

    def complete(self, messages: list[dict[str, str]], description: AudioDescription) -> str:
        import requests

        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0,
                                "max_tokens": MAX_NEW_TOKENS, "seed": 0, "stream": False}
        try:
            reply = requests.post(self.url, json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise AviTalkError(f"cannot reach the LLM server at {self.url}: {type(exc).__name__}") from None
        if reply.status_code != 200:
            raise AviTalkError(f"the LLM server at {self.url} answered HTTP {reply.status_code}")
        try:
            content = reply.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return ""  # not an OpenAI-style answer: junk, the caller keeps the predictor's instruction
        return content if isinstance(content, str) else ""


# ---- a local transformers model ---------------------------------------------------------------------------


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise AviTalkError("--llm needs the transformers package: pip install 'avi-talking[llm]'") from None
    return transformers


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The model's own chat template when it has one, else a plain 'System/User/Assistant' layout."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False))
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n".join(parts) + "\nAssistant:"


class TransformersBackend:
    def __init__(self, path: str | Path, adapter: str | Path | None = None,
                 max_new_tokens: int = MAX_NEW_TOKENS) -> None:
        folder = Path(path)
        if not folder.is_dir():
            raise AviTalkError(f"--llm {folder} is not a folder with a transformers model")
        transformers = _transformers()
        import torch

        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self.model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise AviTalkError(f"cannot load the language model in {folder}: {str(exc).splitlines()[0]}") from None
        self.model.eval()
        self.torch = torch
        self.max_new_tokens = max_new_tokens
        self.adapter = None
        if adapter is not None:
            from .adapter import load_adapter

            self.adapter = load_adapter(adapter, self.model)
        self.name = folder.name + (" + soft prompt" if self.adapter is not None else "")

    def complete(self, messages: list[dict[str, str]], description: AudioDescription) -> str:
        torch = self.torch
        prompt = render_prompt(self.tokenizer, messages)
        ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            embeds = self.model.get_input_embeddings()(ids)
            if self.adapter is not None:
                if description.features is None:
                    raise AviTalkError("the soft-prompt adapter needs the segment's audio features")
                soft = self.adapter.embed(description.features)
                embeds = torch.cat([soft.to(embeds.dtype), embeds], dim=1)
            mask = torch.ones(embeds.shape[:2], dtype=torch.long)
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else \
                self.tokenizer.eos_token_id
            out = self.model.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=self.max_new_tokens,
                                      do_sample=False, pad_token_id=pad)
        return str(self.tokenizer.decode(out[0], skip_special_tokens=True))


# ---- validation -------------------------------------------------------------------------------------------


_INSTRUCTION_RE = re.compile(r"\b(?:an?|the)\s[^.!?:;\n]*?\bperson\b[^.!?\n]*[.!]?", re.IGNORECASE)


def first_sentence(text: str) -> str:
    """The instruction in an answer: its first 'A ... person ...' sentence (chatty models wrap it in
    other words), else the first non-empty line up to its first full stop."""
    found = _INSTRUCTION_RE.search(str(text))
    if found:
        return found.group(0).strip()
    for line in str(text).strip().splitlines():
        line = line.strip().strip('"').strip()
        if line:
            end = line.find(".")
            return line[: end + 1] if end >= 0 else line
    return ""


@dataclass
class LLMVerdict:
    text: str  # the sentence taken from the answer
    parsed: ParseResult | None  # None: junk
    reason: str = ""  # why it was rejected
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return self.parsed is not None


MAX_WORDS = 80  # an instruction is one sentence; a longer answer is rambling
MIN_COVERAGE = 0.6  # share of the answer's meaningful words the parser must understand


def validate(answer: str) -> LLMVerdict:
    """Accept an answer only if it reads as one instruction: it names exactly one emotion the parser
    knows, is at most MAX_WORDS words, and most of its words (MIN_COVERAGE, fillers aside) are understood."""
    sentence = first_sentence(answer)
    if not sentence:
        return LLMVerdict("", None, "the model gave no answer")
    if len(sentence.split()) > MAX_WORDS:
        return LLMVerdict(sentence, None, f"the answer is longer than {MAX_WORDS} words")
    words = [w.lower() for w in _WORD.findall(sentence)]
    if len(words) > 6 and max(words.count(w) for w in set(words)) > 0.3 * len(words):
        return LLMVerdict(sentence, None, "the answer repeats itself")
    result = parse(sentence)
    if result.empty:
        return LLMVerdict(sentence, None, "nothing in the answer is in the instruction language")
    if not result.emotion_given:
        unknown = [w.word for w in result.ignored if w.word.lower() not in EMOTION_SYNONYMS]
        hint = f" (unknown words: {', '.join(unknown[:4])})" if unknown else ""
        return LLMVerdict(sentence, None, f"the answer names no emotion the parser knows{hint}")
    if len(result.emotions_named) > 1:
        return LLMVerdict(sentence, None, f"the answer names several emotions ({', '.join(result.emotions_named)})")
    understood = sum(len(_WORD.findall(sentence[s.start : s.end])) for s in result.understood)
    if understood < MIN_COVERAGE * (understood + len(result.ignored)):
        return LLMVerdict(sentence, None, f"most of the answer is not in the instruction language "
                                          f"({len(result.ignored)} words not understood)")
    notes = list(result.warnings)
    if result.ignored:
        notes.append("ignored " + ", ".join(repr(w.word) for w in result.ignored[:6]))
    return LLMVerdict(sentence, result, warnings=notes)


@dataclass
class LLMOutcome:
    instruction: Instruction
    text: str
    used_llm: bool
    warnings: list[str]


def instruct(backend: LLMBackend, description: AudioDescription, fallback: Instruction,
             fallback_text: str) -> LLMOutcome:
    """Ask the model for one segment; keep ``fallback`` (the predictor's instruction) on junk."""
    answer = backend.complete(messages_for(description), description)
    verdict = validate(answer)
    where = f"{description.start:.2f}-{description.end:.2f} s"
    if not verdict.accepted:
        shown = json.dumps(verdict.text[:60]) if verdict.text else "nothing"
        return LLMOutcome(fallback, fallback_text, False,
                          [f"LLM answer for {where} rejected ({verdict.reason}): {shown}; the predictor's "
                           "instruction is kept"])
    assert verdict.parsed is not None
    # the segment's text must read back as its structure: the model's own sentence when every word of it
    # was understood, else the generator's sentence for what was understood
    clean = not verdict.parsed.ignored and not verdict.parsed.warnings
    text = verdict.text if clean else to_text(verdict.parsed.instruction)
    return LLMOutcome(verdict.parsed.instruction, text, True,
                      [f"LLM answer for {where}: {w}" for w in verdict.warnings])
