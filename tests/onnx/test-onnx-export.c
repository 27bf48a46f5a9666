/* test-onnx-export.c: the protobuf wire format, the structure and numbers
 * of an exported ONNX file (read back with our own reader), batch-norm
 * folding checked against the CPU backend's reference ops, and refusal of
 * files that are not trained models (nothing written). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#include "core/backend.h"
#include "core/density/gde.h"
#include "core/io/fs.h"
#include "core/io/safetensors.h"
#include "core/nn/network.h"
#include "core/onnx/onnx-export.h"
#include "core/onnx/protobuf.h"
#include "core/rng.h"

#define IMAGE_SIZE 64

static char tmpdir[256];

/* ---- wire format ---- */

static int
bytes_equal (const CpPbBuf *buf, const uint8_t *expect, size_t n)
{
  return buf->size == n && memcmp (buf->data, expect, n) == 0;
}

static void
test_varint_encoding (void)
{
  static const struct
  {
    uint64_t value;
    uint8_t  bytes[10];
    size_t   n;
  } cases[] = {
    { 0, { 0x00 }, 1 },
    { 1, { 0x01 }, 1 },
    { 127, { 0x7f }, 1 },
    { 128, { 0x80, 0x01 }, 2 },
    { 300, { 0xac, 0x02 }, 2 },
    { 16384, { 0x80, 0x80, 0x01 }, 3 },
    { UINT64_C (4294967296), { 0x80, 0x80, 0x80, 0x80, 0x10 }, 5 },
    { UINT64_MAX, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 }, 10 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      CpPbBuf buf;

      cp_pb_buf_init (&buf);
      cp_pb_put_varint (&buf, cases[i].value);
      CHECK_MSG (bytes_equal (&buf, cases[i].bytes, cases[i].n), "varint %llu",
                 (unsigned long long) cases[i].value);
      CHECK (cp_pb_varint_size (cases[i].value) == cases[i].n);
      cp_pb_buf_clear (&buf);
    }

  /* Tags and whole fields: int64 -1 is ten bytes, a float is fixed32
   * little-endian, a string is length-prefixed. */
  {
    CpPbBuf buf;
    static const uint8_t expect[] = {
      0x08, 0x07,                                      /* field 1 varint 7 */
      0xa0, 0x01, 0x02,                                /* field 20 varint 2 */
      0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* field 3: -1 */
      0x15, 0x00, 0x00, 0x80, 0x3f,                    /* field 2 fixed32 1.0f */
      0x72, 0x03, 'a', 'b', 'c',                       /* field 14 "abc" */
      0x3a, 0x03, 0x01, 0xac, 0x02,                    /* field 7 packed {1, 300} */
    };
    int64_t packed[2] = { 1, 300 };

    cp_pb_buf_init (&buf);
    cp_pb_put_int (&buf, 1, 7);
    cp_pb_put_int (&buf, 20, 2);
    cp_pb_put_int (&buf, 3, -1);
    cp_pb_put_float (&buf, 2, 1.0f);
    cp_pb_put_string (&buf, 14, "abc");
    cp_pb_put_packed_int64 (&buf, 7, packed, 2);
    CHECK (!cp_pb_buf_failed (&buf));
    CHECK (bytes_equal (&buf, expect, sizeof expect));
    cp_pb_buf_clear (&buf);
  }
}

static void
test_reader_round_trip (void)
{
  CpRng rng;
  CpPbBuf buf, child;
  uint64_t values[200];
  CpPbReader reader;
  CpPbField field;
  CpError err = { 0 };
  int i = 0, r;

  cp_rng_seed (&rng, 7);
  cp_pb_buf_init (&buf);
  cp_pb_buf_init (&child);
  cp_pb_put_string (&child, 1, "inner");
  for (int k = 0; k < 200; k++)
    {
      /* Values of every length: random bits shifted by a random amount. */
      values[k] = cp_rng_next_u64 (&rng) >> (cp_rng_next_u32 (&rng) % 64);
      cp_pb_put_int (&buf, 1 + k % 30, (int64_t) values[k]);
    }
  cp_pb_put_message (&buf, 31, &child);

  cp_pb_reader_init (&reader, buf.data, buf.size);
  while ((r = cp_pb_reader_next (&reader, &field, &err)) == 1 && i < 200)
    {
      CHECK (field.field == 1 + i % 30 && field.wire == CP_PB_WIRE_VARINT);
      CHECK (field.varint == values[i]);
      i++;
    }
  CHECK (i == 200);
  CHECK (r == 1 && field.field == 31 && field.wire == CP_PB_WIRE_LEN && field.size == child.size);
  {
    CpPbReader inner;
    CpPbField f;

    cp_pb_reader_init (&inner, field.data, field.size);
    CHECK (cp_pb_reader_next (&inner, &f, &err) == 1);
    CHECK (f.field == 1 && f.size == 5 && memcmp (f.data, "inner", 5) == 0);
    CHECK (cp_pb_reader_next (&inner, &f, &err) == 0);
  }
  CHECK (cp_pb_reader_next (&reader, &field, &err) == 0);

  /* Malformed input is reported, never read past the end. */
  {
    static const uint8_t truncated_varint[] = { 0x08, 0x80, 0x80 };
    static const uint8_t long_length[] = { 0x0a, 0x05, 'a', 'b' };
    static const uint8_t group[] = { 0x0b };
    static const uint8_t field_zero[] = { 0x00, 0x01 };
    static const uint8_t short_fixed[] = { 0x15, 0x00, 0x00 };
    const struct { const uint8_t *p; size_t n; } bad[] = {
      { truncated_varint, sizeof truncated_varint }, { long_length, sizeof long_length },
      { group, sizeof group }, { field_zero, sizeof field_zero }, { short_fixed, sizeof short_fixed },
    };

    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++)
      {
        cp_error_clear (&err);
        cp_pb_reader_init (&reader, bad[k].p, bad[k].n);
        CHECK_MSG (cp_pb_reader_next (&reader, &field, &err) == -1, "bad input %zu", k);
        CHECK (err.code == CP_ERR_FORMAT && strstr (err.message, "byte") != NULL);
      }
  }
  cp_pb_buf_clear (&buf);
  cp_pb_buf_clear (&child);
}

