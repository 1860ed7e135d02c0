"""Speech synthesis back ends (espeak-ng) used for tests, samples and the training corpus."""
