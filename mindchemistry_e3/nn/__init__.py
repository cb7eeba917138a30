"""mindchemistry_e3.nn (mirrors e3nn.nn)."""
from ._extract import Extract, ExtractIr  # noqa: F401
from ._identity import Identity  # noqa: F401
from ._batchnorm import BatchNorm  # noqa: F401
from ._dropout import Dropout  # noqa: F401
from ._s2act import S2Activation  # noqa: F401
from ._so3act import SO3Activation  # noqa: F401
from ._activation import Activation, silu  # noqa: F401
from ._gate import Gate  # noqa: F401
from ._normact import NormActivation  # noqa: F401
from ._fc import FullyConnectedNet  # noqa: F401
