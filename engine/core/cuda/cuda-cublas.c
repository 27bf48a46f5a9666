/* cuda-cublas.c: opening cuBLAS at run time (see cuda-cublas.h for why). */
#include "cuda-cublas.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define CP_STRINGIFY_(x) #x
#define CP_STRINGIFY(x)  CP_STRINGIFY_ (x)

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CpCublasApi    api;
static int            api_ok;
static CpError        load_error;

const char *
cp_cublas_library_name (void)
{
  /* The soname carries the major version: a cuBLAS of another major
   * version has another ABI and is not taken. */
  return "libcublas.so." CP_STRINGIFY (CUBLAS_VER_MAJOR);
}

/* dlsym () returns void *, which ISO C does not convert to a function
 * pointer; copying the bytes is what POSIX specifies for this. */
static int
resolve (void *handle, const char *symbol, void *slot, size_t slot_size)
{
  void *address = dlsym (handle, symbol);

  if (address == NULL)
    {
      cp_error_set (&load_error, CP_ERR_DEVICE, "%s has no symbol %s: the library is not the cuBLAS "
                    "%d this program was built with", cp_cublas_library_name (), symbol,
                    CUBLAS_VER_MAJOR);
      return 0;
    }
  memcpy (slot, &address, slot_size);
  return 1;
}

#define RESOLVE(field, symbol) resolve (handle, symbol, &api.field, sizeof api.field)

static void
load (void)
{
  /* RTLD_LOCAL: nothing else in the process binds to cuBLAS by accident;
   * the handle is never closed, as the runtime libraries expect. */
  void *handle = dlopen (cp_cublas_library_name (), RTLD_NOW | RTLD_LOCAL);

  if (handle == NULL)
    {
      const char *why = dlerror ();

      cp_error_set (&load_error, CP_ERR_DEVICE, "cannot load %s: %s", cp_cublas_library_name (),
                    why != NULL ? why : "unknown error");
      return;
    }
  api_ok = RESOLVE (create, "cublasCreate_v2")
           && RESOLVE (destroy, "cublasDestroy_v2")
           && RESOLVE (set_stream, "cublasSetStream_v2")
           && RESOLVE (set_math_mode, "cublasSetMathMode")
           && RESOLVE (get_version, "cublasGetVersion_v2")
           && RESOLVE (sgemm, "cublasSgemm_v2")
           && RESOLVE (get_status_name, "cublasGetStatusName")
           && RESOLVE (get_status_string, "cublasGetStatusString");
}

const CpCublasApi *
cp_cublas_load (CpError *error)
{
  pthread_once (&load_once, load);
  if (api_ok)
    return &api;
  if (error != NULL)
    *error = load_error;
  return NULL;
}
