"""Every docstring example of the NequIP application runs and prints what it shows (doctest), like the core's."""
import doctest
import importlib
import pkgutil

import pytest

import applications.nequip

#: modules whose import needs packages outside the test install (the dataset generator: tblite, rdkit)
OPTIONAL = ("applications.nequip.tools.make_aspirin_xtb",)
MODULES = sorted(m.name for m in pkgutil.walk_packages(applications.nequip.__path__, prefix="applications.nequip.")
                 if m.name not in OPTIONAL)


def test_every_module_is_listed():
    assert "applications.nequip.training.loop" in MODULES and "applications.nequip.cli" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    monkeypatch.chdir(applications.nequip.__path__[0] + "/../..")      # examples name files from the repository
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
