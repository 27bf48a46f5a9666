/* test-nn-params.c: the parameter table (names, shapes, counts, order),
 * torchvision initialisation statistics, and saving/loading by the
 * reference's and torchvision's names, with errors that name the key.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "core/nn/network.h"
#include "core/nn/network-private.h"

#define SIZE 32
#define N    4

static CpBackend *be;
static char tmpdir[] = "/tmp/cp-nn-params-XXXXXX";

static CpNetwork *
make_net (int head_layers, int classes, uint64_t seed)
{
  CpError error = { 0 };
  CpNetworkConfig config = { head_layers, classes };
  CpNetwork *net = cp_network_new (be, &config, &error);
  CpRng rng;

  CHECK_MSG (net != NULL, "%s", error.message);
  if (net == NULL)
    exit (1);
  cp_rng_seed (&rng, seed);
  CHECK (cp_network_init_checked (net, &rng, &error) == CP_OK);
  return net;
}

static float *
download (const float *dev, size_t count)
{
  float *host = malloc (count * sizeof (float));
  be->download (be, host, dev, count * sizeof (float), NULL);
  return host;
}

static void
check_shape (const CpNetwork *net, const char *name, int ndim, int64_t d0, int64_t d1,
             int64_t d2, int64_t d3)
{
  const CpParam *p = cp_network_find_param (net, name);
  int64_t want[4] = { d0, d1, d2, d3 };

  CHECK_MSG (p != NULL, "no parameter %s", name);
  if (p == NULL)
    return;
  CHECK_MSG (p->ndim == ndim, "%s: ndim %d, expected %d", name, p->ndim, ndim);
  for (int i = 0; i < ndim && i < p->ndim; i++)
    CHECK_MSG (p->shape[i] == want[i], "%s: dim %d is %lld, expected %lld", name, i,
               (long long) p->shape[i], (long long) want[i]);
}

static void
test_names_shapes_counts (void)
{
  CpNetwork *net = make_net (1, 3, 1);
  CpNetwork *net2 = make_net (2, 2, 1);
  size_t backbone = 0, total = 0;
  /* torchvision's resnet18 has 11,689,512 parameters; without fc
   * (512 * 1000 + 1000) that leaves 11,176,512. */
  const size_t expect_backbone = 11689512 - (512 * 1000 + 1000);
  /* head_layers = 1, C = 3: Linear 512->512, BN(512), Linear 512->128,
   * BN(128), Linear 128->3. */
  const size_t expect_head = (512 * 512 + 512) + 2 * 512 + (512 * 128 + 128) + 2 * 128
                             + (128 * 3 + 3);
  const char *order[] = {
    "resnet18.conv1.weight", "resnet18.bn1.weight", "resnet18.bn1.bias",
    "resnet18.bn1.running_mean", "resnet18.bn1.running_var",
    "resnet18.layer1.0.conv1.weight", "resnet18.layer1.0.bn1.weight",
  };

  /* 20 convs + 20 BNs x 4 = 100 backbone tensors (num_batches_tracked is
   * kept apart as int64); head 2 x (2 + 4), classifier 2. */
  CHECK (cp_network_param_count (net) == 100 + 12 + 2);
  for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
    CHECK_MSG (strcmp (cp_network_param (net, (int) i)->name, order[i]) == 0, "param %zu is %s",
               i, cp_network_param (net, (int) i)->name);
  CHECK (strcmp (cp_network_param (net, cp_network_param_count (net) - 1)->name, "out.bias") == 0);

  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      size_t count = 1;
      for (int d = 0; d < p->ndim; d++)
        count *= (size_t) p->shape[d];
      CHECK_MSG (count == p->count, "%s: count %zu vs shape %zu", p->name, p->count, count);
      CHECK ((p->kind == CP_PARAM_WEIGHT) == (p->grad != NULL));
      CHECK (p->in_backbone == (strncmp (p->name, "resnet18.", 9) == 0));
      if (p->kind != CP_PARAM_WEIGHT)
        continue;
      total += p->count;
      if (p->in_backbone)
        backbone += p->count;
    }
  CHECK_MSG (backbone == expect_backbone, "backbone %zu, expected %zu", backbone, expect_backbone);
  CHECK_MSG (total == expect_backbone + expect_head, "total %zu, expected %zu", total,
             expect_backbone + expect_head);
  CHECK (cp_network_weight_count (net) == expect_backbone + expect_head);
  CHECK (cp_network_backbone_weight_count (net) == expect_backbone);
  printf ("# backbone %zu, total with head_layers=1 and 3 classes %zu\n", backbone, total);

  check_shape (net, "resnet18.conv1.weight", 4, 64, 3, 7, 7);
  check_shape (net, "resnet18.bn1.running_var", 1, 64, 0, 0, 0);
  check_shape (net, "resnet18.layer1.1.conv2.weight", 4, 64, 64, 3, 3);
  check_shape (net, "resnet18.layer2.0.conv1.weight", 4, 128, 64, 3, 3);
  check_shape (net, "resnet18.layer2.0.downsample.0.weight", 4, 128, 64, 1, 1);
  check_shape (net, "resnet18.layer2.0.downsample.1.running_mean", 1, 128, 0, 0, 0);
  check_shape (net, "resnet18.layer3.0.downsample.0.weight", 4, 256, 128, 1, 1);
  check_shape (net, "resnet18.layer4.1.conv2.weight", 4, 512, 512, 3, 3);
  check_shape (net, "resnet18.layer4.0.downsample.1.bias", 1, 512, 0, 0, 0);
  check_shape (net, "head.0.weight", 2, 512, 512, 0, 0);
  check_shape (net, "head.0.bias", 1, 512, 0, 0, 0);
  check_shape (net, "head.1.running_var", 1, 512, 0, 0, 0);
  check_shape (net, "head.3.weight", 2, 128, 512, 0, 0);
  check_shape (net, "head.4.weight", 1, 128, 0, 0, 0);
  check_shape (net, "out.weight", 2, 3, 128, 0, 0);
  CHECK (cp_network_find_param (net, "resnet18.layer1.0.downsample.0.weight") == NULL);
  CHECK (cp_network_find_param (net, "head.2.weight") == NULL);
  CHECK (cp_network_find_param (net, "head.6.weight") == NULL);
  CHECK (cp_network_find_param (net, "resnet18.fc.weight") == NULL);

  /* head_layers = 2: Linear/BN pairs at 0,1 / 3,4 / 6,7 (ReLU in between). */
  check_shape (net2, "head.3.weight", 2, 512, 512, 0, 0);
  check_shape (net2, "head.6.weight", 2, 128, 512, 0, 0);
  check_shape (net2, "head.7.running_mean", 1, 128, 0, 0, 0);
  check_shape (net2, "out.weight", 2, 2, 128, 0, 0);
  CHECK (cp_network_find_param (net2, "head.5.weight") == NULL);

  /* FLOPs: torchvision quotes 1.814 GMACs for ResNet-18 at 224 x 224
   * (fc included); ours excludes fc (0.5 MMAC) and adds the head. */
  {
    double gflops = cp_network_forward_flops (net, 224, 224) / 1e9;
    double head = 2.0 * (512 * 512 + 512 * 128 + 128 * 3) / 1e9;
    CHECK_MSG (fabs (gflops - head - 2 * (1.8142 - 0.000512)) < 0.01, "%.4f GFLOPs at 224", gflops);
  }
  cp_network_free (net);
  cp_network_free (net2);
}

