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
