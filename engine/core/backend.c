/* backend.c: backend selection and helpers shared by all backends. */
#include "backend.h"

#include <stddef.h>
#include <string.h>

/* The op lists of backend.h must name every function pointer of the
 * struct, once each and in struct order: op number i sits i pointers after
 * `destroy`, and the last one ends the struct.  A pointer added to the
 * struct but not to a list (or the other way round) fails here. */
#define CP_OP_INDEX(op) CP_OP_INDEX_##op,
enum { CP_BACKEND_OPS (CP_OP_INDEX) CP_BACKEND_OPTIONAL_OPS (CP_OP_INDEX) CP_N_OPS };
#undef CP_OP_INDEX

#define CP_OP_IN_PLACE(op) \
  _Static_assert (offsetof (CpBackend, op) \
                  == offsetof (CpBackend, destroy) + CP_OP_INDEX_##op * sizeof (void (*) (void)), \
                  "backend.h: '" #op "' is not where the op lists put it");
CP_BACKEND_OPS (CP_OP_IN_PLACE)
CP_BACKEND_OPTIONAL_OPS (CP_OP_IN_PLACE)
#undef CP_OP_IN_PLACE
_Static_assert (sizeof (CpBackend) == offsetof (CpBackend, destroy) + CP_N_OPS * sizeof (void (*) (void)),
                "backend.h: CpBackend has ops that the op lists do not name");

void
cp_conv_desc_init (CpConvDesc *d, int n, int c_in, int h_in, int w_in,
                   int c_out, int kh, int kw, int stride, int pad)
{
  d->n = n;
  d->c_in = c_in;
  d->h_in = h_in;
  d->w_in = w_in;
  d->c_out = c_out;
  d->kh = kh;
  d->kw = kw;
  d->stride = stride;
  d->pad = pad;
  d->h_out = (h_in + 2 * pad - kh) / stride + 1;
  d->w_out = (w_in + 2 * pad - kw) / stride + 1;
}

#ifndef CP_HAVE_CUDA
CpBackend *
cp_backend_cuda_new (int device, CpError *error)
{
  (void) device;
  cp_error_set (error, CP_ERR_UNSUPPORTED,
                "this build of CutPaste Inspector has no CUDA support "
                "(nvcc was not found when it was compiled)");
  return NULL;
}
#endif

CpBackend *
cp_backend_open (const char *name, CpError *notice, CpError *error)
{
  CpBackend *be;
  CpError cuda_error = { CP_OK, "" };

  cp_error_clear (notice);
  if (name == NULL || strcmp (name, "auto") == 0)
    {
      be = cp_backend_cuda_new (0, &cuda_error);
      if (be != NULL)
        return be;
      cp_error_set (notice, cuda_error.code,
                    "CUDA unavailable (%s); using the CPU", cuda_error.message);
      return cp_backend_cpu_new (error);
    }
  if (strcmp (name, "cpu") == 0)
    return cp_backend_cpu_new (error);
  if (strcmp (name, "cuda") == 0)
    return cp_backend_cuda_new (0, error);
  cp_error_set (error, CP_ERR_INVALID,
                "unknown device '%s' (expected auto, cpu or cuda)", name);
  return NULL;
}

void
cp_backend_free (CpBackend *be)
{
  if (be != NULL && be->destroy != NULL)
    be->destroy (be);
}
