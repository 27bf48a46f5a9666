/* onnx-export.c: trained model (safetensors) -> ONNX ModelProto.
 *
 * Field numbers are those of onnx.proto (ONNX's normative syntax).  The
 * network's tensors are loaded with cp_network_load into a CPU network, so
 * their names and shapes are checked exactly as for inference; batch norm
 * is then folded in double precision and stored as float32.
 */
#include "onnx-export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/backend.h"
#include "core/io/fs.h"
#include "core/nn/network.h"

/* onnx.proto field numbers. */
enum
{
  MODEL_IR_VERSION = 1,
  MODEL_PRODUCER_NAME = 2,
  MODEL_PRODUCER_VERSION = 3,
  MODEL_MODEL_VERSION = 5,
  MODEL_DOC_STRING = 6,
  MODEL_GRAPH = 7,
  MODEL_OPSET_IMPORT = 8,
  MODEL_METADATA_PROPS = 14,

  OPSET_VERSION = 2,

  ENTRY_KEY = 1,
  ENTRY_VALUE = 2,

  GRAPH_NODE = 1,
  GRAPH_NAME = 2,
  GRAPH_INITIALIZER = 5,
  GRAPH_DOC_STRING = 10,
  GRAPH_INPUT = 11,
  GRAPH_OUTPUT = 12,

  NODE_INPUT = 1,
  NODE_OUTPUT = 2,
  NODE_NAME = 3,
  NODE_OP_TYPE = 4,
  NODE_ATTRIBUTE = 5,

  ATTR_NAME = 1,
  ATTR_F = 2,
  ATTR_I = 3,
  ATTR_INTS = 8,
  ATTR_TYPE = 20,
  ATTR_TYPE_FLOAT = 1,
  ATTR_TYPE_INT = 2,
  ATTR_TYPE_INTS = 7,

  TENSOR_DIMS = 1,
  TENSOR_DATA_TYPE = 2,
  TENSOR_NAME = 8,
  TENSOR_RAW_DATA = 9,
  DTYPE_FLOAT = 1,
  DTYPE_INT64 = 7,

  VALUE_INFO_NAME = 1,
  VALUE_INFO_TYPE = 2,
  TYPE_TENSOR_TYPE = 1,
  TYPE_TENSOR_ELEM_TYPE = 1,
  TYPE_TENSOR_SHAPE = 2,
  SHAPE_DIM = 1,
  DIM_VALUE = 1,
  DIM_PARAM = 2,
};

#define BN_EPS 1e-5

typedef struct
{
  const CpSafetensors *st;
  const char          *path;
  CpBackend           *be;
  CpNetwork           *net;
  CpPbBuf              nodes;
  CpPbBuf              inits;
  int                  n_nodes;
  int                  n_inits;
  CpError             *error;
} Export;

static int
host_is_little_endian (void)
{
  const uint16_t probe = 1;
  uint8_t first;

  memcpy (&first, &probe, 1);
  return first == 1;
}

/* Makes sure the message names the model file (the loaders below name it
 * already in some messages, not in others). */
static void
name_file (CpError *error, const char *path)
{
  if (error != NULL && strstr (error->message, path) == NULL)
    cp_error_prefix (error, "%s", path);
}

/* ---- graph pieces ---- */

/* TensorProto with raw_data: float32 or int64 values, little-endian. */
static void
add_initializer (Export *ex, const char *name, const int64_t *dims, int ndim, int data_type,
                 const void *values, size_t count)
{
  size_t elem = data_type == DTYPE_INT64 ? 8 : 4;
  CpPbBuf t;

  cp_pb_buf_init (&t);
  for (int i = 0; i < ndim; i++)
    cp_pb_put_int (&t, TENSOR_DIMS, dims[i]);
  cp_pb_put_int (&t, TENSOR_DATA_TYPE, data_type);
  cp_pb_put_string (&t, TENSOR_NAME, name);
  if (host_is_little_endian ())
    cp_pb_put_bytes (&t, TENSOR_RAW_DATA, values, count * elem);
  else
    {
      /* raw_data is little-endian by definition: swap on other hosts. */
      const uint8_t *src = values;

      cp_pb_put_tag (&t, TENSOR_RAW_DATA, CP_PB_WIRE_LEN);
      cp_pb_put_varint (&t, count * elem);
      if (cp_pb_buf_reserve (&t, count * elem))
        {
          for (size_t i = 0; i < count; i++)
            for (size_t b = 0; b < elem; b++)
              t.data[t.size + i * elem + b] = src[i * elem + elem - 1 - b];
          t.size += count * elem;
        }
    }
  cp_pb_put_message (&ex->inits, GRAPH_INITIALIZER, &t);
  cp_pb_buf_clear (&t);
  ex->n_inits++;
}

static void
add_float_initializer (Export *ex, const char *name, const int64_t *dims, int ndim,
                       const float *values)
{
  size_t count = 1;

  for (int i = 0; i < ndim; i++)
    count *= (size_t) dims[i];
  add_initializer (ex, name, dims, ndim, DTYPE_FLOAT, values, count);
}

