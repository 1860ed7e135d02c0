"""Instructions: the structure stage 1 predicts and stage 2 is conditioned on (emotion, intensity,
FACS action units), its deterministic AVI-Talking-style text and the parser that reads free text back,
emotion prototypes and the AU → ARKit-52 table. See docs/instructions.md and docs/corpus.md.
(The optional LLM backend, ``llm`` and ``adapter``, is imported only where it is used.)"""

from .arkit_map import AU_TO_ARKIT, au_readout, blink_rate, expression_vector
from .parser import ParseResult, parse
from .prototypes import PROTOTYPES, expansion, prototype_aus, sample_instruction
from .schema import AUS, EMOTIONS, MAX_TEXT_CHARS, Instruction, Segment, check_text_length, normalize_au
from .text import ADVERB_VALUE, ADVERBS, adverb, quantize, reading_line, to_text
from .track import (
    MAX_SEGMENTS,
    check_track_against_audio,
    read_track,
    segment_from_dict,
    segment_to_dict,
    track_from_dict,
    track_to_dict,
)

__all__ = [
    "ADVERBS", "ADVERB_VALUE", "AUS", "AU_TO_ARKIT", "EMOTIONS", "MAX_SEGMENTS", "MAX_TEXT_CHARS", "PROTOTYPES",
    "Instruction", "ParseResult", "Segment", "adverb", "au_readout", "blink_rate", "check_text_length",
    "check_track_against_audio", "expansion", "expression_vector", "normalize_au", "parse",
    "prototype_aus", "quantize", "read_track", "reading_line", "sample_instruction", "segment_from_dict",
    "segment_to_dict", "to_text", "track_from_dict", "track_to_dict",
]