/* ---- a model file ---- */

typedef struct
{
  CpBackend *be;
  CpNetwork *net;
  CpGde     *gde;
} Model;

/* Random network (head_layers 2, two classes) with random BN parameters and
 * running statistics, so folding has something to fold, and a Gaussian
 * fitted on random embeddings. */
static void
model_make (Model *m)
{
  CpNetworkConfig config = { 2, 2 };
  CpError err = { 0 };
  CpRng rng;
  float *x;

  cp_rng_seed (&rng, 42);
  m->be = cp_backend_cpu_new (&err);
  m->net = m->be ? cp_network_new (m->be, &config, &err) : NULL;
  if (m->net == NULL)
    {
      fprintf (stderr, "cannot build the network: %s\n", err.message);
      exit (1);
    }
  cp_network_init (m->net, &rng);
  for (int i = 0; i < cp_network_param_count (m->net); i++)
    {
      const CpParam *p = cp_network_param (m->net, i);
      const char *dot = strrchr (p->name, '.');
      int bn = strstr (p->name, "bn") != NULL || strstr (p->name, "downsample.1") != NULL
               || (strncmp (p->name, "head.", 5) == 0 && (p->name[5] - '0') % 3 == 1);
      float *v;

      if (!bn)
        continue;
      v = malloc (p->count * sizeof (float));
      for (size_t k = 0; k < p->count; k++)
        {
          if (strcmp (dot, ".weight") == 0)
            v[k] = (float) cp_rng_uniform_range (&rng, 0.5, 1.5);
          else if (strcmp (dot, ".bias") == 0)
            v[k] = (float) cp_rng_uniform_range (&rng, -0.2, 0.2);
          else if (strcmp (dot, ".running_mean") == 0)
            v[k] = (float) cp_rng_uniform_range (&rng, -0.3, 0.3);
          else
            v[k] = (float) cp_rng_uniform_range (&rng, 0.5, 2.0);
        }
      m->be->upload (m->be, p->data, v, p->count * sizeof (float), &err);
      free (v);
    }
  x = malloc (8 * CP_EMBEDDING_DIM * sizeof (float));
  for (int k = 0; k < 8 * CP_EMBEDDING_DIM; k++)
    x[k] = (float) cp_rng_normal (&rng);
  m->gde = cp_gde_fit (x, 8, CP_EMBEDDING_DIM, &err);
  free (x);
  if (m->gde == NULL)
    {
      fprintf (stderr, "cannot fit: %s\n", err.message);
      exit (1);
    }
}

static void
model_free (Model *m)
{
  cp_gde_free (m->gde);
  cp_network_free (m->net);
  cp_backend_free (m->be);
}

/* Writes the model; @skip (may be NULL) names a tensor to leave out,
 * @poison one whose first value becomes NaN; @with_gde and @with_metadata
 * drop those parts; @format overrides the format name. */
/* Key/value pairs model_save adds to the metadata, NULL-terminated. */
static const char *const *extra_metadata;