static void
attr_int (CpPbBuf *node, const char *name, int64_t value)
{
  CpPbBuf a;

  cp_pb_buf_init (&a);
  cp_pb_put_string (&a, ATTR_NAME, name);
  cp_pb_put_int (&a, ATTR_TYPE, ATTR_TYPE_INT);
  cp_pb_put_int (&a, ATTR_I, value);
  cp_pb_put_message (node, NODE_ATTRIBUTE, &a);
  cp_pb_buf_clear (&a);
}

static void
attr_float (CpPbBuf *node, const char *name, float value)
{
  CpPbBuf a;

  cp_pb_buf_init (&a);
  cp_pb_put_string (&a, ATTR_NAME, name);
  cp_pb_put_int (&a, ATTR_TYPE, ATTR_TYPE_FLOAT);
  cp_pb_put_float (&a, ATTR_F, value);
  cp_pb_put_message (node, NODE_ATTRIBUTE, &a);
  cp_pb_buf_clear (&a);
}

static void
attr_ints (CpPbBuf *node, const char *name, const int64_t *values, int count)
{
  CpPbBuf a;

  cp_pb_buf_init (&a);
  cp_pb_put_string (&a, ATTR_NAME, name);
  cp_pb_put_int (&a, ATTR_TYPE, ATTR_TYPE_INTS);
  for (int i = 0; i < count; i++)
    cp_pb_put_int (&a, ATTR_INTS, values[i]);
  cp_pb_put_message (node, NODE_ATTRIBUTE, &a);
  cp_pb_buf_clear (&a);
}

/* Starts a NodeProto in @node: inputs (NULL-terminated), one output, its
 * name and operator.  Attributes follow; add_node appends it. */
static void
node_begin (CpPbBuf *node, const char *op_type, const char *name, const char *output,
            const char *const *inputs)
{
  cp_pb_buf_init (node);
  for (int i = 0; inputs[i] != NULL; i++)
    cp_pb_put_string (node, NODE_INPUT, inputs[i]);
  cp_pb_put_string (node, NODE_OUTPUT, output);
  cp_pb_put_string (node, NODE_NAME, name);
  cp_pb_put_string (node, NODE_OP_TYPE, op_type);
}

static void
add_node (Export *ex, CpPbBuf *node)
{
  cp_pb_put_message (&ex->nodes, GRAPH_NODE, node);
  cp_pb_buf_clear (node);
  ex->n_nodes++;
}

/* A node without attributes. */
static void
simple_node (Export *ex, const char *op_type, const char *name, const char *output,
             const char *const *inputs)
{
  CpPbBuf node;

  node_begin (&node, op_type, name, output, inputs);
  add_node (ex, &node);
}

/* ValueInfoProto of a float tensor; a dimension of -1 is the symbolic
 * batch size "N". */
static void
add_value_info (CpPbBuf *graph, int field, const char *name, const int64_t *dims, int ndim)
{
  CpPbBuf info, type, tensor, shape;

  cp_pb_buf_init (&info);
  cp_pb_buf_init (&type);
  cp_pb_buf_init (&tensor);
  cp_pb_buf_init (&shape);
  for (int i = 0; i < ndim; i++)
    {
      CpPbBuf dim;

      cp_pb_buf_init (&dim);
      if (dims[i] < 0)
        cp_pb_put_string (&dim, DIM_PARAM, "N");
      else
        cp_pb_put_int (&dim, DIM_VALUE, dims[i]);
      cp_pb_put_message (&shape, SHAPE_DIM, &dim);
      cp_pb_buf_clear (&dim);
    }
  cp_pb_put_int (&tensor, TYPE_TENSOR_ELEM_TYPE, DTYPE_FLOAT);
  cp_pb_put_message (&tensor, TYPE_TENSOR_SHAPE, &shape);
  cp_pb_put_message (&type, TYPE_TENSOR_TYPE, &tensor);
  cp_pb_put_string (&info, VALUE_INFO_NAME, name);
  cp_pb_put_message (&info, VALUE_INFO_TYPE, &type);
  cp_pb_put_message (graph, field, &info);
  cp_pb_buf_clear (&info);
  cp_pb_buf_clear (&type);
  cp_pb_buf_clear (&tensor);
  cp_pb_buf_clear (&shape);
}

static void
add_metadata (CpPbBuf *model, const char *key, const char *value)
{
  CpPbBuf entry;

  cp_pb_buf_init (&entry);
  cp_pb_put_string (&entry, ENTRY_KEY, key);
  cp_pb_put_string (&entry, ENTRY_VALUE, value);
  cp_pb_put_message (model, MODEL_METADATA_PROPS, &entry);
  cp_pb_buf_clear (&entry);
}

/* ---- parameters ---- */

/* Host copy (malloc) of network parameter @name, with its element count. */
static float *
param_copy (Export *ex, const char *name, const CpParam **param_out)
{
  const CpParam *p = cp_network_find_param (ex->net, name);
  float *host;

  if (p == NULL)
    {
      cp_error_set (ex->error, CP_ERR_FORMAT, "%s: the network has no tensor %s", ex->path, name);
      return NULL;
    }
  host = malloc (p->count * sizeof (float));
  if (host == NULL)
    {
      cp_error_set (ex->error, CP_ERR_NOMEM, "%s: out of memory copying %s", ex->path, name);
      return NULL;
    }
  if (ex->be->download (ex->be, host, p->data, p->count * sizeof (float), ex->error) != CP_OK)
    {
      free (host);
      name_file (ex->error, ex->path);
      return NULL;
    }
  if (param_out)
    *param_out = p;
  return host;
}

