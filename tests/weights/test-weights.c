/* test-weights.c: finding, checking, importing and loading ImageNet
 * weights (engine/pipeline/weights.h), in caches laid out as torch.hub,
 * the Hugging Face hub and our own command lay them out, under a
 * temporary $XDG_CACHE_HOME.
 *
 * One valid 45 MB file is written; every other copy is a symbolic link to
 * it (as the Hugging Face cache links snapshots to blobs), so the test
 * stays quick.
 */
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pipeline/weights.h"
#include "test-support.h"
#include "weights-file.h"

static char *root;          /* the temporary folder */
static char *master;        /* the valid weights file */
static char *master_sha;    /* its SHA-256 */

static void
set_env (const char *name, const char *sub)
{
  if (sub == NULL)
    g_unsetenv (name);
  else
    {
      g_autofree char *path = g_build_filename (root, sub, NULL);
      g_setenv (name, path, TRUE);
    }
}

/* The layout of the three caches, as their tools write them. */
static void
plant (const char *cache, const char *torch_home, const char *hf_hub)
{
  g_autofree char *ours = g_build_filename (root, cache, "cutpaste", "weights", NULL);
  g_autofree char *hub = g_build_filename (root, torch_home, "hub", "checkpoints", NULL);
  g_autofree char *hf = g_build_filename (root, hf_hub, NULL);
  g_autofree char *short_sha = g_strndup (master_sha, 8);
  const char *repos[] = { "models--timm--resnet18.a1_in1k", "models--timm--resnet18.tv_in1k" };

  g_assert_cmpint (g_mkdir_with_parents (ours, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (hub, 0755), ==, 0);
  {
    g_autofree char *name = g_strdup_printf ("resnet18-%s.safetensors", short_sha);
    g_autofree char *path = g_build_filename (ours, name, NULL);
    g_assert_cmpint (symlink (master, path), ==, 0);
    /* A download in progress is hidden and never listed. */
    g_autofree char *part = g_build_filename (ours, ".resnet18-download-abc123", NULL);
    g_assert_true (g_file_set_contents (part, "partial", -1, NULL));
  }
  {
    g_autofree char *name = g_strdup_printf ("resnet18-%s.pth", short_sha);
    g_autofree char *good = g_build_filename (hub, name, NULL);
    g_autofree char *bad = g_build_filename (hub, "resnet18-deadbeef.pth", NULL);
    g_autofree char *other = g_build_filename (hub, "resnet34-b627a593.pth", NULL);
    g_assert_cmpint (symlink (master, good), ==, 0);
    g_assert_cmpint (symlink (master, bad), ==, 0);
    g_assert_cmpint (symlink (master, other), ==, 0);
  }
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *blobs = g_build_filename (hf, repos[i], "blobs", NULL);
      g_autofree char *snap = g_build_filename (hf, repos[i], "snapshots", "0123abcd", NULL);
      g_autofree char *blob = g_build_filename (blobs, master_sha, NULL);
      g_autofree char *file = g_build_filename (snap, "model.safetensors", NULL);
      g_autofree char *target = g_build_filename ("..", "..", "blobs", master_sha, NULL);

      g_assert_cmpint (g_mkdir_with_parents (blobs, 0755), ==, 0);
      g_assert_cmpint (g_mkdir_with_parents (snap, 0755), ==, 0);
      g_assert_cmpint (symlink (master, blob), ==, 0);
      g_assert_cmpint (symlink (target, file), ==, 0);
    }
  {
    /* resnet18d has another stem: not ours. */
    g_autofree char *snap = g_build_filename (hf, "models--timm--resnet18d.ra2_in1k", "snapshots",
                                              "r", NULL);
    g_autofree char *file = g_build_filename (snap, "model.safetensors", NULL);
    g_assert_cmpint (g_mkdir_with_parents (snap, 0755), ==, 0);
    g_assert_cmpint (symlink (master, file), ==, 0);
  }
}

static const char *
tail (const char *path)
{
  return path + strlen (root) + 1;
}