static void
model_save (Model *m, const char *path, const char *skip, const char *poison, int with_gde,
            int with_metadata, const char *format)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  CpError err = { 0 };
  int64_t s1[1] = { CP_EMBEDDING_DIM }, s2[2] = { CP_EMBEDDING_DIM, CP_EMBEDDING_DIM };

  for (int i = 0; i < cp_network_param_count (m->net); i++)
    {
      const CpParam *p = cp_network_param (m->net, i);
      float *v;

      if (skip && strcmp (p->name, skip) == 0)
        continue;
      v = malloc (p->count * sizeof (float));
      m->be->download (m->be, v, p->data, p->count * sizeof (float), &err);
      if (poison && strcmp (p->name, poison) == 0)
        v[0] = NAN;
      CHECK (cp_safetensors_writer_add (w, p->name, CP_DTYPE_F32, p->shape, p->ndim, v, &err) == CP_OK);
      free (v);
    }
  if (with_gde)
    {
      CHECK (cp_safetensors_writer_add (w, "gde.mean", CP_DTYPE_F32, s1, 1, cp_gde_mean_f32 (m->gde), &err) == CP_OK);
      CHECK (cp_safetensors_writer_add (w, "gde.precision", CP_DTYPE_F32, s2, 2,
                                        cp_gde_precision_f32 (m->gde), &err) == CP_OK);
    }
  if (with_metadata)
    {
      cp_safetensors_writer_set_metadata (w, "format", format ? format : "cutpaste-inspector", &err);
      cp_safetensors_writer_set_metadata (w, "format_version", "1", &err);
      cp_safetensors_writer_set_metadata (w, "category", "widget", &err);
      cp_safetensors_writer_set_metadata (w, "image_size", "64", &err);
      cp_safetensors_writer_set_metadata (w, "head_layers", "2", &err);
      cp_safetensors_writer_set_metadata (w, "variant", "binary", &err);
      cp_safetensors_writer_set_metadata (w, "threshold", "12.5", &err);
      cp_safetensors_writer_set_metadata (w, "seed", "42", &err);
      for (int i = 0; extra_metadata && extra_metadata[i]; i += 2)
        cp_safetensors_writer_set_metadata (w, extra_metadata[i], extra_metadata[i + 1], &err);
    }
  CHECK_MSG (cp_safetensors_writer_save (w, path, &err) == CP_OK, "%s", err.message);
  cp_safetensors_writer_free (w);
}

/* ---- reading the export back ---- */

#define MAX_NAMES 400

typedef struct
{
  char  *names[MAX_NAMES];
  int    count;
} NameSet;

static int
names_has (const NameSet *s, const char *name)
{
  for (int i = 0; i < s->count; i++)
    if (strcmp (s->names[i], name) == 0)
      return 1;
  return 0;
}

static void
names_add (NameSet *s, const uint8_t *p, size_t n)
{
  if (s->count < MAX_NAMES)
    s->names[s->count++] = strndup ((const char *) p, n);
}

static void
names_free (NameSet *s)
{
  for (int i = 0; i < s->count; i++)
    free (s->names[i]);
  s->count = 0;
}

static int
field_is (const CpPbField *f, const char *text)
{
  return f->wire == CP_PB_WIRE_LEN && f->size == strlen (text) && memcmp (f->data, text, f->size) == 0;
}

/* ValueInfoProto -> name and dims (-1 for dim_param "N"). */
static void
read_value_info (const CpPbField *vi, char *name, size_t name_size, int64_t *dims, int *ndim)
{
  CpPbReader r, rt, rtt, rs, rd;
  CpPbField f, t, tt, s, d;
  CpError err = { 0 };

  *ndim = 0;
  name[0] = '\0';
  cp_pb_reader_init (&r, vi->data, vi->size);
  while (cp_pb_reader_next (&r, &f, &err) == 1)
    if (f.field == 1)
      snprintf (name, name_size, "%.*s", (int) f.size, (const char *) f.data);
    else if (f.field == 2)
      {
        cp_pb_reader_init (&rt, f.data, f.size);
        while (cp_pb_reader_next (&rt, &t, &err) == 1)
          if (t.field == 1)
            {
              cp_pb_reader_init (&rtt, t.data, t.size);
              while (cp_pb_reader_next (&rtt, &tt, &err) == 1)
                if (tt.field == 1)
                  CHECK (tt.varint == 1);   /* float */
                else if (tt.field == 2)
                  {
                    cp_pb_reader_init (&rs, tt.data, tt.size);
                    while (cp_pb_reader_next (&rs, &s, &err) == 1)
                      {
                        cp_pb_reader_init (&rd, s.data, s.size);
                        while (cp_pb_reader_next (&rd, &d, &err) == 1)
                          if (d.field == 1)
                            dims[(*ndim)] = (int64_t) d.varint;
                          else if (d.field == 2)
                            {
                              CHECK (field_is (&d, "N"));
                              dims[(*ndim)] = -1;
                            }
                        (*ndim)++;
                      }
                  }
            }
      }
}

typedef struct
{
  char     name[128];
  int64_t  dims[4];
  int      ndim;
  int      data_type;
  const uint8_t *raw;
  size_t   raw_size;
} Tensor;

static void
read_tensor (const CpPbField *tf, Tensor *t)
{
  CpPbReader r;
  CpPbField f;
  CpError err = { 0 };

  memset (t, 0, sizeof *t);
  cp_pb_reader_init (&r, tf->data, tf->size);
  while (cp_pb_reader_next (&r, &f, &err) == 1)
    switch (f.field)
      {
      case 1: if (t->ndim < 4) t->dims[t->ndim++] = (int64_t) f.varint; break;
      case 2: t->data_type = (int) f.varint; break;
      case 8: snprintf (t->name, sizeof t->name, "%.*s", (int) f.size, (const char *) f.data); break;
      case 9: t->raw = f.data; t->raw_size = f.size; break;
      default: break;
      }
}

static const float *
find_initializer (const uint8_t *graph, size_t size, const char *name, Tensor *out)
{
  CpPbReader r;
  CpPbField f;
  CpError err = { 0 };

  cp_pb_reader_init (&r, graph, size);
  while (cp_pb_reader_next (&r, &f, &err) == 1)
    if (f.field == 5)
      {
        read_tensor (&f, out);
        if (strcmp (out->name, name) == 0)
          return (const float *) out->raw;
      }
  return NULL;
}

