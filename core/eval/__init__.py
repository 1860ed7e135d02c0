"""``avitalk eval``: the one yardstick for the procedural baseline and every trained model (docs/eval.md).
``models`` is the pluggable model registry, ``metrics``/``face`` the measures, ``runner`` the loop over a
corpus split, ``report`` the written results."""