/* Scale and shift of batch norm @bn with running statistics:
 * y = scale * x + shift, scale = gamma / sqrt (var + eps),
 * shift = beta - mean * scale.  Computed in double. */
static CpStatus
bn_affine (Export *ex, const char *bn, int channels, double *scale, double *shift)
{
  static const char *const suffix[4] = { "weight", "bias", "running_mean", "running_var" };
  float *v[4] = { NULL, NULL, NULL, NULL };
  CpStatus status = CP_OK;

  for (int k = 0; k < 4 && status == CP_OK; k++)
    {
      char name[128];
      const CpParam *p = NULL;

      snprintf (name, sizeof name, "%s.%s", bn, suffix[k]);
      v[k] = param_copy (ex, name, &p);
      if (v[k] == NULL)
        status = ex->error ? ex->error->code : CP_ERR_FORMAT;
      else if ((int) p->count != channels)
        status = cp_error_set (ex->error, CP_ERR_FORMAT, "%s: tensor %s has %zu values, expected %d",
                               ex->path, name, p->count, channels);
    }
  for (int c = 0; c < channels && status == CP_OK; c++)
    {
      double var = (double) v[3][c] + BN_EPS;

      if (!isfinite (var) || var <= 0.0 || !isfinite (v[0][c]) || !isfinite (v[1][c])
          || !isfinite (v[2][c]))
        {
          status = cp_error_set (ex->error, CP_ERR_NUMERIC,
                                 "%s: batch norm %s, channel %d, has a non-finite or negative statistic",
                                 ex->path, bn, c);
          break;
        }
      scale[c] = (double) v[0][c] / sqrt (var);
      shift[c] = (double) v[1][c] - (double) v[2][c] * scale[c];
    }
  for (int k = 0; k < 4; k++)
    free (v[k]);
  return status;
}

static CpStatus
check_finite (Export *ex, const char *what, const float *v, size_t count)
{
  for (size_t i = 0; i < count; i++)
    if (!isfinite (v[i]))
      return cp_error_set (ex->error, CP_ERR_NUMERIC, "%s: %s holds a non-finite value at index %zu",
                           ex->path, what, i);
  return CP_OK;
}

/* Weight [rows, cols] followed by BN over the rows, folded into weight and
 * bias: W' = scale * W row by row, b' = scale * b + shift (b = 0 when the
 * layer has none).  Writes initializers "<layer>.weight" and
 * "<layer>.bias" (of the folded layer). */
static CpStatus
fold_into (Export *ex, const char *layer, const char *bn, const char *bias_name,
           const int64_t *dims, int ndim)
{
  char wname[128], bname[128];
  const CpParam *p = NULL;
  float *w = NULL, *b = NULL, *bias = NULL;
  double *scale = NULL, *shift = NULL;
  int rows = (int) dims[0];
  size_t per_row;
  CpStatus status = CP_OK;

  snprintf (wname, sizeof wname, "%s.weight", layer);
  snprintf (bname, sizeof bname, "%s.bias", layer);
  w = param_copy (ex, wname, &p);
  if (w == NULL)
    return ex->error ? ex->error->code : CP_ERR_FORMAT;
  per_row = p->count / (size_t) rows;
  {
    size_t expect = 1;
    for (int i = 0; i < ndim; i++)
      expect *= (size_t) dims[i];
    if (expect != p->count)
      {
        free (w);
        return cp_error_set (ex->error, CP_ERR_FORMAT, "%s: tensor %s has %zu values, expected %zu",
                             ex->path, wname, p->count, expect);
      }
  }
  if (bias_name != NULL && (bias = param_copy (ex, bias_name, NULL)) == NULL)
    {
      free (w);
      return ex->error ? ex->error->code : CP_ERR_FORMAT;
    }
  b = malloc ((size_t) rows * sizeof (float));
  scale = malloc ((size_t) rows * sizeof (double));
  shift = malloc ((size_t) rows * sizeof (double));
  if (b == NULL || scale == NULL || shift == NULL)
    status = cp_error_set (ex->error, CP_ERR_NOMEM, "%s: out of memory folding %s", ex->path, layer);
  if (status == CP_OK)
    status = bn_affine (ex, bn, rows, scale, shift);
  if (status == CP_OK)
    status = check_finite (ex, wname, w, p->count);
  if (status == CP_OK && bias)
    status = check_finite (ex, bias_name, bias, (size_t) rows);
  if (status == CP_OK)
    {
      for (int r = 0; r < rows; r++)
        {
          float *row = w + (size_t) r * per_row;

          for (size_t i = 0; i < per_row; i++)
            row[i] = (float) ((double) row[i] * scale[r]);
          b[r] = (float) ((bias ? (double) bias[r] : 0.0) * scale[r] + shift[r]);
        }
      status = check_finite (ex, wname, w, p->count);
      if (status == CP_OK)
        status = check_finite (ex, bname, b, (size_t) rows);
    }
  if (status == CP_OK)
    {
      int64_t bdims[1] = { rows };

      add_float_initializer (ex, wname, dims, ndim, w);
      add_float_initializer (ex, bname, bdims, 1, b);
    }
  free (w);
  free (b);
  free (bias);
  free (scale);
  free (shift);
  return status;
}

