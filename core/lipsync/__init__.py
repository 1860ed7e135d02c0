"""The procedural lip-sync baseline and the vocabulary it shares with the corpus: the phone set
(``phonemes``), phone timing from pocketsphinx (``phone_timing``), coarticulated visemes (``visemes``),
blinks (``blinks``) and the synthesis that puts them together (``procedural``)."""