static float *
param_host (Model *m, const char *name)
{
  const CpParam *p = cp_network_find_param (m->net, name);
  float *v;
  CpError err = { 0 };

  if (p == NULL)
    return NULL;
  v = malloc (p->count * sizeof (float));
  m->be->download (m->be, v, p->data, p->count * sizeof (float), &err);
  return v;
}

/* Conv + BN through the backend's reference ops against the exported
 * folded conv with its bias, on a random input. */
static void
check_folded_conv (Model *m, const uint8_t *graph, size_t gsize, const char *conv, const char *bn,
                   int c_in, int c_out, int k, int stride, int pad)
{
  char wname[128], bname[128], pname[128];
  Tensor tw, tb;
  const float *fw, *fb;
  float *w, *gamma, *beta, *mean, *var;
  CpConvDesc d;
  CpRng rng;
  CpError err = { 0 };
  size_t nx, ny;
  float *x, *y_ref, *y_fold, *fw_copy;

  snprintf (wname, sizeof wname, "%s.weight", conv);
  snprintf (bname, sizeof bname, "%s.bias", conv);
  fw = find_initializer (graph, gsize, wname, &tw);
  fb = find_initializer (graph, gsize, bname, &tb);
  CHECK_MSG (fw != NULL && fb != NULL, "%s folded weight and bias", conv);
  if (fw == NULL || fb == NULL)
    return;
  CHECK (tw.ndim == 4 && tw.dims[0] == c_out && tw.dims[1] == c_in && tw.dims[2] == k && tw.dims[3] == k);
  CHECK (tw.data_type == 1 && tw.raw_size == (size_t) c_out * c_in * k * k * 4);
  CHECK (tb.ndim == 1 && tb.dims[0] == c_out && tb.raw_size == (size_t) c_out * 4);

  w = param_host (m, wname);
  snprintf (pname, sizeof pname, "%s.weight", bn); gamma = param_host (m, pname);
  snprintf (pname, sizeof pname, "%s.bias", bn); beta = param_host (m, pname);
  snprintf (pname, sizeof pname, "%s.running_mean", bn); mean = param_host (m, pname);
  snprintf (pname, sizeof pname, "%s.running_var", bn); var = param_host (m, pname);

  cp_conv_desc_init (&d, 2, c_in, 16, 16, c_out, k, k, stride, pad);
  nx = (size_t) 2 * c_in * 16 * 16;
  ny = (size_t) 2 * c_out * d.h_out * d.w_out;
  x = malloc (nx * sizeof (float));
  y_ref = malloc (ny * sizeof (float));
  y_fold = malloc (ny * sizeof (float));
  fw_copy = malloc (tw.raw_size);
  memcpy (fw_copy, fw, tw.raw_size);   /* raw_data need not be aligned */
  cp_rng_seed (&rng, 3);
  for (size_t i = 0; i < nx; i++)
    x[i] = (float) cp_rng_normal (&rng);
  CHECK (m->be->conv2d_forward (m->be, &d, x, w, y_ref) == CP_OK);
  CHECK (m->be->batchnorm_forward_infer (m->be, 2, c_out, d.h_out * d.w_out, y_ref, gamma, beta, mean,
                                         var, 1e-5f, y_ref) == CP_OK);
  CHECK (m->be->conv2d_forward (m->be, &d, x, fw_copy, y_fold) == CP_OK);
  for (int n = 0; n < 2; n++)
    for (int c = 0; c < c_out; c++)
      {
        float bias;

        memcpy (&bias, fb + c, sizeof bias);
        for (int i = 0; i < d.h_out * d.w_out; i++)
          y_fold[((size_t) n * c_out + c) * d.h_out * d.w_out + i] += bias;
      }
  {
    double e = harness_normalised_error (y_fold, y_ref, ny);
    CHECK_MSG (e < 1e-5, "%s: folded conv differs from conv + BN by %g", conv, e);
  }
  (void) err;
  free (w); free (gamma); free (beta); free (mean); free (var);
  free (x); free (y_ref); free (y_fold); free (fw_copy);
}

