"""Plain names for every action unit the instruction language knows (the panel's sliders, the CLI)."""

from __future__ import annotations

import pytest

from avi_talking.core.instructions.au_names import AU_NAMES, au_label, au_name, au_short_name
from avi_talking.core.instructions.schema import AUS, normalize_au
from avi_talking.core.instructions.text import AU_PHRASES


def test_every_unit_the_language_knows_has_a_plain_name() -> None:
    assert list(AU_NAMES) == list(AUS)  # all of them, in the schema's order
    assert set(AU_PHRASES) == set(AU_NAMES)  # the text generator's units are the same set
    assert len(set(AU_NAMES.values())) == len(AUS)  # no two units share a name
    for code, name in AU_NAMES.items():
        assert name[0].isupper() and "AU" not in name, (code, name)


def test_labels_read_as_facs_names_with_the_code() -> None:
    assert au_label("AU4") == "Brow lowerer (AU4)"
    assert au_label("AU26") == "Jaw drop (AU26)"
    assert au_name("AU12L") == "Lip corner puller, left" and au_name("AU12R") == "Lip corner puller, right"
    assert au_name("AU45") == "Blink" and au_name("AU45L") == "Wink, left"  # one eye held shut
    assert au_short_name("AU15R") == "Lip corner depressor R" and au_short_name("AU1") == "Inner brow raiser"
    # the codes are the schema's own spelling: what normalize_au gives for what a user types
    assert au_label(normalize_au("l12")) == "Lip corner puller, left (AU12L)"
    with pytest.raises(KeyError):
        au_name("AU99")
