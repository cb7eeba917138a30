"""The tours in README.md and README_CN.md run as written and show what they claim."""
import os
import re

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


def _python_blocks(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), flags=re.S)


@pytest.mark.parametrize("name", ["README.md", "README_CN.md"])
def test_tour_runs_and_is_equivariant(name, capsys):
    blocks = _python_blocks(name)
    assert blocks, f"{name} has no python tour"
    namespace = {}
    exec(compile(blocks[0], name, "exec"), namespace)  # noqa: S102 - our own README
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "60 2 16x0e+8x1o+4x2e"
    assert namespace["sh"].shape == (10, 9)
    assert float(out[1]) < 1e-5
    lhs, sh, D = (namespace[k].asnumpy() for k in ("lhs", "sh", "D"))
    np.testing.assert_allclose(lhs, sh @ D.T, atol=1e-5)


def test_readmes_open_with_the_two_commands():
    for name in ["README.md", "README_CN.md"]:
        with open(os.path.join(ROOT, name), encoding="utf-8") as f:
            text = f.read()
        first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1)
        commands = [line.split("#")[0].strip() for line in first_block.splitlines() if line.strip()]
        assert commands == ['pip install -e ".[test]"', "pytest -q"]
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as f:
        ci = f.read()
    assert 'pip install -e ".[test]"' in ci and "\npytest -q\n" in ci


@pytest.mark.parametrize("name, heading", [("README.md", "## Porting from e3nn"),
                                           ("README_CN.md", "## 从 e3nn 迁移")])
def test_porting_example_runs(name, heading, tmp_path, capsys):
    """The porting guide's example runs as written (from a file: MindSpore reads the source of what it
    differentiates) and prints the shapes it claims."""
    import runpy

    import mindspore as ms
    import mindchemistry_e3

    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        section = f.read().split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    script = tmp_path / "porting.py"
    script.write_text(blocks[0], encoding="utf-8")
    ms.set_context(mode=ms.PYNATIVE_MODE)
    try:
        namespace = runpy.run_path(str(script))
    finally:
        mindchemistry_e3.set_default_dtype(ms.float32)
    out = capsys.readouterr().out.splitlines()
    assert out == ["(6, 3) Float64", "(1, 1)"]
    forces = namespace["forces"].asnumpy()
    assert np.isfinite(forces).all() and np.abs(forces).max() > 0
    np.testing.assert_allclose(forces.sum(0), 0, atol=1e-10)   # translation invariance of the energy


@pytest.mark.parametrize("name, heading", [("README.md", "## Mixed precision (`compute_dtype`)"),
                                           ("README_CN.md", "## 混合精度（`compute_dtype`）")])
def test_mixed_precision_example_runs(name, heading):
    """The compute_dtype example runs: float32 weights and output, float16 products."""
    import mindspore as ms

    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        section = f.read().split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    namespace = {}
    exec(compile(blocks[0], name, "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["y"].dtype == ms.float32 and namespace["y"].shape == (4, 32)
    assert namespace["lin"].compute_dtype == ms.float16