static void
test_init_statistics (void)
{
  CpNetwork *net = make_net (1, 3, 7);
  int convs = 0, bns = 0, linears = 0;
  char prefix[128];

  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      float *v = download (p->data, p->count);
      double mean = 0.0, var = 0.0, maxabs = 0.0;

      for (size_t j = 0; j < p->count; j++)
        {
          mean += v[j];
          maxabs = fmax (maxabs, fabs (v[j]));
        }
      mean /= (double) p->count;
      for (size_t j = 0; j < p->count; j++)
        var += (v[j] - mean) * (v[j] - mean);
      var /= (double) p->count;

      snprintf (prefix, sizeof prefix, "%.*s.running_mean",
                (int) (strrchr (p->name, '.') - p->name), p->name);
      if (cp_network_find_param (net, prefix) != NULL)
        {
          /* A BatchNorm: weight and running_var 1, bias and running_mean 0. */
          int ones = strstr (p->name, ".weight") || strstr (p->name, ".running_var");
          CHECK_MSG (mean == (ones ? 1.0 : 0.0) && var == 0.0, "%s: not all %s", p->name,
                     ones ? "ones" : "zeros");
          bns++;
        }
      else if (p->ndim == 4)
        {
          /* kaiming_normal_(fan_out, relu): std sqrt (2 / (c_out k k)).
           * The sample std of n normals is within 5 / sqrt (2 n) of the
           * truth with overwhelming probability (n >= 4096 here). */
          double want = sqrt (2.0 / (double) (p->shape[0] * p->shape[2] * p->shape[3]));
          double tol = 5.0 / sqrt (2.0 * (double) p->count);
          CHECK_MSG (fabs (sqrt (var) / want - 1.0) < tol, "%s: std %.5f, expected %.5f", p->name,
                     sqrt (var), want);
          CHECK_MSG (fabs (mean) < 5.0 * want / sqrt ((double) p->count), "%s: mean %g", p->name,
                     mean);
          convs++;
        }
      else
        {
          /* Linear: uniform in +-1 / sqrt (fan_in), weights and biases. */
          char wname[128];
          const CpParam *w;
          double bound;

          snprintf (wname, sizeof wname, "%.*s.weight",
                    (int) (strrchr (p->name, '.') - p->name), p->name);
          w = cp_network_find_param (net, wname);
          CHECK (w != NULL && w->ndim == 2);
          if (w == NULL)
            continue;
          bound = 1.0 / sqrt ((double) w->shape[1]);
          CHECK_MSG (maxabs <= bound && maxabs > 0.9 * bound, "%s: max |v| %g, bound %g", p->name,
                     maxabs, bound);
          if (p->count > 10000)
            CHECK_MSG (fabs (sqrt (var) / (bound / sqrt (3.0)) - 1.0) < 0.02,
                       "%s: std %g, expected %g", p->name, sqrt (var), bound / sqrt (3.0));
          linears++;
        }
      free (v);
    }
  CHECK (convs == 20);
  CHECK (bns == 22 * 4);
  CHECK (linears == 3 * 2);
  CHECK (cp_network_batches_tracked (net) == 0);
  cp_network_free (net);
}

