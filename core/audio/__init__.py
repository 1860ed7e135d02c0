"""Audio in: the one loader (``loader``) and the frame-exact front end the models and the baseline
share (``features``)."""