/* Linear + BatchNorm1d against the exported Gemm. */
static void
check_folded_linear (Model *m, const uint8_t *graph, size_t gsize, int k, int in, int out)
{
  char lin[32], bn[32], name[64];
  Tensor tw, tb;
  const float *fw, *fb;
  float *w, *b, *gamma, *beta, *mean, *var, *x, *y_ref, *y_fold, *fw_copy, *fb_copy;
  CpRng rng;

  snprintf (lin, sizeof lin, "head.%d", 3 * k);
  snprintf (bn, sizeof bn, "head.%d", 3 * k + 1);
  snprintf (name, sizeof name, "%s.weight", lin); fw = find_initializer (graph, gsize, name, &tw); w = param_host (m, name);
  snprintf (name, sizeof name, "%s.bias", lin); fb = find_initializer (graph, gsize, name, &tb); b = param_host (m, name);
  CHECK (fw != NULL && fb != NULL && tw.dims[0] == out && tw.dims[1] == in);
  if (fw == NULL || fb == NULL)
    return;
  snprintf (name, sizeof name, "%s.weight", bn); gamma = param_host (m, name);
  snprintf (name, sizeof name, "%s.bias", bn); beta = param_host (m, name);
  snprintf (name, sizeof name, "%s.running_mean", bn); mean = param_host (m, name);
  snprintf (name, sizeof name, "%s.running_var", bn); var = param_host (m, name);
  x = malloc ((size_t) 3 * in * sizeof (float));
  y_ref = malloc ((size_t) 3 * out * sizeof (float));
  y_fold = malloc ((size_t) 3 * out * sizeof (float));
  fw_copy = malloc (tw.raw_size);
  fb_copy = malloc (tb.raw_size);
  memcpy (fw_copy, fw, tw.raw_size);
  memcpy (fb_copy, fb, tb.raw_size);
  cp_rng_seed (&rng, 5);
  for (int i = 0; i < 3 * in; i++)
    x[i] = (float) cp_rng_normal (&rng);
  CHECK (m->be->linear_forward (m->be, 3, in, out, x, w, b, y_ref) == CP_OK);
  CHECK (m->be->batchnorm_forward_infer (m->be, 3, out, 1, y_ref, gamma, beta, mean, var, 1e-5f, y_ref) == CP_OK);
  CHECK (m->be->linear_forward (m->be, 3, in, out, x, fw_copy, fb_copy, y_fold) == CP_OK);
  {
    double e = harness_normalised_error (y_fold, y_ref, (size_t) 3 * out);
    CHECK_MSG (e < 1e-5, "%s: folded Gemm differs from Linear + BN1d by %g", lin, e);
  }
  free (w); free (b); free (gamma); free (beta); free (mean); free (var);
  free (x); free (y_ref); free (y_fold); free (fw_copy); free (fb_copy);
}

