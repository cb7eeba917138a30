"""Dataset generators: ``make_aspirin_xtb`` (default GFN2-xTB aspirin set) and ``make_tiny`` (test set)."""
