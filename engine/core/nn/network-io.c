/* network-io.c: saving and loading the network by the reference's
 * state-dict names (also torchvision's, for ImageNet weights).
 */
#include "network-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TORCHVISION_PREFIX "resnet18."

/* The BN layer whose running_var is parameter @param_index, or NULL:
 * its num_batches_tracked follows that tensor in the state dict. */
static const CpNetBn *
bn_with_running_var (const CpNetwork *net, int param_index)
{
  if (net->bn1.running_var == param_index)
    return &net->bn1;
  for (int i = 0; i < CP_NET_BLOCKS; i++)
    {
      const CpNetBlock *b = &net->blocks[i];
      if (b->bn1.running_var == param_index)
        return &b->bn1;
      if (b->bn2.running_var == param_index)
        return &b->bn2;
      if (b->has_down && b->down_bn.running_var == param_index)
        return &b->down_bn;
    }
  for (int i = 0; i < net->n_head; i++)
    if (net->head[i].bn.running_var == param_index)
      return &net->head[i].bn;
  return NULL;
}

static float *
download_params (CpNetwork *net, CpError *error)
{
  size_t bytes = (net->n_weights + net->n_stats) * sizeof (float);
  float *host = malloc (bytes);

  if (host == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "network: out of memory (%zu bytes)", bytes);
      return NULL;
    }
  if (net->be->synchronize (net->be, error) != CP_OK
      || net->be->download (net->be, host, net->param_mem, bytes, error) != CP_OK)
    {
      free (host);
      cp_error_prefix (error, "network: reading parameters from the %s backend", net->be->name);
      return NULL;
    }
  return host;
}

CpStatus
cp_network_save (CpNetwork *net, CpSafetensorsWriter *w, CpError *error)
{
  float *host = download_params (net, error);
  CpStatus st = CP_OK;

  if (host == NULL)
    return error != NULL ? error->code : CP_ERR_NOMEM;

  for (int i = 0; i < net->n_params && st == CP_OK; i++)
    {
      const CpParam *p = &net->params[i];
      const CpNetBn *bn;

      st = cp_safetensors_writer_add (w, p->name, CP_DTYPE_F32, p->shape, p->ndim,
                                      host + cp_network_param_offset (net, p), error);
      /* PyTorch's BN state dict ends each layer with the int64 counter
       * (a 0-d tensor) right after running_var. */
      if (st == CP_OK && (bn = bn_with_running_var (net, i)) != NULL)
        {
          int64_t scalar_shape[1] = { 0 };
          int64_t tracked = net->batches_tracked[bn->index];
          st = cp_safetensors_writer_add (w, bn->tracked_name, CP_DTYPE_I64, scalar_shape, 0,
                                          &tracked, error);
        }
    }
  free (host);
  return st == CP_OK ? CP_OK : cp_error_prefix (error, "saving the network");
}

static int
is_float_dtype (CpDtype dtype)
{
  return dtype == CP_DTYPE_F32 || dtype == CP_DTYPE_F16 || dtype == CP_DTYPE_BF16
         || dtype == CP_DTYPE_F64;
}

static void
format_shape (char *buf, size_t size, const int64_t *shape, int ndim)
{
  size_t used = 0;

  used += (size_t) snprintf (buf, size, "[");
  for (int i = 0; i < ndim && used < size; i++)
    used += (size_t) snprintf (buf + used, size - used, "%s%lld", i ? ", " : "",
                               (long long) shape[i]);
  if (used < size)
    snprintf (buf + used, size - used, "]");
}

/* The file's tensor for reference name @name: the reference name itself,
 * else torchvision's (without "resnet18."). */
static const CpTensorInfo *
find_tensor (const CpSafetensors *st, const char *name)
{
  const CpTensorInfo *info = cp_safetensors_find (st, name);

  if (info == NULL && strncmp (name, TORCHVISION_PREFIX, strlen (TORCHVISION_PREFIX)) == 0)
    info = cp_safetensors_find (st, name + strlen (TORCHVISION_PREFIX));
  return info;
}

