"""Type stub of the compiled Radiance RGBE decoder (kernels/rgbe.pyx)."""
import numpy as np
import numpy.typing as npt

def decode_rgbe(src: npt.NDArray[np.uint8], offset: int, out: npt.NDArray[np.float32]) -> tuple[int, int]: ...
