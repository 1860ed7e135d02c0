"""What the README promises about takes: the same seed gives the same animation bit for bit, whatever the
number of CPU threads (stage 2's network runs on one thread; before, 1 and 2 threads were 1e-6 apart)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from avi_talking.core.animation import Animation

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "sample.wav"


def _take(tmp_path: Path, threads: int, model: str, seed: int) -> np.ndarray:
    out = tmp_path / f"{model}_{threads}_{seed}.npz"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-m", "avi_talking", "generate", str(SAMPLE), "-o", str(out),
                           "--model", model, "--seed", str(seed)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return Animation.load(out).values


@pytest.mark.parametrize("model", ["stage2", "procedural"])
def test_same_seed_same_take_bit_for_bit_across_thread_counts(tmp_path: Path, model: str) -> None:
    one = _take(tmp_path, 1, model, 3)
    for threads in (2, 3):
        assert np.array_equal(_take(tmp_path, threads, model, 3), one), f"{threads} threads differ"
    assert not np.array_equal(_take(tmp_path, 2, model, 4), one)  # another seed is another take


def test_the_callers_thread_count_is_restored() -> None:
    from avi_talking.core.stage2.synth import fixed_threads

    before = torch.get_num_threads()
    with fixed_threads(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_the_numpy_runtime_holds_blas_to_one_thread_and_gives_the_count_back() -> None:
    from avi_talking.core.common.blas import blas_threads, one_blas_thread

    before = blas_threads()
    if before is None:
        pytest.skip("this numpy's OpenBLAS is not found (another BLAS): nothing to hold")
    with one_blas_thread():
        assert blas_threads() == 1
    assert blas_threads() == before