/* Conv + BN, folded into one Conv with bias, writing @output. */
static CpStatus
conv_bn (Export *ex, const char *conv, const char *bn, const char *input, const char *output,
         int c_out, int c_in, int kernel, int stride, int pad)
{
  int64_t dims[4] = { c_out, c_in, kernel, kernel };
  int64_t k2[2] = { kernel, kernel }, s2[2] = { stride, stride }, d2[2] = { 1, 1 };
  int64_t p4[4] = { pad, pad, pad, pad };
  char wname[128], bname[128];
  const char *inputs[4] = { input, wname, bname, NULL };
  CpPbBuf node;
  CpStatus status;

  status = fold_into (ex, conv, bn, NULL, dims, 4);
  if (status != CP_OK)
    return status;
  snprintf (wname, sizeof wname, "%s.weight", conv);
  snprintf (bname, sizeof bname, "%s.bias", conv);
  node_begin (&node, "Conv", conv, output, inputs);
  attr_ints (&node, "kernel_shape", k2, 2);
  attr_ints (&node, "strides", s2, 2);
  attr_ints (&node, "pads", p4, 4);
  attr_ints (&node, "dilations", d2, 2);
  attr_int (&node, "group", 1);
  add_node (ex, &node);
  return CP_OK;
}

static void
relu (Export *ex, const char *name, const char *input, const char *output)
{
  const char *inputs[2] = { input, NULL };

  simple_node (ex, "Relu", name, output, inputs);
}

/* Gemm y = x W' + b (W stored [out, in], transB = 1). */
static void
gemm (Export *ex, const char *name, const char *input, const char *weight, const char *bias,
      const char *output)
{
  const char *inputs[4] = { input, weight, bias, NULL };
  CpPbBuf node;

  node_begin (&node, "Gemm", name, output, inputs);
  attr_float (&node, "alpha", 1.0f);
  attr_float (&node, "beta", 1.0f);
  attr_int (&node, "transA", 0);
  attr_int (&node, "transB", 1);
  add_node (ex, &node);
}

/* ResNet-18 up to the global average pool, output "embedding" [N, 512]. */
static CpStatus
build_backbone (Export *ex)
{
  static const int widths[4] = { 64, 128, 256, 512 };
  char x[96] = "stem.pool";
  CpStatus status;

  status = conv_bn (ex, "resnet18.conv1", "resnet18.bn1", "image", "stem.conv", 64, 3, 7, 2, 3);
  if (status != CP_OK)
    return status;
  relu (ex, "stem.relu", "stem.conv", "stem.relu");
  {
    const char *inputs[2] = { "stem.relu", NULL };
    int64_t k2[2] = { 3, 3 }, s2[2] = { 2, 2 }, p4[4] = { 1, 1, 1, 1 };
    CpPbBuf node;

    node_begin (&node, "MaxPool", "stem.maxpool", "stem.pool", inputs);
    attr_ints (&node, "kernel_shape", k2, 2);
    attr_ints (&node, "strides", s2, 2);
    attr_ints (&node, "pads", p4, 4);
    add_node (ex, &node);
  }

  for (int stage = 0; stage < 4; stage++)
    for (int block = 0; block < 2; block++)
      {
        int c_out = widths[stage];
        int c_in = block == 0 ? (stage == 0 ? 64 : widths[stage - 1]) : c_out;
        int stride = (block == 0 && stage > 0) ? 2 : 1;
        char p[64], conv[96], bn[96], a[96], b[96], c[96], shortcut[96], sum[96], out[96];
        const char *add_inputs[3] = { c, shortcut, NULL };

        snprintf (p, sizeof p, "resnet18.layer%d.%d", stage + 1, block);
        snprintf (a, sizeof a, "%s.conv1.out", p);
        snprintf (b, sizeof b, "%s.relu1.out", p);
        snprintf (c, sizeof c, "%s.conv2.out", p);
        snprintf (sum, sizeof sum, "%s.add", p);
        snprintf (out, sizeof out, "%s.out", p);

        snprintf (conv, sizeof conv, "%s.conv1", p);
        snprintf (bn, sizeof bn, "%s.bn1", p);
        if ((status = conv_bn (ex, conv, bn, x, a, c_out, c_in, 3, stride, 1)) != CP_OK)
          return status;
        relu (ex, b, a, b);
        snprintf (conv, sizeof conv, "%s.conv2", p);
        snprintf (bn, sizeof bn, "%s.bn2", p);
        if ((status = conv_bn (ex, conv, bn, b, c, c_out, c_out, 3, 1, 1)) != CP_OK)
          return status;
        if (c_in != c_out || stride != 1)
          {
            snprintf (conv, sizeof conv, "%s.downsample.0", p);
            snprintf (bn, sizeof bn, "%s.downsample.1", p);
            snprintf (shortcut, sizeof shortcut, "%s.downsample.out", p);
            if ((status = conv_bn (ex, conv, bn, x, shortcut, c_out, c_in, 1, stride, 0)) != CP_OK)
              return status;
          }
        else
          snprintf (shortcut, sizeof shortcut, "%s", x);
        simple_node (ex, "Add", sum, sum, add_inputs);
        relu (ex, out, sum, out);
        snprintf (x, sizeof x, "%s", out);
      }

  {
    const char *pool_in[2] = { x, NULL };
    const char *flat_in[2] = { "pool", NULL };
    CpPbBuf node;

    simple_node (ex, "GlobalAveragePool", "avgpool", "pool", pool_in);
    node_begin (&node, "Flatten", "flatten", "embedding", flat_in);
    attr_int (&node, "axis", 1);
    add_node (ex, &node);
  }
  return CP_OK;
}

