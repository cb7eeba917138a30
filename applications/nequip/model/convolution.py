"""NequIP's convolution (gather -> ``uvu`` product with the edge harmonics -> scatter-sum) is the core library's
:class:`mindchemistry_e3.o3.TensorProductConv`; ``Convolution`` stays importable under its earlier name.

>>> from mindchemistry_e3 import o3
>>> Convolution is o3.TensorProductConv
True
"""
from mindchemistry_e3.o3 import TensorProductConv as Convolution

__all__ = ["Convolution"]