/* Images and a forward pass, inference or training. */
static float *
make_images (uint64_t seed)
{
  CpRng rng;
  size_t count = (size_t) N * 3 * SIZE * SIZE;
  float *host = malloc (count * sizeof (float));
  float *dev = be->alloc (be, count * sizeof (float), NULL);

  cp_rng_seed (&rng, seed);
  for (size_t i = 0; i < count; i++)
    host[i] = (float) cp_rng_normal (&rng);
  be->upload (be, dev, host, count * sizeof (float), NULL);
  free (host);
  return dev;
}

static void
outputs (CpNetwork *net, const float *images, float *embedding, float *logits)
{
  CpError error = { 0 };
  int classes = cp_network_config (net)->num_classes;

  CHECK_MSG (cp_network_forward (net, images, N, SIZE, SIZE, 0, &error) == CP_OK, "%s",
             error.message);
  be->download (be, embedding, cp_network_embedding (net), N * 512 * sizeof (float), NULL);
  be->download (be, logits, cp_network_logits (net), (size_t) N * classes * sizeof (float), NULL);
}

static char *
path_in_tmp (const char *name)
{
  static char path[512];
  snprintf (path, sizeof path, "%s/%s", tmpdir, name);
  return path;
}

/* Trains one step so that running statistics and counters differ from a
 * fresh network's. */
static void
one_training_step (CpNetwork *net, const float *images)
{
  CpError error = { 0 };
  int32_t labels[N] = { 0, 1, 2, 0 };
  int32_t *labels_dev = be->alloc (be, sizeof labels, NULL);
  float loss;

  be->upload (be, labels_dev, labels, sizeof labels, NULL);
  CHECK (cp_network_forward (net, images, N, SIZE, SIZE, 1, &error) == CP_OK);
  CHECK (cp_network_loss_backward (net, labels_dev, 1, 0, &loss, &error) == CP_OK);
  CHECK (cp_network_sgd_step (net, 0.03f, 0.9f, 3e-5f, 0, &error) == CP_OK);
  be->free (be, labels_dev);
}

