/* cuda-cublas.h: cuBLAS, opened when the first CUDA backend is created.
 *
 * libcublas brings libcublasLt (over 500 MB on disk) with it.  Linked in
 * the usual way, the dynamic loader maps and initialises both at the start
 * of every program built with CUDA, GPU or not: about 0.16 s and 210 MB of
 * resident memory before main (), measured on the development machine.
 * Opening cuBLAS with dlopen () when a CUDA backend is made means a run on
 * the CPU never pays for it.  cudart and cuDNN stay linked: they cost about
 * 1 MB together (cuDNN 9 opens its own engines on demand).
 *
 * The table holds the few cuBLAS functions the backend calls, typed from
 * cublas_v2.h itself, so a signature cannot drift from the header.
 */
#pragma once

#include <cublas_v2.h>

#include "core/status.h"

typedef struct
{
  __typeof__ (cublasCreate_v2)        *create;
  __typeof__ (cublasDestroy_v2)       *destroy;
  __typeof__ (cublasSetStream_v2)     *set_stream;
  __typeof__ (cublasSetMathMode)      *set_math_mode;
  __typeof__ (cublasGetVersion_v2)    *get_version;
  __typeof__ (cublasSgemm_v2)         *sgemm;
  __typeof__ (cublasGetStatusName)    *get_status_name;
  __typeof__ (cublasGetStatusString)  *get_status_string;
} CpCublasApi;

/* The library's file name for the cuBLAS these headers describe
 * ("libcublas.so.13"). */
const char        *cp_cublas_library_name (void);

/* Opens cuBLAS once per process (thread-safe) and returns its table, or
 * NULL with @error (may be NULL) naming the library and what failed.  A
 * failure is remembered: later calls give the same answer. */
const CpCublasApi *cp_cublas_load         (CpError *error);