static void
test_export_structure (void)
{
  Model m;
  char model_path[512], onnx_path[512];
  CpOnnxExportInfo info = { 0 };
  CpOnnxExportOptions opts = { "test" };
  CpError err = { 0 };
  void *bytes = NULL;
  size_t size = 0;
  CpPbReader r;
  CpPbField f;
  const uint8_t *graph = NULL;
  size_t gsize = 0;
  int64_t ir = 0, opset = -1;
  int n_meta = 0, saw_category = 0, saw_size = 0, saw_threshold = 0, saw_norm = 0, saw_seed = 0;
  int saw_source_format = 0;

  model_make (&m);
  snprintf (model_path, sizeof model_path, "%s/widget.safetensors", tmpdir);
  snprintf (onnx_path, sizeof onnx_path, "%s/widget.onnx", tmpdir);
  model_save (&m, model_path, NULL, NULL, 1, 1, NULL);
  CHECK_MSG (cp_onnx_export_file (model_path, onnx_path, &opts, &info, &err) == CP_OK, "%s", err.message);
  CHECK (info.image_size == IMAGE_SIZE && info.head_layers == 2 && info.num_classes == 2);
  CHECK (info.global_only == 0);
  CHECK (cp_read_file (onnx_path, (size_t) 1 << 30, &bytes, &size, &err) == CP_OK);
  CHECK (size == info.bytes);

  /* ModelProto. */
  cp_pb_reader_init (&r, bytes, size);
  while (cp_pb_reader_next (&r, &f, &err) == 1)
    {
      if (f.field == 1)
        ir = (int64_t) f.varint;
      else if (f.field == 8)
        {
          CpPbReader o;
          CpPbField g;

          cp_pb_reader_init (&o, f.data, f.size);
          while (cp_pb_reader_next (&o, &g, &err) == 1)
            if (g.field == 2)
              opset = (int64_t) g.varint;
            else if (g.field == 1)
              CHECK (g.size == 0);   /* default domain */
        }
      else if (f.field == 2)
        CHECK (field_is (&f, "cutpaste-inspector"));
      else if (f.field == 7)
        {
          graph = f.data;
          gsize = f.size;
        }
      else if (f.field == 14)
        {
          CpPbReader e;
          CpPbField k, v = { 0 }, kk = { 0 };

          n_meta++;
          cp_pb_reader_init (&e, f.data, f.size);
          while (cp_pb_reader_next (&e, &k, &err) == 1)
            if (k.field == 1)
              kk = k;
            else if (k.field == 2)
              v = k;
          saw_category += field_is (&kk, "category") && field_is (&v, "widget");
          saw_size += field_is (&kk, "image_size") && field_is (&v, "64");
          saw_threshold += field_is (&kk, "threshold") && field_is (&v, "12.5");
          saw_norm += field_is (&kk, "normalization_mean") && field_is (&v, "0.485,0.456,0.406");
          saw_norm += field_is (&kk, "normalization_std") && field_is (&v, "0.229,0.224,0.225");
          saw_seed += field_is (&kk, "seed") && field_is (&v, "42");
          saw_source_format += field_is (&kk, "source_format") && field_is (&v, "cutpaste-inspector");
          CHECK (!field_is (&kk, "format"));
        }
    }
  CHECK (ir == CP_ONNX_IR_VERSION && opset == CP_ONNX_OPSET);
  CHECK (saw_category == 1 && saw_size == 1 && saw_threshold == 1 && saw_norm == 2 && saw_seed == 1);
  CHECK (saw_source_format == 1);
  CHECK (n_meta >= 10);
  CHECK (graph != NULL);

  if (graph != NULL)
    {
      NameSet defined = { 0 }, outputs = { 0 };
      int nodes = 0, inits = 0, convs = 0, gemms = 0, bad_inputs = 0, matmul_ok = 0;
      int inputs_seen = 0, outputs_seen = 0;
      static const char *const ops[] = {
        "Conv", "Relu", "MaxPool", "Add", "GlobalAveragePool", "Flatten", "Gemm", "ReduceL2",
        "Max", "Div", "Sub", "MatMul", "Mul", "ReduceSum", "Sqrt", NULL,
      };

      /* First pass: graph input and initializers define names. */
      cp_pb_reader_init (&r, graph, gsize);
      while (cp_pb_reader_next (&r, &f, &err) == 1)
        if (f.field == 5)
          {
            Tensor t;
            size_t count = 1;

            read_tensor (&f, &t);
            for (int i = 0; i < t.ndim; i++)
              count *= (size_t) t.dims[i];
            CHECK_MSG (!names_has (&defined, t.name), "duplicate initializer %s", t.name);
            CHECK_MSG (t.raw_size == count * (t.data_type == 7 ? 8 : 4), "%s raw_data size", t.name);
            CHECK (t.data_type == 1 || t.data_type == 7);
            names_add (&defined, (const uint8_t *) t.name, strlen (t.name));
            inits++;
          }
        else if (f.field == 11)
          {
            char name[64];
            int64_t dims[4];
            int ndim;

            read_value_info (&f, name, sizeof name, dims, &ndim);
            CHECK (strcmp (name, "image") == 0 && ndim == 4 && dims[0] == -1 && dims[1] == 3
                   && dims[2] == IMAGE_SIZE && dims[3] == IMAGE_SIZE);
            names_add (&defined, (const uint8_t *) name, strlen (name));
            inputs_seen++;
          }
        else if (f.field == 12)
          {
            char name[64];
            int64_t dims[4];
            int ndim;

            read_value_info (&f, name, sizeof name, dims, &ndim);
            names_add (&outputs, (const uint8_t *) name, strlen (name));
            if (strcmp (name, "embedding") == 0)
              CHECK (ndim == 2 && dims[0] == -1 && dims[1] == 512);
            else if (strcmp (name, "logits") == 0)
              CHECK (ndim == 2 && dims[0] == -1 && dims[1] == 2);
            else if (strcmp (name, "score") == 0)
              CHECK (ndim == 1 && dims[0] == -1);
            else
              CHECK_MSG (0, "unexpected output %s", name);
            outputs_seen++;
          }
      CHECK (inputs_seen == 1 && outputs_seen == 3);
      CHECK (inits == info.initializers);

      /* Second pass: nodes in order; every input must already exist. */
      cp_pb_reader_init (&r, graph, gsize);
      while (cp_pb_reader_next (&r, &f, &err) == 1)
        if (f.field == 1)
          {
            CpPbReader nr;
            CpPbField nf;
            char op[32] = "";
            int known = 0, n_out = 0, precision_input = 0;

            cp_pb_reader_init (&nr, f.data, f.size);
            while (cp_pb_reader_next (&nr, &nf, &err) == 1)
              if (nf.field == 4)
                snprintf (op, sizeof op, "%.*s", (int) nf.size, (const char *) nf.data);
            cp_pb_reader_init (&nr, f.data, f.size);
            while (cp_pb_reader_next (&nr, &nf, &err) == 1)
              if (nf.field == 1)
                {
                  char *name = strndup ((const char *) nf.data, nf.size);

                  if (!names_has (&defined, name))
                    {
                      fprintf (stderr, "node %s reads undefined %s\n", op, name);
                      bad_inputs++;
                    }
                  precision_input |= strcmp (name, "gde.precision") == 0;
                  free (name);
                }
              else if (nf.field == 2)
                {
                  char *name = strndup ((const char *) nf.data, nf.size);

                  CHECK_MSG (!names_has (&defined, name), "%s defined twice", name);
                  names_add (&defined, nf.data, nf.size);
                  free (name);
                  n_out++;
                }
            for (int i = 0; ops[i]; i++)
              known |= strcmp (op, ops[i]) == 0;
            CHECK_MSG (known, "unexpected op %s", op);
            CHECK (n_out == 1);
            convs += strcmp (op, "Conv") == 0;
            gemms += strcmp (op, "Gemm") == 0;
            matmul_ok += strcmp (op, "MatMul") == 0 && precision_input;
            nodes++;
          }
      CHECK (bad_inputs == 0);
      CHECK (nodes == info.nodes);
      /* 1 stem + 16 block convs + 3 projections; 3 head layers + classifier. */
      CHECK (convs == 20 && gemms == 4 && matmul_ok == 1);
      CHECK (names_has (&defined, "embedding") && names_has (&defined, "logits")
             && names_has (&defined, "score"));
      /* No BatchNormalization node survives: it is folded. */
      CHECK (!names_has (&defined, "resnet18.bn1.running_var"));

      check_folded_conv (&m, graph, gsize, "resnet18.conv1", "resnet18.bn1", 3, 64, 7, 2, 3);
      check_folded_conv (&m, graph, gsize, "resnet18.layer3.0.downsample.0", "resnet18.layer3.0.downsample.1",
                         128, 256, 1, 2, 0);
      check_folded_conv (&m, graph, gsize, "resnet18.layer2.1.conv2", "resnet18.layer2.1.bn2",
                         128, 128, 3, 1, 1);
      check_folded_linear (&m, graph, gsize, 0, 512, 512);
      check_folded_linear (&m, graph, gsize, 2, 512, 128);

      {
        Tensor t;
        const float *p = find_initializer (graph, gsize, "gde.precision", &t);

        CHECK (p != NULL && memcmp (p, cp_gde_precision_f32 (m.gde),
                                    (size_t) CP_EMBEDDING_DIM * CP_EMBEDDING_DIM * 4) == 0);
        p = find_initializer (graph, gsize, "gde.mean", &t);
        CHECK (p != NULL && memcmp (p, cp_gde_mean_f32 (m.gde), CP_EMBEDDING_DIM * 4) == 0);
      }
      names_free (&defined);
      names_free (&outputs);
    }
  free (bytes);
  model_free (&m);
}