static void
test_save_load_round_trip (void)
{
  CpError error = { 0 };
  CpNetwork *a = make_net (1, 3, 11);
  CpNetwork *b = make_net (1, 3, 12);
  float *images = make_images (5);
  float emb_a[N * 512], emb_b[N * 512], log_a[N * 3], log_b[N * 3];
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  CpSafetensors *st;
  const CpTensorInfo *info;

  one_training_step (a, images);
  one_training_step (a, images);
  CHECK (cp_network_batches_tracked (a) == 2);
  outputs (a, images, emb_a, log_a);

  CHECK_MSG (cp_network_save (a, w, &error) == CP_OK, "%s", error.message);
  CHECK_MSG (cp_safetensors_writer_save (w, path_in_tmp ("model.safetensors"), &error) == CP_OK,
             "%s", error.message);
  cp_safetensors_writer_free (w);

  st = cp_safetensors_open (path_in_tmp ("model.safetensors"), &error);
  CHECK_MSG (st != NULL, "%s", error.message);
  if (st == NULL)
    return;
  /* Every tensor plus one int64 counter per BN (20 in the backbone, 2 in
   * the head). */
  CHECK (cp_safetensors_count (st) == cp_network_param_count (a) + 22);
  info = cp_safetensors_find (st, "resnet18.layer2.0.downsample.1.num_batches_tracked");
  CHECK (info != NULL && info->dtype == CP_DTYPE_I64 && info->ndim == 0);
  info = cp_safetensors_find (st, "head.4.num_batches_tracked");
  CHECK (info != NULL && info->dtype == CP_DTYPE_I64);
  info = cp_safetensors_find (st, "resnet18.conv1.weight");
  CHECK (info != NULL && info->dtype == CP_DTYPE_F32 && info->ndim == 4 && info->shape[1] == 3);

  outputs (b, images, emb_b, log_b);
  CHECK (memcmp (emb_a, emb_b, sizeof emb_a) != 0);
  CHECK_MSG (cp_network_load (b, st, CP_LOAD_ALL, &error) == CP_OK, "%s", error.message);
  outputs (b, images, emb_b, log_b);
  CHECK (memcmp (emb_a, emb_b, sizeof emb_a) == 0);
  CHECK (memcmp (log_a, log_b, sizeof log_a) == 0);
  CHECK (cp_network_batches_tracked (b) == 2);
  cp_safetensors_close (st);

  be->free (be, images);
  cp_network_free (a);
  cp_network_free (b);
}

/* Writes @net's backbone the way torchvision names it (no "resnet18.",
 * plus fc.*), as F32 or BF16. */
static void
write_torchvision (CpNetwork *net, const char *path, int bf16)
{
  CpError error = { 0 };
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  int64_t fc_w[2] = { 1000, 512 }, fc_b[1] = { 1000 }, scalar[1] = { 0 };
  float *fc = calloc (1000 * 512, sizeof (float));
  int64_t tracked = 1000;

  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      float *v;
      if (!p->in_backbone)
        continue;
      v = download (p->data, p->count);
      if (bf16)
        {
          uint16_t *h = malloc (p->count * sizeof (uint16_t));
          for (size_t j = 0; j < p->count; j++)
            {
              uint32_t bits;
              memcpy (&bits, &v[j], 4);
              h[j] = (uint16_t) (bits >> 16);   /* truncation: exact bf16 values */
            }
          CHECK (cp_safetensors_writer_add (w, p->name + 9, CP_DTYPE_BF16, p->shape, p->ndim, h,
                                            &error) == CP_OK);
          free (h);
        }
      else
        CHECK (cp_safetensors_writer_add (w, p->name + 9, CP_DTYPE_F32, p->shape, p->ndim, v,
                                          &error) == CP_OK);
      if (strstr (p->name, "running_var"))
        {
          char name[128];
          snprintf (name, sizeof name, "%.*s.num_batches_tracked",
                    (int) (strlen (p->name) - 9 - strlen (".running_var")), p->name + 9);
          CHECK (cp_safetensors_writer_add (w, name, CP_DTYPE_I64, scalar, 0, &tracked,
                                            &error) == CP_OK);
        }
      free (v);
    }
  CHECK (cp_safetensors_writer_add (w, "fc.weight", CP_DTYPE_F32, fc_w, 2, fc, &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "fc.bias", CP_DTYPE_F32, fc_b, 1, fc, &error) == CP_OK);
  CHECK_MSG (cp_safetensors_writer_save (w, path, &error) == CP_OK, "%s", error.message);
  cp_safetensors_writer_free (w);
  free (fc);
}

