import io
import subprocess
import sys

import numpy as np

import sparsecode
from sparsecode.__main__ import main, overcomplete_dct, run_demo


def test_version_flag():
    out = subprocess.run([sys.executable, "-m", "sparsecode", "--version"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"sparsecode {sparsecode.__version__}"


def test_show_config_names_the_runtime():
    buf = io.StringIO()
    sparsecode.show_config(file=buf)
    text = buf.getvalue()
    for word in ("numpy", "scikit-learn", "numba", "kernel threads", "BLAS", "GPU usable"):
        assert word in text
    assert "openblas" in text.lower() or "mkl" in text.lower() or "blis" in text.lower()


def test_overcomplete_dct_atoms():
    D = overcomplete_dct()
    assert D.shape == (256, 64)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0)
    # the separable DCT spans the patch space
    assert np.linalg.matrix_rank(D) == 64


def test_demo_denoises(tmp_path):
    out = tmp_path / "demo.png"
    buf = io.StringIO()
    result = run_demo(output=str(out), crop=128, file=buf)
    assert result["psnr_dct"] > result["psnr_noisy"] + 3.0
    assert result["psnr_learned"] > result["psnr_noisy"] + 3.0
    assert out.stat().st_size > 1000
    assert "PSNR learned dictionary" in buf.getvalue()


def test_cli_demo_runs(tmp_path, capsys):
    assert main(["demo", "--crop", "48", "--output", str(tmp_path / "d.png")]) == 0
    assert "PSNR noisy" in capsys.readouterr().out
