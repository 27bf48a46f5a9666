/* imagenet-weights.c: checking a file of ImageNet ResNet-18 weights (see
 * imagenet-weights.h).  The expected tensors are listed from the
 * architecture (SPEC section 3), the way network-params.c lays them out,
 * without building a network: a check must not cost its 140 MB. */
#include "imagenet-weights.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum
{
  KIND_CONV,
  KIND_AFFINE,         /* BN weight or bias */
  KIND_MEAN,
  KIND_VAR,
} Kind;

typedef struct
{
  char    name[48];
  Kind    kind;
  int     ndim;
  int64_t shape[4];
} Expected;

typedef struct
{
  Expected items[CP_IMAGENET_BACKBONE_TENSORS];
  char     bn[20][40];    /* BN layer prefixes, for their counters */
  int      n, n_bn;
} Table;

static void
add (Table *t, Kind kind, int ndim, int64_t a, int64_t b, int64_t c, int64_t d, const char *format,
     const char *prefix)
{
  Expected *e = &t->items[t->n++];

  snprintf (e->name, sizeof e->name, format, prefix);
  e->kind = kind;
  e->ndim = ndim;
  e->shape[0] = a;
  e->shape[1] = b;
  e->shape[2] = c;
  e->shape[3] = d;
}

static void
add_bn (Table *t, const char *prefix, int64_t c)
{
  add (t, KIND_AFFINE, 1, c, 0, 0, 0, "%s.weight", prefix);
  add (t, KIND_AFFINE, 1, c, 0, 0, 0, "%s.bias", prefix);
  add (t, KIND_MEAN, 1, c, 0, 0, 0, "%s.running_mean", prefix);
  add (t, KIND_VAR, 1, c, 0, 0, 0, "%s.running_var", prefix);
  snprintf (t->bn[t->n_bn++], sizeof t->bn[0], "%s", prefix);
}

static void
build (Table *t)
{
  static const int64_t widths[4] = { 64, 128, 256, 512 };
  int64_t c_in = 64;
  char prefix[40];

  memset (t, 0, sizeof *t);
  add (t, KIND_CONV, 4, 64, 3, 7, 7, "%s.weight", "conv1");
  add_bn (t, "bn1", 64);
  for (int stage = 0; stage < 4; stage++)
    for (int i = 0; i < 2; i++)
      {
        int64_t c_out = widths[stage];

        snprintf (prefix, sizeof prefix, "layer%d.%d.conv1", stage + 1, i);
        add (t, KIND_CONV, 4, c_out, c_in, 3, 3, "%s.weight", prefix);
        snprintf (prefix, sizeof prefix, "layer%d.%d.bn1", stage + 1, i);
        add_bn (t, prefix, c_out);
        snprintf (prefix, sizeof prefix, "layer%d.%d.conv2", stage + 1, i);
        add (t, KIND_CONV, 4, c_out, c_out, 3, 3, "%s.weight", prefix);
        snprintf (prefix, sizeof prefix, "layer%d.%d.bn2", stage + 1, i);
        add_bn (t, prefix, c_out);
        if (c_in != c_out)
          {
            snprintf (prefix, sizeof prefix, "layer%d.%d.downsample.0", stage + 1, i);
            add (t, KIND_CONV, 4, c_out, c_in, 1, 1, "%s.weight", prefix);
            snprintf (prefix, sizeof prefix, "layer%d.%d.downsample.1", stage + 1, i);
            add_bn (t, prefix, c_out);
          }
        c_in = c_out;
      }
}

static void
format_shape (char *buf, size_t size, const int64_t *shape, int ndim)
{
  size_t used = (size_t) snprintf (buf, size, "[");

  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t) snprintf (buf + used, size - used, "%s%" PRId64, i ? ", " : "", shape[i]);
  if (used < size)
    snprintf (buf + used, size - used, "]");
}

static bool
is_float (CpDtype d)
{
  return d == CP_DTYPE_F32 || d == CP_DTYPE_F16 || d == CP_DTYPE_BF16 || d == CP_DTYPE_F64;
}

/* A tensor the check tolerates beside the backbone: the classifier, and
 * each BN layer's counter (checked here). */
