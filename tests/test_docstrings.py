"""Every docstring example in the package runs and prints what it shows (doctest)."""
import doctest
import importlib
import pkgutil

import pytest

import mindchemistry_e3

MODULES = sorted(
    m.name for m in pkgutil.walk_packages(mindchemistry_e3.__path__, prefix="mindchemistry_e3.")
)


def test_every_module_is_listed():
    assert "mindchemistry_e3.o3._irreps" in MODULES and len(MODULES) > 30


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