static void
test_torchvision_names (void)
{
  CpError error = { 0 };
  CpNetwork *src = make_net (1, 3, 21);
  CpNetwork *dst = make_net (1, 3, 22);
  CpSafetensors *st;
  const CpParam *head_before = cp_network_find_param (dst, "head.0.weight");
  float *head0 = download (head_before->data, head_before->count);

  for (int bf16 = 0; bf16 <= 1; bf16++)
    {
      const char *path = path_in_tmp (bf16 ? "tv-bf16.safetensors" : "tv.safetensors");
      write_torchvision (src, path, bf16);
      st = cp_safetensors_open (path, &error);
      CHECK_MSG (st != NULL, "%s", error.message);
      if (st == NULL)
        continue;
      /* The head is not in an ImageNet file: a full load must say so. */
      CHECK (cp_network_load (dst, st, CP_LOAD_ALL, &error) == CP_ERR_FORMAT);
      CHECK_MSG (strstr (error.message, "head.0.weight") != NULL, "%s", error.message);
      CHECK_MSG (cp_network_load (dst, st, CP_LOAD_BACKBONE, &error) == CP_OK, "%s",
                 error.message);
      for (int i = 0; i < cp_network_param_count (src); i++)
        {
          const CpParam *p = cp_network_param (src, i);
          const CpParam *q = cp_network_param (dst, i);
          float *a, *b;
          double worst = 0.0;
          if (!p->in_backbone)
            continue;
          a = download (p->data, p->count);
          b = download (q->data, q->count);
          for (size_t j = 0; j < p->count; j++)
            worst = fmax (worst, fabs ((double) a[j] - b[j]) / fmax (fabs (a[j]), 1e-30));
          /* bf16 keeps 8 significant bits: truncation errs by < 2^-7. */
          CHECK_MSG (bf16 ? worst < 1.0 / 128 : worst == 0.0, "%s: relative error %g", p->name,
                     worst);
          free (a);
          free (b);
        }
      {
        float *h = download (head_before->data, head_before->count);
        CHECK (memcmp (h, head0, head_before->count * sizeof (float)) == 0);
        free (h);
      }
      CHECK (cp_network_batches_tracked (dst) == 1000);
      cp_safetensors_close (st);
    }
  free (head0);
  cp_network_free (src);
  cp_network_free (dst);
}

/* Writes @net's tensors, leaving out @skip and giving @reshape the shape
 * [rows, cols] with its data truncated or zero-padded. */
static void
write_altered (CpNetwork *net, const char *path, const char *skip, const char *reshape,
               int64_t rows, int64_t cols)
{
  CpError error = { 0 };
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();

  for (int i = 0; i < cp_network_param_count (net); i++)
    {
      const CpParam *p = cp_network_param (net, i);
      float *v;
      if (skip != NULL && strcmp (p->name, skip) == 0)
        continue;
      v = download (p->data, p->count);
      if (reshape != NULL && strcmp (p->name, reshape) == 0)
        {
          int64_t shape[2] = { rows, cols };
          float *other = calloc ((size_t) (rows * cols), sizeof (float));
          CHECK (cp_safetensors_writer_add (w, p->name, CP_DTYPE_F32, shape, 2, other, &error)
                 == CP_OK);
          free (other);
        }
      else
        CHECK (cp_safetensors_writer_add (w, p->name, CP_DTYPE_F32, p->shape, p->ndim, v, &error)
               == CP_OK);
      free (v);
    }
  CHECK_MSG (cp_safetensors_writer_save (w, path, &error) == CP_OK, "%s", error.message);
  cp_safetensors_writer_free (w);
}