static CpStatus
check_extra (const Table *t, const CpTensorInfo *info, const char *path, bool *known,
             CpError *error)
{
  const char *suffix = ".num_batches_tracked";
  size_t len = strlen (info->name), slen = strlen (suffix);

  *known = false;
  if (strncmp (info->name, "fc.", 3) == 0)
    {
      *known = true;
      return CP_OK;
    }
  if (len > slen && strcmp (info->name + len - slen, suffix) == 0)
    for (int i = 0; i < t->n_bn; i++)
      if (strlen (t->bn[i]) == len - slen && strncmp (info->name, t->bn[i], len - slen) == 0)
        {
          uint64_t count = 1;

          *known = true;
          for (int d = 0; d < info->ndim; d++)
            count *= (uint64_t) info->shape[d];
          if (is_float (info->dtype) || info->dtype == CP_DTYPE_BOOL || count != 1)
            return cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' is not a single integer",
                                 path, info->name);
          return CP_OK;
        }
  return CP_OK;
}

CpStatus
cp_imagenet_weights_check (const CpSafetensors *st, CpError *error)
{
  const char *path = cp_safetensors_path (st) ? cp_safetensors_path (st) : "(memory)";
  Table *t = malloc (sizeof *t);
  float *values = NULL;
  CpStatus status = CP_OK;

  if (t == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", path);
  build (t);

  /* Names first: a file of another network fails on its first stranger,
   * before any value is read. */
  for (int i = 0; i < cp_safetensors_count (st) && status == CP_OK; i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      bool known = false;

      for (int k = 0; k < t->n && !known; k++)
        known = strcmp (t->items[k].name, info->name) == 0;
      if (!known)
        status = check_extra (t, info, path, &known, error);
      if (status == CP_OK && !known)
        {
          if (strncmp (info->name, "resnet18.", 9) == 0)
            status = cp_error_set (error, CP_ERR_FORMAT,
                                   "%s: tensor '%s' has the CutPaste reference's name, not "
                                   "torchvision's: this is a trained model or checkpoint, "
                                   "not ImageNet weights (train with --weights FILE to start "
                                   "from it)", path, info->name);
          else
            status = cp_error_set (error, CP_ERR_FORMAT,
                                   "%s: unexpected tensor '%s': not a ResNet-18 state dict "
                                   "with torchvision's names (another architecture?)",
                                   path, info->name);
        }
    }

  for (int k = 0; k < t->n && status == CP_OK; k++)
    {
      const Expected *e = &t->items[k];
      const CpTensorInfo *info = cp_safetensors_find (st, e->name);
      char want[64], have[64];
      size_t count = 1;
      bool same;

      if (info == NULL)
        {
          status = cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' is missing: not "
                                 "ResNet-18 weights with torchvision's names", path, e->name);
          break;
        }
      if (!is_float (info->dtype))
        {
          status = cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected "
                                 "a float type", path, e->name, cp_dtype_name (info->dtype));
          break;
        }
      same = info->ndim == e->ndim;
      for (int d = 0; same && d < e->ndim; d++)
        same = info->shape[d] == e->shape[d];
      if (!same)
        {
          format_shape (want, sizeof want, e->shape, e->ndim);
          format_shape (have, sizeof have, info->shape, info->ndim);
          status = cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected "
                                 "%s (not ResNet-18)", path, e->name, have, want);
          break;
        }
      for (int d = 0; d < e->ndim; d++)
        count *= (size_t) e->shape[d];
      /* The largest tensor (512 x 512 x 3 x 3) sizes the buffer once. */
      if (values == NULL && (values = malloc ((size_t) 512 * 512 * 9 * sizeof *values)) == NULL)
        {
          status = cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory", path);
          break;
        }
      status = cp_safetensors_read_f32 (st, e->name, e->shape, e->ndim, values, error);
      for (size_t j = 0; j < count && status == CP_OK; j++)
        {
          if (!isfinite (values[j]))
            status = cp_error_set (error, CP_ERR_NUMERIC, "%s: tensor '%s' holds %s at element "
                                   "%zu", path, e->name, isnan (values[j]) ? "NaN" : "infinity",
                                   j);
          else if (e->kind == KIND_VAR && values[j] < 0)
            status = cp_error_set (error, CP_ERR_NUMERIC, "%s: tensor '%s' holds a negative "
                                   "variance (%g) at element %zu", path, e->name,
                                   (double) values[j], j);
        }
    }
  free (values);
  free (t);
  return status;
}
