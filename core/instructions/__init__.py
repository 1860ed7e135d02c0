"""Instructions: the structure stage 1 predicts and stage 2 is conditioned on (emotion, intensity,
FACS action units), its deterministic AVI-Talking-style text, emotion prototypes and the AU → ARKit-52
table. See docs/corpus.md."""

from .arkit_map import AU_TO_ARKIT, au_readout, blink_rate, expression_vector
from .prototypes import PROTOTYPES, prototype_aus, sample_instruction
from .schema import AUS, EMOTIONS, Instruction, Segment, normalize_au, read_track, track_from_dict, track_to_dict
from .text import ADVERB_VALUE, ADVERBS, adverb, to_text

__all__ = [
    "ADVERBS", "ADVERB_VALUE", "AUS", "AU_TO_ARKIT", "EMOTIONS", "PROTOTYPES", "Instruction", "Segment",
    "adverb", "au_readout", "blink_rate", "expression_vector", "normalize_au", "prototype_aus", "read_track",
    "sample_instruction", "to_text", "track_from_dict", "track_to_dict",
]