/* ---- bad input ---- */

static int
count_dir_entries (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir (d)) != NULL)
    n += e->d_name[0] != '.';
  closedir (d);
  return n;
}

/* Export must fail with @code, a message naming @model_path and containing
 * @needle, and leave the folder as it was (the old output untouched). */
static void
expect_refused (const char *model_path, const char *onnx_path, CpStatus code, const char *needle)
{
  CpError err = { 0 };
  CpStatus status;
  int before = count_dir_entries (tmpdir);
  void *bytes = NULL;
  size_t size = 0;

  status = cp_onnx_export_file (model_path, onnx_path, NULL, NULL, &err);
  CHECK_MSG (status == code, "%s: status %s, expected %s (%s)", model_path,
             cp_status_to_string (status), cp_status_to_string (code), err.message);
  {
    const char *first = strstr (err.message, model_path);

    CHECK_MSG (first != NULL, "message does not name the file: %s", err.message);
    CHECK_MSG (first == NULL || strstr (first + 1, model_path) == NULL, "file named twice: %s", err.message);
  }
  CHECK_MSG (strstr (err.message, needle) != NULL, "message lacks '%s': %s", needle, err.message);
  CHECK (count_dir_entries (tmpdir) == before);
  CHECK (cp_read_file (onnx_path, 1024, &bytes, &size, &err) == CP_OK);
  CHECK (size == 3 && memcmp (bytes, "old", 3) == 0);
  free (bytes);
}

static void
test_export_refuses_bad_files (void)
{
  Model m;
  char good[512], path[512], onnx[512];
  CpError err = { 0 };
  void *bytes = NULL;
  size_t size = 0;

  model_make (&m);
  snprintf (onnx, sizeof onnx, "%s/out.onnx", tmpdir);
  CHECK (cp_write_file_atomic (onnx, "old", 3, &err) == CP_OK);

  snprintf (path, sizeof path, "%s/missing.safetensors", tmpdir);
  expect_refused (path, onnx, CP_ERR_IO, "missing");

  snprintf (path, sizeof path, "%s/garbage.safetensors", tmpdir);
  CHECK (cp_write_file_atomic (path, "this is not a safetensors file at all", 37, &err) == CP_OK);
  expect_refused (path, onnx, CP_ERR_FORMAT, "garbage");

  snprintf (good, sizeof good, "%s/good.safetensors", tmpdir);
  model_save (&m, good, NULL, NULL, 1, 1, NULL);
  CHECK (cp_read_file (good, (size_t) 1 << 30, &bytes, &size, &err) == CP_OK);
  snprintf (path, sizeof path, "%s/truncated.safetensors", tmpdir);
  CHECK (cp_write_file_atomic (path, bytes, size / 2, &err) == CP_OK);
  expect_refused (path, onnx, CP_ERR_FORMAT, "truncated");
  free (bytes);

  snprintf (path, sizeof path, "%s/no-gde.safetensors", tmpdir);
  model_save (&m, path, NULL, NULL, 0, 1, NULL);
  expect_refused (path, onnx, CP_ERR_FORMAT, "gde.mean");

  snprintf (path, sizeof path, "%s/no-metadata.safetensors", tmpdir);
  model_save (&m, path, NULL, NULL, 1, 0, NULL);
  expect_refused (path, onnx, CP_ERR_FORMAT, "__metadata__");

  snprintf (path, sizeof path, "%s/other-format.safetensors", tmpdir);
  model_save (&m, path, NULL, NULL, 1, 1, "someone-else");
  expect_refused (path, onnx, CP_ERR_FORMAT, "someone-else");

  snprintf (path, sizeof path, "%s/missing-tensor.safetensors", tmpdir);
  model_save (&m, path, "resnet18.layer3.1.conv2.weight", NULL, 1, 1, NULL);
  expect_refused (path, onnx, CP_ERR_FORMAT, "resnet18.layer3.1.conv2.weight");

  snprintf (path, sizeof path, "%s/nan-weight.safetensors", tmpdir);
  model_save (&m, path, NULL, "resnet18.layer1.0.conv1.weight", 1, 1, NULL);
  expect_refused (path, onnx, CP_ERR_NUMERIC, "resnet18.layer1.0.conv1.weight");

  snprintf (path, sizeof path, "%s/nan-bn.safetensors", tmpdir);
  model_save (&m, path, NULL, "resnet18.layer4.1.bn2.running_var", 1, 1, NULL);
  expect_refused (path, onnx, CP_ERR_NUMERIC, "resnet18.layer4.1.bn2");

  /* Writing over the model itself is refused and leaves it intact. */
  {
    void *before = NULL, *after = NULL;
    size_t nb = 0, na = 0;

    CHECK (cp_read_file (good, (size_t) 1 << 30, &before, &nb, &err) == CP_OK);
    cp_error_clear (&err);
    CHECK (cp_onnx_export_file (good, good, NULL, NULL, &err) == CP_ERR_INVALID);
    CHECK (strstr (err.message, "overwrite") != NULL);
    CHECK (cp_read_file (good, (size_t) 1 << 30, &after, &na, &err) == CP_OK);
    CHECK (na == nb && memcmp (before, after, na) == 0);
    free (before);
    free (after);
  }

  /* A folder that does not exist: nothing is created. */
  {
    char out[600];

    snprintf (out, sizeof out, "%s/no-such-dir/out.onnx", tmpdir);
    cp_error_clear (&err);
    CHECK (cp_onnx_export_file (good, out, NULL, NULL, &err) == CP_ERR_IO);
    CHECK (access (out, F_OK) != 0);
  }
  model_free (&m);
}