/* Head: per layer Gemm (BatchNorm1d folded in) -> Relu; then the
 * classifier Gemm, output "logits" [N, C]. */
static CpStatus
build_head (Export *ex, int head_layers, int num_classes)
{
  char x[64] = "embedding";
  int in = CP_EMBEDDING_DIM;
  CpStatus status;

  for (int k = 0; k <= head_layers; k++)
    {
      int out = k < head_layers ? 512 : 128;
      int64_t dims[2] = { out, in };
      char lin[32], bn[32], bias[48], w[48], b[48], y[48], r[48];

      snprintf (lin, sizeof lin, "head.%d", 3 * k);
      snprintf (bn, sizeof bn, "head.%d", 3 * k + 1);
      snprintf (bias, sizeof bias, "%s.bias", lin);
      /* fold_into reads the Linear's own bias before overwriting the
       * names with the folded tensors. */
      if ((status = fold_into (ex, lin, bn, bias, dims, 2)) != CP_OK)
        return status;
      snprintf (w, sizeof w, "%s.weight", lin);
      snprintf (b, sizeof b, "%s.bias", lin);
      snprintf (y, sizeof y, "%s.out", lin);
      snprintf (r, sizeof r, "head.%d.out", 3 * k + 2);
      gemm (ex, lin, x, w, b, y);
      relu (ex, r, y, r);
      snprintf (x, sizeof x, "%s", r);
      in = out;
    }

  {
    const CpParam *pw = NULL;
    float *w = param_copy (ex, "out.weight", &pw);
    float *b = w ? param_copy (ex, "out.bias", NULL) : NULL;
    int64_t wd[2] = { num_classes, 128 }, bd[1] = { num_classes };

    if (w == NULL || b == NULL)
      {
        free (w);
        return ex->error ? ex->error->code : CP_ERR_FORMAT;
      }
    status = check_finite (ex, "out.weight", w, pw->count);
    if (status == CP_OK)
      status = check_finite (ex, "out.bias", b, (size_t) num_classes);
    if (status == CP_OK)
      {
        add_float_initializer (ex, "out.weight", wd, 2, w);
        add_float_initializer (ex, "out.bias", bd, 1, b);
        gemm (ex, "out", x, "out.weight", "out.bias", "logits");
      }
    free (w);
    free (b);
  }
  return status;
}

/* score = sqrt (max (0, sum ((d P) * d, axis 1))), d = x / max (|x|, tiny)
 * - mu: the Mahalanobis distance of the L2-normalised embedding, as
 * cp_gde_score computes it (a zero row stays zero; rounding that makes the
 * quadratic form negative gives 0, not NaN). */
static CpStatus
build_score (Export *ex)
{
  int64_t mean_dims[1] = { CP_EMBEDDING_DIM };
  int64_t prec_dims[2] = { CP_EMBEDDING_DIM, CP_EMBEDDING_DIM };
  int64_t one[1] = { 1 };
  int64_t axes_dims[1] = { 1 };
  float tiny = 1e-30f, zero = 0.0f;
  float *mean, *precision;
  CpStatus status;

  mean = malloc (CP_EMBEDDING_DIM * sizeof (float));
  precision = malloc ((size_t) CP_EMBEDDING_DIM * CP_EMBEDDING_DIM * sizeof (float));
  if (mean == NULL || precision == NULL)
    {
      free (mean);
      free (precision);
      return cp_error_set (ex->error, CP_ERR_NOMEM, "%s: out of memory reading the Gaussian", ex->path);
    }
  status = cp_safetensors_read_f32 (ex->st, "gde.mean", mean_dims, 1, mean, ex->error);
  if (status == CP_OK)
    status = cp_safetensors_read_f32 (ex->st, "gde.precision", prec_dims, 2, precision, ex->error);
  if (status != CP_OK)
    name_file (ex->error, ex->path);
  if (status == CP_OK)
    status = check_finite (ex, "gde.mean", mean, CP_EMBEDDING_DIM);
  if (status == CP_OK)
    status = check_finite (ex, "gde.precision", precision, (size_t) CP_EMBEDDING_DIM * CP_EMBEDDING_DIM);
  if (status == CP_OK)
    {
      add_float_initializer (ex, "gde.mean", mean_dims, 1, mean);
      add_float_initializer (ex, "gde.precision", prec_dims, 2, precision);
    }
  free (mean);
  free (precision);
  if (status != CP_OK)
    return status;

  add_initializer (ex, "score.axes", axes_dims, 1, DTYPE_INT64, one, 1);
  add_float_initializer (ex, "score.tiny", NULL, 0, &tiny);
  add_float_initializer (ex, "score.zero", NULL, 0, &zero);
  {
    const char *norm_in[2] = { "embedding", NULL };
    const char *max_in[3] = { "score.norm", "score.tiny", NULL };
    const char *div_in[3] = { "embedding", "score.safe_norm", NULL };
    const char *sub_in[3] = { "score.unit", "gde.mean", NULL };
    const char *mm_in[3] = { "score.centred", "gde.precision", NULL };
    const char *mul_in[3] = { "score.projected", "score.centred", NULL };
    const char *sum_in[3] = { "score.terms", "score.axes", NULL };
    const char *clamp_in[3] = { "score.quadratic", "score.zero", NULL };
    const char *sqrt_in[2] = { "score.clamped", NULL };
    CpPbBuf node;

    node_begin (&node, "ReduceL2", "score.norm", "score.norm", norm_in);
    attr_ints (&node, "axes", one, 1);
    attr_int (&node, "keepdims", 1);
    add_node (ex, &node);
    simple_node (ex, "Max", "score.safe_norm", "score.safe_norm", max_in);
    simple_node (ex, "Div", "score.unit", "score.unit", div_in);
    simple_node (ex, "Sub", "score.centred", "score.centred", sub_in);
    simple_node (ex, "MatMul", "score.projected", "score.projected", mm_in);
    simple_node (ex, "Mul", "score.terms", "score.terms", mul_in);
    node_begin (&node, "ReduceSum", "score.quadratic", "score.quadratic", sum_in);
    attr_int (&node, "keepdims", 0);
    add_node (ex, &node);
    simple_node (ex, "Max", "score.clamped", "score.clamped", clamp_in);
    simple_node (ex, "Sqrt", "score", "score", sqrt_in);
  }
  return CP_OK;
}

