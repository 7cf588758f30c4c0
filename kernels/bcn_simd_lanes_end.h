/* Ends one lane instantiation of bcn_simd_bc1.h / bcn_simd_bc6h.h: undefines the lane
 * macros (vector types, F_* / I_* / M_* operations, BCN_N, BCN_FN, BCN_ATTR) so the
 * next path (scalar, SSE2, AVX2) can define its own. Included once after each. No
 * include guard on purpose. */
#undef BCN_FN
#undef BCN_ATTR
#undef VF
#undef VM
#undef VI
#undef F_SET
#undef F_ADD
#undef F_SUB
#undef F_MUL
#undef F_DIV
#undef F_MIN
#undef F_MAX
#undef F_ABS
#undef F_TRUNC
#undef F_LT
#undef F_LE
#undef F_EQ
#undef M_AND
#undef F_SEL
#undef F_POW2INV
#undef F_TOI
#undef I_SET
#undef I_ADD
#undef I_AND
#undef I_XOR
#undef I_OR
#undef I_CMPLT
#undef I_SLLI
#undef F_SQRT
#undef F_LOADU
#undef F_STOREU
#undef BCN_N
