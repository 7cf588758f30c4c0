"""Type stub of the compiled mip-chain kernel (kernels/mips.pyx and its .pxi sections)."""
import numpy as np
import numpy.typing as npt

BOX: int
KAISER: int
ENCODE_SRGB8: int
ENCODE_UNORM8: int
ENCODE_NORMAL8: int
ENCODE_FLOAT: int
ENCODE_NORMAL_FLOAT: int

def check_levels(image: npt.NDArray[np.generic], levels: list[npt.NDArray[np.generic]]) -> None: ...
def build_chain(image: npt.NDArray[np.generic], levels: list[npt.NDArray[np.generic]], filter_kind: int,
                encode: int, alpha_weighted: bool, dec_lut: npt.NDArray[np.float32],
                enc_lut: npt.NDArray[np.uint8]) -> None: ...
def alpha_coverage_u8(img: npt.NDArray[np.uint8], cutoff: float) -> float: ...
def alpha_coverage_f32(img: npt.NDArray[np.float32], cutoff: float) -> float: ...
def preserve_coverage_u8(img: npt.NDArray[np.uint8], cutoff: float, target: float) -> None: ...
def preserve_coverage_f32(img: npt.NDArray[np.float32], cutoff: float, target: float) -> None: ...