/* Checks that @p can be read from @st (present, float, same shape); with
 * @dst, also reads it. */
static CpStatus
load_param (const CpSafetensors *st, const CpParam *p, float *dst, CpError *error)
{
  const char *path = cp_safetensors_path (st) ? cp_safetensors_path (st) : "(memory)";
  const CpTensorInfo *info = find_tensor (st, p->name);
  char want[96], have[96];
  int same;

  if (info == NULL)
    {
      if (p->in_backbone)
        return cp_error_set (error, CP_ERR_FORMAT,
                             "%s: tensor '%s' is missing (nor is there torchvision's '%s')",
                             path, p->name, p->name + strlen (TORCHVISION_PREFIX));
      return cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' is missing", path, p->name);
    }
  if (!is_float_dtype (info->dtype))
    return cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected a float type",
                         path, info->name, cp_dtype_name (info->dtype));
  same = info->ndim == p->ndim;
  for (int d = 0; same && d < p->ndim; d++)
    same = info->shape[d] == p->shape[d];
  if (!same)
    {
      format_shape (want, sizeof want, p->shape, p->ndim);
      format_shape (have, sizeof have, info->shape, info->ndim);
      return cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s",
                           path, info->name, have, want);
    }
  if (dst == NULL)
    return CP_OK;
  return cp_safetensors_read_f32 (st, info->name, p->shape, p->ndim, dst, error);
}

/* num_batches_tracked is optional (timm's files leave it out); when
 * present it must be a single integer. */
static CpStatus
load_tracked (const CpSafetensors *st, const CpNetBn *bn, int64_t *value, CpError *error)
{
  const char *path = cp_safetensors_path (st) ? cp_safetensors_path (st) : "(memory)";
  const CpTensorInfo *info = find_tensor (st, bn->tracked_name);
  size_t count = 1;

  if (info == NULL)
    return CP_OK;
  for (int d = 0; d < info->ndim; d++)
    count *= (size_t) info->shape[d];
  if (count != 1)
    return cp_error_set (error, CP_ERR_FORMAT, "%s: tensor '%s' holds %zu values, expected one",
                         path, info->name, count);
  return cp_safetensors_read_i64 (st, info->name, info->shape, info->ndim, value, error);
}

CpStatus
cp_network_load (CpNetwork *net, const CpSafetensors *st, CpLoadMode mode, CpError *error)
{
  int64_t tracked[sizeof net->batches_tracked / sizeof net->batches_tracked[0]];
  size_t bytes = (net->n_weights + net->n_stats) * sizeof (float);
  float *host;
  CpStatus status = CP_OK;

  /* Names, dtypes and shapes first: a file of something else fails
   * without the network's 45 MB being copied. */
  for (int i = 0; i < net->n_params && status == CP_OK; i++)
    if (mode != CP_LOAD_BACKBONE || net->params[i].in_backbone)
      status = load_param (st, &net->params[i], NULL, error);
  if (status != CP_OK)
    return status;

  /* Start from the current values so that a backbone-only load keeps the
   * head, and stage everything on the host so that a failed load leaves
   * the network untouched. */
  host = download_params (net, error);
  if (host == NULL)
    return error != NULL ? error->code : CP_ERR_NOMEM;
  memcpy (tracked, net->batches_tracked, sizeof tracked);

  for (int i = 0; i < net->n_params && status == CP_OK; i++)
    {
      const CpParam *p = &net->params[i];
      const CpNetBn *bn;

      if (mode == CP_LOAD_BACKBONE && !p->in_backbone)
        continue;
      status = load_param (st, p, host + cp_network_param_offset (net, p), error);
      if (status == CP_OK && (bn = bn_with_running_var (net, i)) != NULL)
        status = load_tracked (st, bn, &tracked[bn->index], error);
    }
  if (status == CP_OK)
    {
      status = net->be->upload (net->be, net->param_mem, host, bytes, error);
      cp_network_params_changed (net);
    }
  free (host);
  if (status != CP_OK)
    return status;
  memcpy (net->batches_tracked, tracked, sizeof tracked);
  return CP_OK;
}