/* ---- metadata ---- */

static int
parse_int (const char *text, int *value)
{
  char *end = NULL;
  long v;

  if (text == NULL || *text == '\0')
    return 0;
  v = strtol (text, &end, 10);
  if (*end != '\0' || v < -1000000 || v > 1000000)
    return 0;
  *value = (int) v;
  return 1;
}

static int
count_head_linears (const CpSafetensors *st)
{
  int k = 0;

  for (;;)
    {
      char name[32];

      snprintf (name, sizeof name, "head.%d.weight", 3 * k);
      if (cp_safetensors_find (st, name) == NULL || k > 64)
        return k;
      k++;
    }
}

static const char *const our_metadata_keys[] = {
  "category", "image_size", "threshold", "input", "input_preprocessing", "normalization_mean",
  "normalization_std", "outputs", "source_format", "source_format_version", "source_file",
  "num_classes", "threshold_model", "score_note", NULL,
};

/* A model with a region part scores max (global / global_scale,
 * local / local_scale) and its threshold is in those units.  The graph
 * computes the global Mahalanobis distance only, so the threshold that
 * goes with it is the model's threshold times global_scale: a part the
 * graph rejects is one the full model rejects too, but defects only the
 * region part sees pass.  Returns 1 and fills @text for such a model. */
static int
global_only_threshold (const CpSafetensors *st, char *text, size_t size)
{
  const char *parts = cp_safetensors_metadata (st, "score_parts");
  const char *threshold = cp_safetensors_metadata (st, "threshold");
  const char *scale = cp_safetensors_metadata (st, "global_scale");

  if (parts == NULL || strcmp (parts, "global+local") != 0)
    return 0;
  if (threshold == NULL || scale == NULL)
    snprintf (text, size, "nan");
  else
    snprintf (text, size, "%.9g", strtod (threshold, NULL) * strtod (scale, NULL));
  return 1;
}

static int
is_our_key (const char *key)
{
  for (int i = 0; our_metadata_keys[i] != NULL; i++)
    if (strcmp (key, our_metadata_keys[i]) == 0)
      return 1;
  return 0;
}

static void
write_metadata (CpPbBuf *model, const CpSafetensors *st, const char *path, int image_size,
                int num_classes)
{
  const char *category = cp_safetensors_metadata (st, "category");
  const char *threshold = cp_safetensors_metadata (st, "threshold");
  const char *base = strrchr (path, '/');
  char text[512];

  base = base ? base + 1 : path;
  if (category == NULL)
    {
      /* The pipeline names a model after its category: <category>.safetensors. */
      const char *dot = strrchr (base, '.');
      size_t len = dot && dot != base ? (size_t) (dot - base) : strlen (base);

      snprintf (text, sizeof text, "%.*s", (int) (len < 200 ? len : 200), base);
      add_metadata (model, "category", text);
    }
  else
    add_metadata (model, "category", category);
  snprintf (text, sizeof text, "%d", image_size);
  add_metadata (model, "image_size", text);
  if (global_only_threshold (st, text, sizeof text))
    {
      add_metadata (model, "threshold", text);
      add_metadata (model, "threshold_model", threshold ? threshold : "nan");
      add_metadata (model, "score_note",
                    "the source model also scores image regions (score_parts global+local); "
                    "this graph computes the global part only, and threshold is that part's "
                    "share of the model's threshold (threshold_model x global_scale): small "
                    "defects only the region part finds pass here");
    }
  else
    add_metadata (model, "threshold", threshold ? threshold : "nan");
  snprintf (text, sizeof text, "%d", num_classes);
  add_metadata (model, "num_classes", text);
  snprintf (text, sizeof text,
            "image: float32 [N, 3, %d, %d], NCHW, RGB channel order", image_size, image_size);
  add_metadata (model, "input", text);
  snprintf (text, sizeof text,
            "decode, convert to RGB (grey replicated, alpha dropped), resize to %d x %d "
            "(bicubic), scale to [0,1], then per channel (x - mean) / std with "
            "mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225); no crop, no flip",
            image_size, image_size);
  add_metadata (model, "input_preprocessing", text);
  add_metadata (model, "normalization_mean", "0.485,0.456,0.406");
  add_metadata (model, "normalization_std", "0.229,0.224,0.225");
  add_metadata (model, "outputs",
                "embedding [N, 512]: global-average-pooled ResNet-18 feature (before L2 "
                "normalisation); logits [N, C]: self-supervision classifier (0 = normal, "
                "1 = CutPaste, 2 = scar for 3way); score [N]: Mahalanobis distance of the "
                "L2-normalised embedding to the Gaussian of good parts, higher = more "
                "anomalous; a part fails when score > threshold");
  add_metadata (model, "source_file", base);
  /* Everything else the model file records (variant, steps, seed, auroc,
   * false_reject_rate, created, ...) travels along under its own name. */
  for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
    {
      const char *key = cp_safetensors_metadata_key (st, i);
      const char *value = cp_safetensors_metadata_value (st, i);

      if (strcmp (key, "format") == 0)
        add_metadata (model, "source_format", value);
      else if (strcmp (key, "format_version") == 0)
        add_metadata (model, "source_format_version", value);
      else if (!is_our_key (key))
        add_metadata (model, key, value);
    }
}