static void
test_find_defaults (void)
{
  g_autoptr (GPtrArray) found = NULL;
  g_autofree char *sha8 = g_strndup (master_sha, 8);
  g_autofree char *ours = g_strdup_printf ("xdg/cutpaste/weights/resnet18-%s.safetensors", sha8);
  g_autofree char *torch_good = g_strdup_printf ("xdg/torch/hub/checkpoints/resnet18-%s.pth", sha8);

  /* Only $XDG_CACHE_HOME set: torch and Hugging Face default under it. */
  set_env ("XDG_CACHE_HOME", "xdg");
  set_env ("TORCH_HOME", NULL);
  set_env ("HF_HOME", NULL);
  set_env ("HF_HUB_CACHE", NULL);
  set_env ("HUGGINGFACE_HUB_CACHE", NULL);
  plant ("xdg", "xdg/torch", "xdg/huggingface/hub");

  found = cp_weights_find ();
  g_assert_cmpuint (found->len, ==, 5);
  /* Ours first, then torch hub by name, then tv_in1k before a1_in1k. */
  g_assert_cmpstr (tail (((CpWeightsInfo *) found->pdata[0])->path), ==, ours);
  g_assert_cmpint (((CpWeightsInfo *) found->pdata[0])->source, ==, CP_WEIGHTS_SOURCE_CUTPASTE);
  g_assert_cmpstr (tail (((CpWeightsInfo *) found->pdata[1])->path), ==, torch_good);
  g_assert_cmpstr (tail (((CpWeightsInfo *) found->pdata[2])->path), ==,
                   "xdg/torch/hub/checkpoints/resnet18-deadbeef.pth");
  g_assert_cmpint (((CpWeightsInfo *) found->pdata[2])->source, ==, CP_WEIGHTS_SOURCE_TORCH_HUB);
  g_assert_cmpstr (tail (((CpWeightsInfo *) found->pdata[3])->path), ==,
                   "xdg/huggingface/hub/models--timm--resnet18.tv_in1k/snapshots/0123abcd/"
                   "model.safetensors");
  g_assert_cmpstr (tail (((CpWeightsInfo *) found->pdata[4])->path), ==,
                   "xdg/huggingface/hub/models--timm--resnet18.a1_in1k/snapshots/0123abcd/"
                   "model.safetensors");
  g_assert_cmpint (((CpWeightsInfo *) found->pdata[4])->source, ==,
                   CP_WEIGHTS_SOURCE_HUGGING_FACE);
  for (guint i = 0; i < found->len; i++)
    g_assert_false (((CpWeightsInfo *) found->pdata[i])->checked);
}

static void
test_find_env (void)
{
  g_autoptr (GPtrArray) found = NULL;

  /* TORCH_HOME and HF_HOME move their caches; HF_HUB_CACHE wins over
   * HF_HOME. */
  set_env ("XDG_CACHE_HOME", "empty");
  set_env ("TORCH_HOME", "th");
  set_env ("HF_HOME", "hfhome");
  plant ("unused", "th", "hfhome/hub");
  found = cp_weights_find ();
  g_assert_cmpuint (found->len, ==, 4);
  g_assert_true (g_str_has_prefix (tail (((CpWeightsInfo *) found->pdata[0])->path),
                                   "th/hub/checkpoints/resnet18-"));
  g_assert_true (g_str_has_prefix (tail (((CpWeightsInfo *) found->pdata[2])->path),
                                   "hfhome/hub/models--timm--resnet18.tv_in1k/"));
  g_clear_pointer (&found, g_ptr_array_unref);

  set_env ("HF_HUB_CACHE", "nothing-here");
  found = cp_weights_find ();
  g_assert_cmpuint (found->len, ==, 2);
  g_clear_pointer (&found, g_ptr_array_unref);
  set_env ("HF_HUB_CACHE", NULL);
}

static void
test_check_and_status (void)
{
  g_autoptr (GPtrArray) status = NULL;
  g_autoptr (CpWeightsInfo) usable = NULL;
  g_autoptr (CpWeightsInfo) bad_blob = NULL;
  g_autoptr (CpWeightsInfo) not_weights = NULL;
  g_autofree char *junk = g_build_filename (root, "junk.pth", NULL);

  set_env ("XDG_CACHE_HOME", "xdg");
  set_env ("TORCH_HOME", NULL);
  set_env ("HF_HOME", NULL);
  status = cp_weights_status (NULL);
  g_assert_cmpuint (status->len, ==, 5);
  for (guint i = 0; i < status->len; i++)
    {
      const CpWeightsInfo *info = status->pdata[i];

      g_assert_true (info->checked);
      g_assert_cmpstr (info->sha256, ==, master_sha);
      if (i == 2)
        {
          /* Same bytes, but the name claims another hash. */
          g_assert_false (info->valid);
          g_assert_nonnull (strstr (info->problem, "its name says deadbeef"));
        }
      else
        {
          g_assert_true (info->valid);
          g_assert_null (info->problem);
        }
    }
  g_assert_true (cp_weights_status_in_use (status) == status->pdata[0]);
  usable = cp_weights_find_usable (NULL);
  g_assert_nonnull (usable);
  g_assert_cmpint (usable->source, ==, CP_WEIGHTS_SOURCE_CUTPASTE);

  /* A Hugging Face snapshot linked to a blob of another hash. */
  {
    g_autofree char *snap = g_build_filename (root, "bad-hf", "snapshots", "r", NULL);
    g_autofree char *blobs = g_build_filename (root, "bad-hf", "blobs", NULL);
    g_autofree char *blob = g_build_filename (blobs, "0000000000000000000000000000000000000000"
                                              "000000000000000000000000", NULL);
    g_autofree char *file = g_build_filename (snap, "model.safetensors", NULL);
    g_assert_cmpint (g_mkdir_with_parents (snap, 0755), ==, 0);
    g_assert_cmpint (g_mkdir_with_parents (blobs, 0755), ==, 0);
    g_assert_cmpint (symlink (master, blob), ==, 0);
    g_assert_cmpint (symlink ("../../blobs/0000000000000000000000000000000000000000000000000000"
                              "000000000000", file), ==, 0);
    bad_blob = cp_weights_check (file, CP_WEIGHTS_SOURCE_HUGGING_FACE, NULL);
    g_assert_false (bad_blob->valid);
    g_assert_nonnull (strstr (bad_blob->problem, "Hugging Face blob"));
  }

  g_assert_true (g_file_set_contents (junk, "<html>404</html>", -1, NULL));
  not_weights = cp_weights_check (junk, CP_WEIGHTS_SOURCE_FILE, NULL);
  g_assert_false (not_weights->valid);
  g_assert_nonnull (strstr (not_weights->problem, "neither a torch.save"));
}

