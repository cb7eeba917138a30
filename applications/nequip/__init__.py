"""NequIP interatomic potentials on MindSpore (see applications/nequip/README.md); ``mindchemistry-nequip`` is
the command line. Importing the package quiets MindSpore's C++ warnings (``GLOG_v=3``) unless ``GLOG_v`` is set.
"""
import os

os.environ.setdefault("GLOG_v", "3")
