"""Regenerate samples/sample.wav (and its transcript) with espeak-ng: the demo input shipped in the repo.

    .venv/bin/python scripts/make_sample.py

Synthetic speech keeps the repository free of third-party recordings; the text is chosen for
bilabials (p, b, m), open vowels, rounded vowels and a pause.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from avi_talking.core.tts import espeak

TEXT = (
    "Hello! My name is Ava, and I bring your characters to life. "
    "Maybe you would like to hear me speak about apples, bubbles and a big blue moon?"
)


def main() -> None:
    root = Path(__file__).resolve().parent.parent / "samples"
    root.mkdir(exist_ok=True)
    speech = espeak.synthesize(TEXT, voice="en-us+f3", rate=155, pitch=55, pitch_range=70)
    pad = np.zeros(int(0.3 * speech.sr), np.float32)  # a breath of silence at both ends
    samples = np.concatenate([pad, speech.samples * 0.8, pad])
    sf.write(root / "sample.wav", samples, speech.sr, subtype="PCM_16")
    (root / "sample.txt").write_text(TEXT + "\n", encoding="utf-8")
    print(f"wrote {root / 'sample.wav'} ({len(samples) / speech.sr:.1f} s)")


if __name__ == "__main__":
    main()
