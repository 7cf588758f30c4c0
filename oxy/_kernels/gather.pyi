"""Type stub of the compiled gather kernels (kernels/gather.pyx)."""
import numpy as np
import numpy.typing as npt

def gather_triangles(pointers: npt.NDArray[np.uint64], out: npt.NDArray[np.uint32]) -> None: ...
