"""Build script for oxy: compiles every ``kernels/*.pyx`` into ``oxy._kernels.<name>``.

Optimisation is always on (``-O3``). ``OXY_NATIVE=1`` in the environment adds
``-march=native`` for a local build tuned to this CPU; leave it off for wheels that
must run on other machines. ``OXY_KERNELS=bc7_encode,bcn`` builds only the named
kernels (a quick rebuild while working on one of them).
"""
from __future__ import annotations

import glob
import os

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError as exc:  # pragma: no cover - build requirement
    raise SystemExit("oxy needs Cython to build its kernels: pip install cython") from exc


def _compile_args() -> list[str]:
    args = ["-O3", "-fno-strict-aliasing"]
    if os.environ.get("OXY_NATIVE", "") not in ("", "0"):
        args.append("-march=native")
    return args


def _kernel_extensions() -> list[Extension]:
    sources = sorted(glob.glob(os.path.join("kernels", "*.pyx")))
    only = {name.strip() for name in os.environ.get("OXY_KERNELS", "").split(",") if name.strip()}
    if only:
        sources = [src for src in sources if os.path.splitext(os.path.basename(src))[0] in only]
    # headers and includes are not seen by Cython's dependency scan when only a header
    # that another header includes changes: every kernel depends on all of them
    depends = sorted(glob.glob(os.path.join("kernels", "*.h")) + glob.glob(os.path.join("kernels", "*.pxi")))
    return [
        Extension(
            name=f"oxy._kernels.{os.path.splitext(os.path.basename(src))[0]}",
            sources=[src],
            depends=depends,
            extra_compile_args=_compile_args(),
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for src in sources
    ]


setup(
    ext_modules=cythonize(
        _kernel_extensions(),
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
