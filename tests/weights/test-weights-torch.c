/* test-weights-torch.c: weight files written by PyTorch itself, read
 * with no Python, give torchvision's embedding.
 *
 * Debian's python3-torch and python3-torchvision (torch-reference.py)
 * save a random-initialised torchvision resnet18 state_dict with
 * torch.save (the format of torchvision's resnet18-f37072fd.pth), the same
 * saved to a file object (another top folder), in float16, and as timm's
 * model.safetensors; and they embed the images our pipeline prepared.
 * Each file must pass the weights check (the .pth under the torch.hub
 * name its SHA-256 gives it) and load into our network, whose embedding
 * of the same images must match torchvision's within 1e-4 relative (to
 * the largest value of each embedding).  Exits 77 where python3-torch is
 * absent.
 */
#include <math.h>
#include <string.h>

#include <gio/gio.h>

#include "data/image.h"
#include "data/synth.h"
#include "pipeline/weights.h"
#include "test-support.h"

#define SIZE 96
#define N    4

static char *dir;
static float inputs[N * 3 * SIZE * SIZE];

static float *
read_floats (const char *name, gsize count)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *bytes = NULL;
  gsize len = 0;
  float *values;

  g_assert_true (g_file_get_contents (path, &bytes, &len, NULL));
  g_assert_cmpuint (len, ==, count * sizeof (float));
  values = g_new (float, count);
  memcpy (values, bytes, len);
  return values;
}

/* Our embedding of the inputs from weights @name, against @ref_name. */
static void
check_embedding (const char *name, const char *ref_name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree float *ref = read_floats (ref_name, (gsize) N * 512);
  g_autoptr (GError) error = NULL;
  g_autofree char *sha = NULL;
  float got[N * 512];
  CpError err = { 0 };
  CpBackend *be = cp_backend_cpu_new (&err);
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net = cp_network_new (be, &config, &err);
  float *dev = be->alloc (be, sizeof inputs, &err);
  CpRng rng;
  double worst = 0;

  g_assert_nonnull (net);
  cp_rng_seed (&rng, 99);
  cp_network_init (net, &rng);
  g_assert_true (cp_weights_load_backbone (net, path, &sha, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (sha), ==, 64);
  g_assert_cmpint (be->upload (be, dev, inputs, sizeof inputs, &err), ==, CP_OK);
  g_assert_cmpint (cp_network_forward (net, dev, N, SIZE, SIZE, 0, &err), ==, CP_OK);
  g_assert_cmpint (be->download (be, got, cp_network_embedding (net), sizeof got, &err), ==, CP_OK);
  for (int i = 0; i < N; i++)
    {
      double scale = 0, diff = 0;

      for (int j = 0; j < 512; j++)
        {
          scale = fmax (scale, fabs (ref[i * 512 + j]));
          diff = fmax (diff, fabs ((double) got[i * 512 + j] - ref[i * 512 + j]));
        }
      g_assert_cmpfloat (scale, >, 0);
      worst = fmax (worst, diff / scale);
    }
  g_test_message ("%s: largest difference from torchvision %.3g of the embedding's largest value",
                  name, worst);
  g_assert_cmpfloat (worst, <=, 1e-4);
  be->free (be, dev);
  cp_network_free (net);
  cp_backend_free (be);
}

static void
test_pth (void)
{
  g_autofree char *name_path = g_build_filename (dir, "name.txt", NULL);
  g_autofree char *name = NULL, *path = NULL, *sha8 = NULL;
  g_autoptr (CpWeightsInfo) info = NULL;

  g_assert_true (g_file_get_contents (name_path, &name, NULL, NULL));
  path = g_build_filename (dir, name, NULL);
  /* torch.hub's name: the check compares the hash in it. */
  info = cp_weights_check (path, CP_WEIGHTS_SOURCE_TORCH_HUB, NULL);
  g_assert_null (info->problem);
  g_assert_true (info->valid);
  sha8 = g_strndup (info->sha256, 8);
  g_assert_nonnull (strstr (name, sha8));
  check_embedding (name, "ref.f32");
}

static void
test_other_files (void)
{
  const char *names[] = { "archive.pth", "half.pth", "model.safetensors" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (dir, names[i], NULL);
      g_autoptr (CpWeightsInfo) info = cp_weights_check (path, CP_WEIGHTS_SOURCE_FILE, NULL);

      g_assert_null (info->problem);
      g_assert_true (info->valid);
    }
  check_embedding ("archive.pth", "ref.f32");
  check_embedding ("model.safetensors", "ref.f32");
  check_embedding ("half.pth", "ref-half.f32");
}

static void
test_import (void)
{
  g_autofree char *name_path = g_build_filename (dir, "name.txt", NULL);
  g_autofree char *name = NULL, *path = NULL, *dest = NULL, *cache = NULL;
  g_autoptr (GError) error = NULL;

  cache = g_build_filename (dir, "cache", NULL);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_assert_true (g_file_get_contents (name_path, &name, NULL, NULL));
  path = g_build_filename (dir, name, NULL);
  /* The cache names it as torch.hub did: same hash, same name. */
  dest = cp_weights_import (path, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_suffix (dest, name));
}

int
main (int argc, char **argv)
{
  g_autofree char *script = NULL;
  g_autofree char *size_arg = g_strdup_printf ("%d", SIZE);
  g_autofree char *n_arg = g_strdup_printf ("%d", N);
  g_autofree char *out = NULL, *err = NULL, *inputs_path = NULL;
  g_autoptr (GError) error = NULL;
  const char *root = g_getenv ("CP_SOURCE_ROOT");
  const char *images[N][2] = {
    { "washer", "good" }, { "washer", "scratch" }, { "weave", "good" }, { "weave", "hole" },
  };
  int wait_status = 0, status;

  g_test_init (&argc, &argv, NULL);
  if (!g_file_test ("/usr/bin/python3", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_print ("skipped: no /usr/bin/python3\n");
      return 77;
    }
  dir = cp_test_make_tmp_dir ("cp-weights-torch-XXXXXX");

  /* The images, as the pipeline prepares them. */
  for (int i = 0; i < N; i++)
    {
      guint8 rgb[SIZE * SIZE * 3];

      g_assert_true (cp_synth_render (images[i][0], 3, 1, images[i][1], i, SIZE, rgb, NULL,
                                      &error));
      cp_rgb_to_tensor (rgb, SIZE, SIZE, inputs + (gsize) i * 3 * SIZE * SIZE);
    }
  inputs_path = g_build_filename (dir, "inputs.f32", NULL);
  g_assert_true (g_file_set_contents (inputs_path, (const char *) inputs, sizeof inputs, NULL));

  script = g_build_filename (root ? root : ".", "tests", "weights", "torch-reference.py", NULL);
  {
    const char *args[] = { "/usr/bin/python3", script, dir, size_arg, n_arg, NULL };
    if (!g_spawn_sync (NULL, (char **) args, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                       &wait_status, &error))
      g_error ("cannot run %s: %s", script, error->message);
  }
  if (WIFEXITED (wait_status) && WEXITSTATUS (wait_status) == 77)
    {
      g_print ("%s", out);
      cp_test_remove_tree (dir);
      return 77;
    }
  if (!g_spawn_check_wait_status (wait_status, &error))
    g_error ("%s failed: %s\n%s%s", script, error->message, out, err);

  g_test_add_func ("/weights-torch/pth", test_pth);
  g_test_add_func ("/weights-torch/other-files", test_other_files);
  g_test_add_func ("/weights-torch/import", test_import);
  status = g_test_run ();
  cp_test_remove_tree (dir);
  g_free (dir);
  return status;
}
