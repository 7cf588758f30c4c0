# cython: language_level=3
"""Gathering data that a C library scattered over many small allocations.

``gather_triangles`` copies the three indices of each assimp ``aiFace`` (each face's
index array is its own heap allocation) into one (F, 3) array, GIL-free. The caller
guarantees that every pointer is valid for the duration of the call (the assimp
scene is alive) and points at three uint32 values.
"""
from libc.stdint cimport uint32_t, uint64_t, uintptr_t


def gather_triangles(const uint64_t[::1] pointers, uint32_t[:, ::1] out):
    """Copy ``out[i] = *(uint32[3]*)pointers[i]`` for every face; ValueError on a NULL."""
    cdef Py_ssize_t i, n = pointers.shape[0]
    cdef const uint32_t* p
    cdef Py_ssize_t bad = -1
    if out.shape[0] != n or out.shape[1] != 3:
        raise ValueError(f"out must have shape ({n}, 3)")
    with nogil:
        for i in range(n):
            if pointers[i] == 0:
                bad = i
                break
            p = <const uint32_t*> <uintptr_t> pointers[i]
            out[i, 0] = p[0]
            out[i, 1] = p[1]
            out[i, 2] = p[2]
    if bad >= 0:
        raise ValueError(f"face {bad} has a NULL index pointer")
