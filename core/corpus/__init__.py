"""The synthetic training corpus: espeak-ng speech with exact phone times, augmented audio, ARKit-52
targets (coarticulated visemes + the instruction's FACS expression + blinks) and instruction texts.
See docs/corpus.md. ``build.build_corpus`` makes one, ``dataset.Corpus`` reads it."""
