"""NequIP on mindchemistry_e3: data layer (``data``), dataset tools (``tools``), shipped data (``datasets/``)."""