/* Names in the cache folder, sorted, hidden ones included. */
static char *
cache_listing (void)
{
  g_autofree char *dir = cp_weights_cache_dir ();
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, (gpointer) name);
  g_ptr_array_sort (names, (GCompareFunc) g_strcmp0);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

static void
test_import (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dest = NULL, *again = NULL, *listing = NULL, *want = NULL;
  g_autofree char *junk = g_build_filename (root, "junk.pth", NULL);
  g_autoptr (GCancellable) cancelled = g_cancellable_new ();
  g_autofree char *copy_bytes = NULL, *master_bytes = NULL;
  gsize copy_len, master_len;

  set_env ("XDG_CACHE_HOME", "import");
  dest = cp_weights_import (master, NULL, &error);
  g_assert_no_error (error);
  want = g_strdup_printf ("resnet18-%.8s.safetensors", master_sha);
  g_assert_true (g_str_has_suffix (dest, want));
  g_assert_false (g_file_test (dest, G_FILE_TEST_IS_SYMLINK));
  g_assert_true (g_file_get_contents (dest, &copy_bytes, &copy_len, NULL));
  g_assert_true (g_file_get_contents (master, &master_bytes, &master_len, NULL));
  g_assert_cmpmem (copy_bytes, copy_len, master_bytes, master_len);
  listing = cache_listing ();
  g_assert_cmpstr (listing, ==, want);

  /* Again, and from the cache itself: nothing new. */
  again = cp_weights_import (dest, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (again, ==, dest);
  g_clear_pointer (&listing, g_free);
  listing = cache_listing ();
  g_assert_cmpstr (listing, ==, want);

  /* Refused: not weights, missing, cancelled; the cache is untouched. */
  g_assert_null (cp_weights_import (junk, NULL, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_clear_error (&error);
  g_assert_null (cp_weights_import ("/nonexistent/resnet18.pth", NULL, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO);
  g_clear_error (&error);
  g_cancellable_cancel (cancelled);
  g_assert_null (cp_weights_import (master, cancelled, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&error);
  g_clear_pointer (&listing, g_free);
  listing = cache_listing ();
  g_assert_cmpstr (listing, ==, want);
}

static void
test_resolve_and_load (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) checked = NULL;
  g_autofree char *path = NULL, *sha = NULL;
  g_autofree char *junk = g_build_filename (root, "junk.pth", NULL);
  CpError err = { 0 };
  CpBackend *be;
  CpNetworkConfig config = { 1, 3 };
  CpNetwork *net;
  CpSafetensors *st;

  set_env ("XDG_CACHE_HOME", "xdg");
  g_assert_true (cp_weights_resolve ("none", &path, &checked, &error));
  g_assert_null (path);
  g_assert_cmpuint (checked->len, ==, 0);
  g_clear_pointer (&checked, g_ptr_array_unref);

  g_assert_true (cp_weights_resolve (junk, &path, &checked, &error));
  g_assert_cmpstr (path, ==, junk);
  g_clear_pointer (&path, g_free);
  g_clear_pointer (&checked, g_ptr_array_unref);
  g_assert_false (cp_weights_resolve ("/nonexistent.pth", &path, &checked, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID);
  g_clear_error (&error);

  /* auto: the cache's file (checked first, valid). */
  g_assert_true (cp_weights_resolve (NULL, &path, &checked, &error));
  g_assert_nonnull (path);
  g_assert_cmpuint (checked->len, ==, 1);
  g_assert_true (((CpWeightsInfo *) checked->pdata[0])->valid);
  g_clear_pointer (&checked, g_ptr_array_unref);

  /* auto, with an empty cache and only the bad torch file first. */
  set_env ("XDG_CACHE_HOME", "only-bad");
  {
    g_autofree char *hub = g_build_filename (root, "only-bad", "torch", "hub", "checkpoints", NULL);
    g_autofree char *bad = g_build_filename (hub, "resnet18-deadbeef.pth", NULL);
    g_assert_cmpint (g_mkdir_with_parents (hub, 0755), ==, 0);
    g_assert_cmpint (symlink (master, bad), ==, 0);
  }
  g_clear_pointer (&path, g_free);
  g_assert_true (cp_weights_resolve ("auto", &path, &checked, &error));
  g_assert_null (path);
  g_assert_cmpuint (checked->len, ==, 1);
  g_assert_false (((CpWeightsInfo *) checked->pdata[0])->valid);
  g_clear_pointer (&checked, g_ptr_array_unref);

  /* Loading: the backbone takes the file's values, the SHA-256 is the
   * file's; a file that is not weights leaves an error. */
  be = cp_backend_cpu_new (&err);
  net = cp_network_new (be, &config, &err);
  g_assert_true (cp_weights_load_backbone (net, master, &sha, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (sha, ==, master_sha);
  st = cp_safetensors_open (master, &err);
  g_assert_nonnull (st);
  {
    const CpParam *p = cp_network_find_param (net, "resnet18.layer3.0.bn1.running_var");
    g_autofree float *want = g_new (float, p->count);
    g_autofree float *got = g_new (float, p->count);
    g_assert_cmpint (cp_safetensors_read_f32 (st, "layer3.0.bn1.running_var", p->shape, p->ndim,
                                              want, &err), ==, CP_OK);
    be->download (be, got, p->data, p->count * sizeof (float), NULL);
    g_assert_cmpmem (got, p->count * sizeof (float), want, p->count * sizeof (float));
  }
  cp_safetensors_close (st);
  g_assert_false (cp_weights_load_backbone (net, junk, NULL, &error));
  g_assert_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL);
  g_assert_nonnull (strstr (error->message, "cannot use pretrained weights"));
  cp_network_free (net);
  cp_backend_free (be);
}

static void
on_status (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GPtrArray **out = user_data;
  g_autoptr (GError) error = NULL;

  *out = cp_weights_status_finish (result, &error);
  g_assert_no_error (error);
}

static void
on_import (GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **out = user_data;
  g_autoptr (GError) error = NULL;

  *out = cp_weights_import_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_async (void)
{
  GPtrArray *status = NULL;
  char *dest = NULL;

  set_env ("XDG_CACHE_HOME", "async");
  cp_weights_import_async (master, NULL, on_import, &dest);
  while (dest == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_file_test (dest, G_FILE_TEST_IS_REGULAR));
  cp_weights_status_async (NULL, on_status, &status);
  while (status == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (status->len, ==, 1);
  g_assert_true (((CpWeightsInfo *) status->pdata[0])->valid);
  g_assert_cmpstr (((CpWeightsInfo *) status->pdata[0])->path, ==, dest);
  g_ptr_array_unref (status);
  g_free (dest);
}

int
main (int argc, char **argv)
{
  CpError error = { 0 };
  g_autofree char *bytes = NULL;
  gsize len;
  int status;

  g_test_init (&argc, &argv, NULL);
  root = cp_test_make_tmp_dir ("cp-weights-XXXXXX");
  master = g_build_filename (root, "weights.safetensors", NULL);
  if (cp_test_write_resnet18_weights (master, 7, &error) != CP_OK)
    g_error ("%s", error.message);
  g_assert_true (g_file_get_contents (master, &bytes, &len, NULL));
  master_sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) bytes, len);

  g_test_add_func ("/weights/find-defaults", test_find_defaults);
  g_test_add_func ("/weights/find-environment", test_find_env);
  g_test_add_func ("/weights/check-and-status", test_check_and_status);
  g_test_add_func ("/weights/import", test_import);
  g_test_add_func ("/weights/resolve-and-load", test_resolve_and_load);
  g_test_add_func ("/weights/async", test_async);
  status = g_test_run ();
  cp_test_remove_tree (root);
  g_free (root);
  g_free (master);
  g_free (master_sha);
  return status;
}
