/* test-nn-imagenet.c: the check of ImageNet ResNet-18 weight files
 * (torchvision's and timm's names, exact shapes, finite values), on files
 * written here from a freshly initialised network, then damaged one way
 * at a time.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "core/io/safetensors.h"
#include "core/nn/imagenet-weights.h"
#include "core/nn/network.h"

static CpBackend *be;
static char tmpdir[] = "/tmp/cp-nn-imagenet-XXXXXX";

typedef struct
{
  const char *drop;          /* leave this tensor out */
  const char *rename_from;   /* write this tensor ... */
  const char *rename_to;     /* ... under this name */
  const char *bad_shape;     /* write this tensor with one element less */
  const char *poison;        /* put this value at element 3 of ... */
  float       poison_value;
  const char *extra;         /* add a tensor of this name */
  int         tracked;       /* write num_batches_tracked (1), as float (2), not (0) */
  int         fc;            /* write fc.* */
} Variant;

static char *
write_file (CpNetwork *net, const char *name, const Variant *v)
{
  CpError error = { 0 };
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  char *path = malloc (strlen (tmpdir) + strlen (name) + 2);
  int64_t fc_w[2] = { 1000, 512 }, fc_b[1] = { 1000 }, scalar[1] = { 0 }, one[1] = { 1 };
  float *fc = calloc (1000 * 512, sizeof (float)), f_tracked = 3;
  int64_t tracked = 3;

  sprintf (path, "%s/%s", tmpdir, name);
  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      const char *tv = p->name + strlen ("resnet18.");
      int64_t shape[4];
      float *values;

      if (!p->in_backbone || (v->drop && strcmp (tv, v->drop) == 0))
        continue;
      values = malloc (p->count * sizeof (float));
      be->download (be, values, p->data, p->count * sizeof (float), NULL);
      memcpy (shape, p->shape, sizeof shape);
      if (v->bad_shape && strcmp (tv, v->bad_shape) == 0)
        shape[0]--;
      if (v->poison && strcmp (tv, v->poison) == 0)
        values[3] = v->poison_value;
      if (v->rename_from && strcmp (tv, v->rename_from) == 0)
        tv = v->rename_to;
      CHECK (cp_safetensors_writer_add (w, tv, CP_DTYPE_F32, shape, p->ndim, values, &error)
             == CP_OK);
      if (v->tracked && strstr (tv, "running_var"))
        {
          char counter[128];
          snprintf (counter, sizeof counter, "%.*s.num_batches_tracked",
                    (int) (strlen (tv) - strlen (".running_var")), tv);
          if (v->tracked == 1)
            CHECK (cp_safetensors_writer_add (w, counter, CP_DTYPE_I64, scalar, 0, &tracked,
                                              &error) == CP_OK);
          else
            CHECK (cp_safetensors_writer_add (w, counter, CP_DTYPE_F32, one, 1, &f_tracked,
                                              &error) == CP_OK);
        }
      free (values);
    }
  if (v->fc)
    {
      CHECK (cp_safetensors_writer_add (w, "fc.weight", CP_DTYPE_F32, fc_w, 2, fc, &error) == CP_OK);
      CHECK (cp_safetensors_writer_add (w, "fc.bias", CP_DTYPE_F32, fc_b, 1, fc, &error) == CP_OK);
    }
  if (v->extra)
    CHECK (cp_safetensors_writer_add (w, v->extra, CP_DTYPE_F32, fc_b, 1, fc, &error) == CP_OK);
  CHECK_MSG (cp_safetensors_writer_save (w, path, &error) == CP_OK, "%s", error.message);
  cp_safetensors_writer_free (w);
  free (fc);
  return path;
}

/* Checks the file @v describes: NULL @needle expects it valid. */
static void
expect (CpNetwork *net, const Variant *v, CpStatus code, const char *needle)
{
  char *path = write_file (net, "w.safetensors", v);
  CpError error = { 0 };
  CpSafetensors *st = cp_safetensors_open (path, &error);
  CpStatus got;

  CHECK_MSG (st != NULL, "%s", error.message);
  if (st == NULL)
    {
      free (path);
      return;
    }
  got = cp_imagenet_weights_check (st, &error);
  if (needle == NULL)
    CHECK_MSG (got == CP_OK, "valid file refused: %s", error.message);
  else
    {
      CHECK_MSG (got == code, "got %s (%s), expected %s", cp_status_to_string (got),
                 got == CP_OK ? "" : error.message, cp_status_to_string (code));
      CHECK_MSG (got != CP_OK && strstr (error.message, needle) != NULL
                 && strncmp (error.message, path, strlen (path)) == 0,
                 "message '%s' lacks '%s' or the path", error.message, needle);
    }
  cp_safetensors_close (st);
  unlink (path);
  free (path);
}

static void
test_check (void)
{
  CpError error = { 0 };
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net = cp_network_new (be, &config, &error);
  CpRng rng;

  CHECK (net != NULL);
  if (net == NULL)
    return;
  cp_rng_seed (&rng, 3);
  cp_network_init (net, &rng);

  /* torchvision's file (counters, classifier) and timm's (neither). */
  expect (net, &(Variant) { .tracked = 1, .fc = 1 }, CP_OK, NULL);
  expect (net, &(Variant) { 0 }, CP_OK, NULL);

  expect (net, &(Variant) { .fc = 1, .drop = "layer3.1.bn2.running_mean" }, CP_ERR_FORMAT,
          "tensor 'layer3.1.bn2.running_mean' is missing");
  expect (net, &(Variant) { .fc = 1, .bad_shape = "layer2.0.downsample.0.weight" }, CP_ERR_FORMAT,
          "'layer2.0.downsample.0.weight' has shape [127, 64, 1, 1], expected [128, 64, 1, 1]");
  expect (net, &(Variant) { .fc = 1, .poison = "layer4.0.conv1.weight", .poison_value = NAN },
          CP_ERR_NUMERIC, "'layer4.0.conv1.weight' holds NaN at element 3");
  expect (net, &(Variant) { .fc = 1, .poison = "bn1.bias", .poison_value = INFINITY },
          CP_ERR_NUMERIC, "'bn1.bias' holds infinity");
  expect (net, &(Variant) { .fc = 1, .poison = "layer1.0.bn1.running_var", .poison_value = -1 },
          CP_ERR_NUMERIC, "negative variance");
  /* ResNet-34 has layer1.2; timm's resnet18d a deep stem. */
  expect (net, &(Variant) { .fc = 1, .extra = "layer1.2.conv1.weight" }, CP_ERR_FORMAT,
          "unexpected tensor 'layer1.2.conv1.weight'");
  expect (net, &(Variant) { .rename_from = "conv1.weight", .rename_to = "conv1.0.weight" },
          CP_ERR_FORMAT, "unexpected tensor 'conv1.0.weight'");
  /* A CutPaste model is not ImageNet weights, and says how to use it. */
  expect (net, &(Variant) { .rename_from = "bn1.bias", .rename_to = "resnet18.bn1.bias" },
          CP_ERR_FORMAT, "--weights FILE");
  expect (net, &(Variant) { .tracked = 2 }, CP_ERR_FORMAT,
          "'bn1.num_batches_tracked' is not a single integer");
  cp_network_free (net);
}

int
main (void)
{
  CpError error = { 0 };

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  if (mkdtemp (tmpdir) == NULL)
    SKIP_ALL ("cannot create a temporary folder");
  RUN_TEST (test_check);
  rmdir (tmpdir);
  cp_backend_free (be);
  return harness_exit ();
}
