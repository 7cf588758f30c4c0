"""Type stub of the compiled BC7 encoder (kernels/bc7_encode.pyx)."""
from typing import Any

import numpy as np
import numpy.typing as npt

def encode(rgba: npt.NDArray[np.uint8], quality: int = 1, perceptual: bool = False,
           force_mode: int = -1, tune: dict[str, Any] | None = None) -> bytes: ...