/* ---- model ---- */

CpStatus
cp_onnx_build_model (const CpSafetensors *st, const CpOnnxExportOptions *opts, CpPbBuf *out,
                     CpOnnxExportInfo *info, CpError *error)
{
  const char *path = cp_safetensors_path (st);
  const char *format, *version, *size_text, *head_text;
  const CpTensorInfo *out_w;
  CpNetworkConfig config;
  Export ex;
  int image_size = 0, linears, head_layers, version_number;
  CpStatus status;
  CpPbBuf graph;

  if (path == NULL)
    path = "(model)";
  /* Our model files always carry __metadata__ with the format name, and
   * the image size the graph's input needs; a bare state dict or another
   * program's file is refused rather than guessed at. */
  if (cp_safetensors_metadata_count (st) == 0)
    return cp_error_set (error, CP_ERR_FORMAT,
                         "%s: no __metadata__ (format, image size, threshold): not a CutPaste "
                         "Inspector model", path);
  format = cp_safetensors_metadata (st, "format");
  version = cp_safetensors_metadata (st, "format_version");
  if (format != NULL && strcmp (format, "cutpaste-inspector") != 0)
    return cp_error_set (error, CP_ERR_FORMAT, "%s: format is '%s', expected 'cutpaste-inspector'",
                         path, format);
  if (version != NULL && (!parse_int (version, &version_number) || version_number != 1))
    return cp_error_set (error, CP_ERR_FORMAT, "%s: format_version '%s' is not supported (expected 1)",
                         path, version);
  if (cp_safetensors_find (st, "gde.mean") == NULL || cp_safetensors_find (st, "gde.precision") == NULL)
    return cp_error_set (error, CP_ERR_FORMAT,
                         "%s: no Gaussian (gde.mean / gde.precision): not a trained CutPaste model",
                         path);
  size_text = cp_safetensors_metadata (st, "image_size");
  if (!parse_int (size_text, &image_size) || image_size < 32 || image_size > 1024
      || image_size % 32 != 0)
    return cp_error_set (error, CP_ERR_FORMAT,
                         "%s: image_size '%s' in __metadata__ is missing or not a multiple of 32 "
                         "between 32 and 1024", path, size_text ? size_text : "");
  linears = count_head_linears (st);
  if (linears < 1)
    return cp_error_set (error, CP_ERR_FORMAT,
                         "%s: no projection head (tensor head.0.weight is missing)", path);
  head_layers = linears - 1;
  head_text = cp_safetensors_metadata (st, "head_layers");
  if (head_text != NULL)
    {
      int meta_head = -1;

      if (!parse_int (head_text, &meta_head) || meta_head != head_layers)
        return cp_error_set (error, CP_ERR_FORMAT,
                             "%s: head_layers is '%s' in __metadata__ but the tensors hold %d head layers",
                             path, head_text, head_layers);
    }
  out_w = cp_safetensors_find (st, "out.weight");
  if (out_w == NULL || out_w->ndim != 2 || out_w->shape[0] < 2 || out_w->shape[0] > 3
      || out_w->shape[1] != 128)
    return cp_error_set (error, CP_ERR_FORMAT, "%s: tensor out.weight is missing or not [2 or 3, 128]",
                         path);

  memset (&ex, 0, sizeof ex);
  ex.st = st;
  ex.path = path;
  ex.error = error;
  cp_pb_buf_init (&ex.nodes);
  cp_pb_buf_init (&ex.inits);
  cp_pb_buf_init (&graph);
  config.head_layers = head_layers;
  config.num_classes = (int) out_w->shape[0];

  ex.be = cp_backend_cpu_new (error);
  if (ex.be == NULL)
    return error ? error->code : CP_ERR_NOMEM;
  ex.net = cp_network_new (ex.be, &config, error);
  if (ex.net == NULL)
    {
      status = error ? error->code : CP_ERR_NOMEM;
      goto out;
    }
  status = cp_network_load (ex.net, st, CP_LOAD_ALL, error);
  if (status != CP_OK)
    {
      name_file (error, path);
      goto out;
    }

  if ((status = build_backbone (&ex)) != CP_OK
      || (status = build_head (&ex, head_layers, config.num_classes)) != CP_OK
      || (status = build_score (&ex)) != CP_OK)
    goto out;

  /* GraphProto: nodes (already in topological order), name, initializers,
   * inputs, outputs. */
  {
    int64_t in_dims[4] = { -1, 3, image_size, image_size };
    int64_t emb_dims[2] = { -1, CP_EMBEDDING_DIM };
    int64_t logit_dims[2] = { -1, config.num_classes };
    int64_t score_dims[1] = { -1 };

    cp_pb_put_raw (&graph, ex.nodes.data, ex.nodes.size);
    if (ex.nodes.failed)
      graph.failed = 1;
    cp_pb_buf_clear (&ex.nodes);
    cp_pb_put_string (&graph, GRAPH_NAME, "cutpaste");
    cp_pb_put_raw (&graph, ex.inits.data, ex.inits.size);
    if (ex.inits.failed)
      graph.failed = 1;
    cp_pb_buf_clear (&ex.inits);
    cp_pb_put_string (&graph, GRAPH_DOC_STRING,
                      "CutPaste (Li et al., CVPR 2021): ResNet-18 with batch norm folded into the "
                      "convolutions, projection head and classifier, and the Gaussian density "
                      "estimator's Mahalanobis score");
    add_value_info (&graph, GRAPH_INPUT, "image", in_dims, 4);
    add_value_info (&graph, GRAPH_OUTPUT, "embedding", emb_dims, 2);
    add_value_info (&graph, GRAPH_OUTPUT, "logits", logit_dims, 2);
    add_value_info (&graph, GRAPH_OUTPUT, "score", score_dims, 1);
  }

  /* ModelProto. */
  {
    size_t start = out->size;
    CpPbBuf opset;

    cp_pb_put_int (out, MODEL_IR_VERSION, CP_ONNX_IR_VERSION);
    cp_pb_buf_init (&opset);
    cp_pb_put_int (&opset, OPSET_VERSION, CP_ONNX_OPSET);
    cp_pb_put_message (out, MODEL_OPSET_IMPORT, &opset);
    cp_pb_buf_clear (&opset);
    cp_pb_put_string (out, MODEL_PRODUCER_NAME, "cutpaste-inspector");
    if (opts != NULL && opts->producer_version != NULL)
      cp_pb_put_string (out, MODEL_PRODUCER_VERSION, opts->producer_version);
    cp_pb_put_int (out, MODEL_MODEL_VERSION, 1);
    cp_pb_put_string (out, MODEL_DOC_STRING,
                      "CutPaste anomaly detector exported by cutpaste export; see metadata_props "
                      "for the input preprocessing and the pass/fail threshold");
    cp_pb_put_message (out, MODEL_GRAPH, &graph);
    write_metadata (out, st, path, image_size, config.num_classes);
    if (cp_pb_buf_failed (out))
      {
        status = cp_error_set (error, CP_ERR_NOMEM, "%s: out of memory building the ONNX model", path);
        goto out;
      }
    if (info != NULL)
      {
        char text[64];

        info->image_size = image_size;
        info->global_only = global_only_threshold (st, text, sizeof text);
        info->head_layers = head_layers;
        info->num_classes = config.num_classes;
        info->nodes = ex.n_nodes;
        info->initializers = ex.n_inits;
        info->bytes = out->size - start;
      }
  }
  status = CP_OK;

out:
  cp_pb_buf_clear (&ex.nodes);
  cp_pb_buf_clear (&ex.inits);
  cp_pb_buf_clear (&graph);
  cp_network_free (ex.net);
  cp_backend_free (ex.be);
  return status;
}

