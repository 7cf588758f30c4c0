"""Type stub of the compiled BC7 encoder (kernels/bc7_encode.pyx)."""
from typing import Any

import numpy as np
import numpy.typing as npt

PRESETS: tuple[str, ...]

def encode(rgba: npt.NDArray[np.uint8], quality: int = 2, perceptual: bool = False,
           force_mode: int = -1, tune: dict[str, Any] | None = None,
           path: str | None = None, ignore_alpha: bool = False) -> bytes: ...
def simd_path() -> str: ...
def simd_paths() -> tuple[str, ...]: ...
