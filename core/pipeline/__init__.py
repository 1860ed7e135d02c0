"""Audio file → Animation: the one generation path the command line, the worker and the add-on call."""