CpStatus
cp_onnx_export_file (const char *model_path, const char *onnx_path, const CpOnnxExportOptions *opts,
                     CpOnnxExportInfo *info, CpError *error)
{
  CpSafetensors *st;
  CpPbBuf buf;
  CpStatus status;
  struct stat a, b;

  if (model_path == NULL || onnx_path == NULL)
    return cp_error_set (error, CP_ERR_INVALID, "export needs a model path and an output path");
  /* The atomic rename would silently replace the model with its export. */
  if (strcmp (model_path, onnx_path) == 0
      || (stat (model_path, &a) == 0 && stat (onnx_path, &b) == 0 && a.st_dev == b.st_dev
          && a.st_ino == b.st_ino))
    return cp_error_set (error, CP_ERR_INVALID, "%s: the ONNX output would overwrite the model file",
                         onnx_path);
  st = cp_safetensors_open (model_path, error);
  if (st == NULL)
    return error ? error->code : CP_ERR_IO;
  cp_pb_buf_init (&buf);
  status = cp_onnx_build_model (st, opts, &buf, info, error);
  cp_safetensors_close (st);
  if (status == CP_OK)
    status = cp_write_file_atomic (onnx_path, buf.data, buf.size, error);
  cp_pb_buf_clear (&buf);
  return status;
}
