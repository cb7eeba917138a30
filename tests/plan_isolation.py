"""Test helper: import a plan module in a bare interpreter whose package ``__init__`` files (which import MindSpore)
are stubs, and report whether MindSpore got imported."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("mindchemistry_e3", "mindchemistry_e3.o3", "mindchemistry_e3.o3._tensor_product", "mindchemistry_e3.util",
            "mindchemistry_e3.math", "mindchemistry_e3.nn")

_CODE = """
import importlib, sys, types
root = sys.argv[1]
for name in sys.argv[3].split(","):
    module = types.ModuleType(name)
    module.__path__ = [root + "/" + name.replace(".", "/")]
    sys.modules[name] = module
importlib.import_module(sys.argv[2])
print("mindspore" in sys.modules)
"""


def imports_mindspore(module, packages=()):
    """Whether importing ``module`` (a dotted name) pulls in MindSpore, the package ``__init__`` files (and those of
    ``packages``) bypassed."""
    out = subprocess.run([sys.executable, "-c", _CODE, ROOT, module, ",".join(PACKAGES + tuple(packages))],
                         capture_output=True,
                         text=True, check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    return out.stdout.strip() == "True"