static void
test_load_errors_name_the_key (void)
{
  CpError error = { 0 };
  CpNetwork *src = make_net (1, 3, 31);
  CpNetwork *dst = make_net (1, 3, 32);
  const CpParam *probe = cp_network_find_param (dst, "resnet18.conv1.weight");
  float *before = download (probe->data, probe->count);
  float *after;
  CpSafetensors *st;

  write_altered (src, path_in_tmp ("missing.safetensors"), "resnet18.layer3.1.bn2.running_var",
                 NULL, 0, 0);
  st = cp_safetensors_open (path_in_tmp ("missing.safetensors"), &error);
  CHECK (st != NULL);
  if (st != NULL)
    {
      CHECK (cp_network_load (dst, st, CP_LOAD_ALL, &error) == CP_ERR_FORMAT);
      CHECK_MSG (strstr (error.message, "resnet18.layer3.1.bn2.running_var") != NULL, "%s",
                 error.message);
      printf ("# missing key: %s\n", error.message);
      cp_safetensors_close (st);
    }
  /* A failed load leaves the network as it was. */
  after = download (probe->data, probe->count);
  CHECK (memcmp (before, after, probe->count * sizeof (float)) == 0);
  free (after);

  write_altered (src, path_in_tmp ("shape.safetensors"), NULL, "head.3.weight", 128, 256);
  st = cp_safetensors_open (path_in_tmp ("shape.safetensors"), &error);
  CHECK (st != NULL);
  if (st != NULL)
    {
      CHECK (cp_network_load (dst, st, CP_LOAD_ALL, &error) == CP_ERR_FORMAT);
      CHECK_MSG (strstr (error.message, "head.3.weight") != NULL
                 && strstr (error.message, "[128, 256]") != NULL
                 && strstr (error.message, "[128, 512]") != NULL, "%s", error.message);
      printf ("# wrong shape: %s\n", error.message);
      /* The backbone alone is fine in that file. */
      CHECK (cp_network_load (dst, st, CP_LOAD_BACKBONE, &error) == CP_OK);
      cp_safetensors_close (st);
    }
  after = download (probe->data, probe->count);
  CHECK (memcmp (before, after, probe->count * sizeof (float)) != 0);
  free (after);
  free (before);
  cp_network_free (src);
  cp_network_free (dst);
}

/* Inference runs the backbone in four rotating buffers; the result must
 * be what the one-slot-per-tensor training layout gives. */
static void
test_inference_layout (void)
{
  CpNetwork *net = make_net (1, 3, 41);
  float *images = make_images (6);
  float emb_a[N * 512], emb_b[N * 512], log_a[N * 3], log_b[N * 3];
  double e1, e2;

  one_training_step (net, images);   /* running statistics away from 0 / 1 */
  outputs (net, images, emb_a, log_a);
  net->keep_activations = 1;
  outputs (net, images, emb_b, log_b);
  e1 = harness_normalised_error (emb_a, emb_b, N * 512);
  e2 = harness_normalised_error (log_a, log_b, N * 3);
  CHECK_MSG (e1 <= 1e-6 && e2 <= 1e-6, "embedding error %g, logits error %g", e1, e2);
  CHECK (cp_network_arena_bytes (net, N, SIZE, SIZE, 0)
         < cp_network_arena_bytes (net, N, SIZE, SIZE, 1) / 2);
  be->free (be, images);
  cp_network_free (net);
}

/* Bad calls are refused with a message, never crash. */
static void
test_argument_errors (void)
{
  CpError error = { 0 };
  CpNetwork *net = make_net (1, 3, 51);
  CpNetworkConfig bad = { 1, 1 };
  float *images = make_images (7);
  int32_t *labels = be->alloc (be, N * sizeof (int32_t), NULL);
  float loss;

  be->zero (be, labels, N * sizeof (int32_t), NULL);
  CHECK (cp_network_loss_backward (net, labels, 1, 0, &loss, &error) == CP_ERR_INVALID);
  CHECK (cp_network_forward (net, images, 1, 48, 48, 0, &error) == CP_ERR_INVALID);
  CHECK_MSG (strstr (error.message, "48x48") != NULL, "%s", error.message);
  CHECK (cp_network_embedding (net) == NULL);
  /* BatchNorm1d needs two values per channel in training mode. */
  CHECK (cp_network_forward (net, images, 1, SIZE, SIZE, 1, &error) == CP_ERR_INVALID);
  CHECK (cp_network_forward (net, images, 1, SIZE, SIZE, 0, &error) == CP_OK);
  CHECK (cp_network_embedding (net) != NULL);
  CHECK (cp_network_new (be, &bad, &error) == NULL && error.code == CP_ERR_INVALID);
  be->free (be, labels);
  be->free (be, images);
  cp_network_free (net);
}

int
main (void)
{
  CpError error = { 0 };
  char cmd[600];

  be = cp_backend_cpu_new (&error);
  if (be == NULL)
    {
      fprintf (stderr, "%s\n", error.message);
      return 1;
    }
  if (mkdtemp (tmpdir) == NULL)
    SKIP_ALL ("cannot create a temporary folder");

  RUN_TEST (test_names_shapes_counts);
  RUN_TEST (test_init_statistics);
  RUN_TEST (test_save_load_round_trip);
  RUN_TEST (test_torchvision_names);
  RUN_TEST (test_load_errors_name_the_key);
  RUN_TEST (test_inference_layout);
  RUN_TEST (test_argument_errors);

  snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", tmpdir);
  cp_backend_free (be);
  return harness_exit ();
}