static void
remove_tree (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;

  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      {
        char path[600];

        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        unlink (path);
      }
  closedir (d);
  rmdir (dir);
}

/* The value of metadata_props @key in the ModelProto @bytes, copied
 * into @out; 0 when absent. */
static int
onnx_metadata (const void *bytes, size_t size, const char *key, char *out, size_t out_size)
{
  CpPbReader r;
  CpPbField f;
  CpError err = { 0 };
  int found = 0;

  cp_pb_reader_init (&r, bytes, size);
  while (cp_pb_reader_next (&r, &f, &err) == 1)
    if (f.field == 14)
      {
        CpPbReader e;
        CpPbField k, v = { 0 }, kk = { 0 };

        cp_pb_reader_init (&e, f.data, f.size);
        while (cp_pb_reader_next (&e, &k, &err) == 1)
          if (k.field == 1)
            kk = k;
          else if (k.field == 2)
            v = k;
        if (field_is (&kk, key))
          {
            snprintf (out, out_size, "%.*s", (int) v.size, (const char *) v.data);
            found++;
          }
      }
  return found == 1;
}

/* A model that also scores regions (the quick profile's): the graph
 * computes only the global part, so the exported threshold is the global
 * part's share (threshold x global_scale), the model's own is kept beside
 * it, and a note says what is left out. */
static void
test_export_global_only (void)
{
  static const char *const extra[] = { "score_parts", "global+local", "global_scale", "2",
                                       "local_scale", "3", NULL };
  char model_path[600], onnx_path[600], value[512];
  Model m;
  CpOnnxExportInfo info = { 0 };
  CpOnnxExportOptions opts = { "test" };
  CpError err = { 0 };
  void *bytes = NULL;
  size_t size = 0;

  model_make (&m);
  snprintf (model_path, sizeof model_path, "%s/regions.safetensors", tmpdir);
  snprintf (onnx_path, sizeof onnx_path, "%s/regions.onnx", tmpdir);
  extra_metadata = extra;
  model_save (&m, model_path, NULL, NULL, 1, 1, NULL);
  extra_metadata = NULL;
  CHECK_MSG (cp_onnx_export_file (model_path, onnx_path, &opts, &info, &err) == CP_OK, "%s", err.message);
  CHECK (info.global_only == 1);
  CHECK (cp_read_file (onnx_path, (size_t) 1 << 30, &bytes, &size, &err) == CP_OK);
  CHECK (onnx_metadata (bytes, size, "threshold", value, sizeof value) && strcmp (value, "25") == 0);
  CHECK (onnx_metadata (bytes, size, "threshold_model", value, sizeof value)
         && strcmp (value, "12.5") == 0);
  CHECK (onnx_metadata (bytes, size, "score_note", value, sizeof value)
         && strstr (value, "global part only") != NULL);
  CHECK (onnx_metadata (bytes, size, "score_parts", value, sizeof value)
         && strcmp (value, "global+local") == 0);
  free (bytes);
  model_free (&m);
}

int
main (void)
{
  const char *base = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";

  snprintf (tmpdir, sizeof tmpdir, "%s/cp-onnx-test-XXXXXX", base);
  if (mkdtemp (tmpdir) == NULL)
    {
      perror ("mkdtemp");
      return 1;
    }
  RUN_TEST (test_varint_encoding);
  RUN_TEST (test_reader_round_trip);
  RUN_TEST (test_export_structure);
  RUN_TEST (test_export_refuses_bad_files);
  RUN_TEST (test_export_global_only);
  remove_tree (tmpdir);
  return harness_exit ();
}
