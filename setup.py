"""Install mindchemistry_e3: ``pip install -e ".[test]"``."""
from setuptools import find_packages, setup

NEQUIP = ["ase>=3.22", "matplotlib>=3.5", "pyyaml>=6"]

setup(
    name="mindchemistry_e3",
    version="0.1.0",
    description="E(3)-equivariant neural networks (e3nn 0.6.0 API) on MindSpore",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["mindchemistry_e3", "mindchemistry_e3.*"]) + ["applications", "applications.nequip"]
    + ["applications.nequip." + p for p in find_packages("applications/nequip")],
    # configs and the small shipped datasets travel with the application, so a copied or installed config runs
    # from any folder (dataset paths in a config are relative to the config file)
    package_data={"applications.nequip": ["configs/*.yaml", "datasets/*.npz", "datasets/*.md", "README.md"]},
    entry_points={"console_scripts": ["mindchemistry-nequip = applications.nequip.cli:main"]},
    python_requires=">=3.9,<3.12",
    install_requires=[
        "mindspore>=2.10,<2.11",
        "numpy>=1.22,<2",
        "scipy>=1.8",
    ],
    extras_require={
        # the NequIP application (applications/nequip): atoms and file formats, plots, configs
        "nequip": NEQUIP,
        # regenerating the shipped aspirin GFN2-xTB dataset (applications/nequip/tools/make_aspirin_xtb.py)
        "nequip-data": NEQUIP + ["tblite>=0.4", "rdkit"],
        # everything the test suite touches, the NequIP application included
        "test": ["pytest>=7", "pytest-xdist>=3"] + NEQUIP,
    },
    license="Apache-2.0",
)
