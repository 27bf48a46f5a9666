/* test-cuda-cublas.c: cuBLAS is opened when a CUDA backend is made, not
 * when a program starts (engine/core/cuda/cuda-cublas.h says why).
 *
 * Needs no GPU: opening the library and calling its pure functions works
 * on any machine that has the cuBLAS this build found, which a CUDA build
 * must have.  A GPU machine also checks that the CUDA backend opened it.
 */
#include <stdio.h>
#include <string.h>

#include "core/backend.h"
#include "core/cuda/cuda-backend.h"
#include "core/cuda/cuda-cublas.h"
#include "harness.h"

/* Whether a library whose file name starts with @prefix is mapped into
 * this process. */
static int
library_mapped (const char *prefix)
{
  FILE *maps = fopen ("/proc/self/maps", "r");
  char line[4096];
  int found = 0;

  if (maps == NULL)
    return -1;
  while (!found && fgets (line, sizeof line, maps) != NULL)
    {
      const char *slash = strrchr (line, '/');

      found = slash != NULL && strncmp (slash + 1, prefix, strlen (prefix)) == 0;
    }
  fclose (maps);
  return found;
}

static void
test_not_loaded_by_the_cpu (void)
{
  CpError error = { 0 };
  CpBackend *cpu = cp_backend_open ("cpu", NULL, &error);

  CHECK_MSG (cpu != NULL, "%s", error.message);
  /* Asking for a GPU (cudart and the driver only) does not open it either. */
  (void) cp_cuda_probe (0, NULL);
  CHECK_MSG (library_mapped ("libcublas") == 0, "libcublas is mapped before any CUDA backend");
  CHECK_MSG (library_mapped ("libcublasLt") == 0, "libcublasLt is mapped before any CUDA backend");
  if (cpu != NULL)
    cp_backend_free (cpu);
}

static void
test_loads_on_demand (void)
{
  CpError error = { 0 };
  const CpCublasApi *api = cp_cublas_load (&error);
  const char *text;

  CHECK (strstr (cp_cublas_library_name (), "libcublas.so.") == cp_cublas_library_name ());
  CHECK_MSG (api != NULL, "%s", error.message);
  if (api == NULL)
    return;
  CHECK (api->create != NULL && api->destroy != NULL && api->set_stream != NULL
         && api->set_math_mode != NULL && api->get_version != NULL && api->sgemm != NULL
         && api->get_status_name != NULL && api->get_status_string != NULL);
  CHECK (library_mapped ("libcublas") == 1);
  /* Functions that need no device, called through the table. */
  text = api->get_status_name (CUBLAS_STATUS_NOT_INITIALIZED);
  CHECK_MSG (text != NULL && strcmp (text, "CUBLAS_STATUS_NOT_INITIALIZED") == 0, "%s",
             text != NULL ? text : "(null)");
  text = api->get_status_string (CUBLAS_STATUS_ALLOC_FAILED);
  CHECK (text != NULL && text[0] != '\0');
  /* Once per process. */
  CHECK (cp_cublas_load (NULL) == api);
}

/* With a GPU, the backend runs its products through the table. */
static void
test_backend_uses_it (void)
{
  CpError error = { 0 };
  CpBackend *be;

  if (cp_cuda_probe (0, NULL) != CP_CUDA_AVAILABLE)
    {
      printf ("# no GPU here: the CUDA backend's own use of cuBLAS is not checked\n");
      return;
    }
  be = cp_backend_cuda_new (0, &error);
  CHECK_MSG (be != NULL, "%s", error.message);
  if (be == NULL)
    return;
  CHECK (strstr (cp_cuda_backend_describe (be), "cuBLAS ") != NULL);
  CHECK (library_mapped ("libcublas") == 1);
  cp_backend_free (be);
}

int
main (void)
{
  if (library_mapped ("libc") < 0)
    SKIP_ALL ("no /proc/self/maps");
  RUN_TEST (test_not_loaded_by_the_cpu);
  RUN_TEST (test_loads_on_demand);
  RUN_TEST (test_backend_uses_it);
  return harness_exit ();
}
