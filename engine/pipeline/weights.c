/* weights.c: finding, checking, importing and loading ImageNet weights
 * (see weights.h; downloading is weights-fetch.c).
 */
#include "weights.h"

#include <errno.h>
#include <string.h>

#include <glib/gstdio.h>

#include "core/io/fs.h"
#include "core/io/pth.h"
#include "core/io/tensor-file.h"
#include "core/nn/imagenet-weights.h"
#include "core/tsan.h"
#include "weights-private.h"

/* ResNet-18 weights are 45 MB; a file ten times larger is something else
 * and is not read into memory to find that out. */
#define MAX_WEIGHTS_BYTES ((gsize) 512 << 20)

const char *
cp_weights_source_to_string (CpWeightsSource source)
{
  switch (source)
    {
    case CP_WEIGHTS_SOURCE_CUTPASTE: return "cutpaste cache";
    case CP_WEIGHTS_SOURCE_TORCH_HUB: return "torch hub";
    case CP_WEIGHTS_SOURCE_HUGGING_FACE: return "Hugging Face";
    case CP_WEIGHTS_SOURCE_FILE: return "file";
    default: return "?";
    }
}

void
cp_weights_info_free (CpWeightsInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->path);
  g_free (info->problem);
  g_free (info->sha256);
  g_free (info);
}

static CpWeightsInfo *
info_new (const char *path, CpWeightsSource source)
{
  CpWeightsInfo *info = g_new0 (CpWeightsInfo, 1);

  info->path = g_strdup (path);
  info->source = source;
  return info;
}

/* ---- where to look ---------------------------------------------------- */

/* $NAME when set to an absolute path ("~/" expanded, as Python's
 * expanduser does for torch and huggingface_hub), else NULL. */
static char *
env_dir (const char *name)
{
  const char *value = g_getenv (name);

  if (value == NULL || value[0] == '\0')
    return NULL;
  if (g_str_has_prefix (value, "~/"))
    return g_build_filename (g_get_home_dir (), value + 2, NULL);
  return g_strdup (value);
}

/* XDG_CACHE_HOME read at each call (g_get_user_cache_dir () keeps the
 * first answer, and tests change it). */
static char *
cache_home (void)
{
  char *dir = env_dir ("XDG_CACHE_HOME");

  return dir != NULL ? dir : g_build_filename (g_get_home_dir (), ".cache", NULL);
}

char *
cp_weights_cache_dir (void)
{
  g_autofree char *home = cache_home ();

  return g_build_filename (home, "cutpaste", "weights", NULL);
}

static char *
torch_checkpoints_dir (void)
{
  g_autofree char *torch_home = env_dir ("TORCH_HOME");

  if (torch_home == NULL)
    {
      g_autofree char *home = cache_home ();
      torch_home = g_build_filename (home, "torch", NULL);
    }
  return g_build_filename (torch_home, "hub", "checkpoints", NULL);
}

static char *
hf_hub_dir (void)
{
  char *hub = env_dir ("HF_HUB_CACHE");
  g_autofree char *hf_home = NULL;

  if (hub == NULL)
    hub = env_dir ("HUGGINGFACE_HUB_CACHE");
  if (hub != NULL)
    return hub;
  hf_home = env_dir ("HF_HOME");
  if (hf_home == NULL)
    {
      g_autofree char *home = cache_home ();
      hf_home = g_build_filename (home, "huggingface", NULL);
    }
  return g_build_filename (hf_home, "hub", NULL);
}

GStrv
cp_weights_search_paths (void)
{
  g_autofree char *ours = cp_weights_cache_dir ();
  g_autofree char *torch = torch_checkpoints_dir ();
  g_autofree char *hf = hf_hub_dir ();
  GStrv paths = g_new0 (char *, 4);

  paths[0] = g_strdup_printf ("%s: %s", cp_weights_source_to_string (CP_WEIGHTS_SOURCE_CUTPASTE),
                              ours);
  paths[1] = g_strdup_printf ("%s: %s/resnet18-*.pth",
                              cp_weights_source_to_string (CP_WEIGHTS_SOURCE_TORCH_HUB), torch);
  paths[2] = g_strdup_printf ("%s: %s/models--timm--resnet18.*/snapshots/*/model.safetensors",
                              cp_weights_source_to_string (CP_WEIGHTS_SOURCE_HUGGING_FACE), hf);
  return paths;
}

gboolean
cp_weights_is_candidate_name (const char *name)
{
  return g_str_has_prefix (name, "resnet18-")
         && (g_str_has_suffix (name, ".pth") || g_str_has_suffix (name, ".safetensors"));
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* Sorted names in @dir accepted by @keep (a missing folder has none). */
static GPtrArray *
list_dir (const char *dir, gboolean (*keep) (const char *name))
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (keep (name))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  return names;
}

typedef struct
{
  char   *path;
  gint64  mtime;
} Dated;

static int
newest_first (gconstpointer a, gconstpointer b)
{
  const Dated *x = a, *y = b;

  if (x->mtime != y->mtime)
    return x->mtime > y->mtime ? -1 : 1;
  return g_strcmp0 (x->path, y->path);
}

static void
find_in_cache (GPtrArray *out)
{
  g_autofree char *dir = cp_weights_cache_dir ();
  g_autoptr (GPtrArray) names = list_dir (dir, cp_weights_is_candidate_name);
  g_autoptr (GArray) dated = g_array_new (FALSE, FALSE, sizeof (Dated));

  for (guint i = 0; i < names->len; i++)
    {
      Dated d = { g_build_filename (dir, names->pdata[i], NULL), 0 };
      GStatBuf st;

      if (g_stat (d.path, &st) != 0 || !S_ISREG (st.st_mode))
        {
          g_free (d.path);
          continue;
        }
      d.mtime = (gint64) st.st_mtime;
      g_array_append_val (dated, d);
    }
  g_array_sort (dated, newest_first);
  for (guint i = 0; i < dated->len; i++)
    {
      Dated *d = &g_array_index (dated, Dated, i);
      g_ptr_array_add (out, info_new (d->path, CP_WEIGHTS_SOURCE_CUTPASTE));
      g_free (d->path);
    }
}

static gboolean
is_torch_name (const char *name)
{
  return g_str_has_prefix (name, "resnet18-") && g_str_has_suffix (name, ".pth");
}

static gboolean
is_timm_repo (const char *name)
{
  return g_str_has_prefix (name, "models--timm--resnet18.");
}

static gboolean
any_name (const char *name)
{
  return name[0] != '.';
}

/* torchvision's weights first (the ones SPEC 8's figures were measured
 * with), then the other timm tags by name. */
static int
timm_order (gconstpointer a, gconstpointer b)
{
  const char *x = *(const char *const *) a, *y = *(const char *const *) b;
  gboolean tx = g_str_has_suffix (x, ".tv_in1k"), ty = g_str_has_suffix (y, ".tv_in1k");

  if (tx != ty)
    return tx ? -1 : 1;
  return g_strcmp0 (x, y);
}

static void
find_in_hugging_face (GPtrArray *out)
{
  g_autofree char *hub = hf_hub_dir ();
  g_autoptr (GPtrArray) repos = list_dir (hub, is_timm_repo);

  g_ptr_array_sort (repos, timm_order);
  for (guint i = 0; i < repos->len; i++)
    {
      g_autofree char *snapshots = g_build_filename (hub, repos->pdata[i], "snapshots", NULL);
      g_autofree char *ref_path = g_build_filename (hub, repos->pdata[i], "refs", "main", NULL);
      g_autofree char *main_rev = NULL;
      g_autoptr (GPtrArray) revs = list_dir (snapshots, any_name);

      /* The revision refs/main points at comes first. */
      if (g_file_get_contents (ref_path, &main_rev, NULL, NULL))
        g_strstrip (main_rev);
      for (int pass = 0; pass < 2; pass++)
        for (guint k = 0; k < revs->len; k++)
          {
            gboolean is_main = main_rev != NULL && strcmp (revs->pdata[k], main_rev) == 0;
            g_autofree char *file = NULL;

            if (is_main != (pass == 0))
              continue;
            file = g_build_filename (snapshots, revs->pdata[k], "model.safetensors", NULL);
            if (g_file_test (file, G_FILE_TEST_IS_REGULAR))
              g_ptr_array_add (out, info_new (file, CP_WEIGHTS_SOURCE_HUGGING_FACE));
          }
    }
}

GPtrArray *
cp_weights_find (void)
{
  GPtrArray *out = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_weights_info_free);
  g_autofree char *torch = torch_checkpoints_dir ();
  g_autoptr (GPtrArray) names = list_dir (torch, is_torch_name);

  find_in_cache (out);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *file = g_build_filename (torch, names->pdata[i], NULL);
      if (g_file_test (file, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (out, info_new (file, CP_WEIGHTS_SOURCE_TORCH_HUB));
    }
  find_in_hugging_face (out);
  return out;
}

/* ---- checking --------------------------------------------------------- */

char *
cp_weights_hash_prefix (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);

  /* torch.hub's HASH_REGEX, r'-([a-f0-9]*)\.', first match. */
  for (const char *dash = strchr (base, '-'); dash != NULL; dash = strchr (dash + 1, '-'))
    {
      size_t n = strspn (dash + 1, "0123456789abcdef");
      if (dash[1 + n] == '.')
        return g_strndup (dash + 1, n);
    }
  return NULL;
}

char *
cp_weights_sha256_hex (const void *bytes, gsize size)
{
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, bytes, size);
}

/* The blob a Hugging Face snapshot links to is named by the file's
 * SHA-256: a second check that costs nothing. */
static char *
hf_blob_hash (const char *path)
{
  g_autofree char *target = g_file_read_link (path, NULL);
  g_autofree char *base = NULL;

  if (target == NULL)
    return NULL;
  base = g_path_get_basename (target);
  if (strlen (base) != 64 || strspn (base, "0123456789abcdef") != 64)
    return NULL;
  return g_steal_pointer (&base);
}

gboolean
cp_weights_check_bytes (const char *label, const void *bytes, gsize size, const char *sha256,
                        const char *name_for_hash, GError **error)
{
  g_autofree char *prefix = name_for_hash ? cp_weights_hash_prefix (name_for_hash) : NULL;
  CpError err = { 0 };
  CpSafetensors *st;
  CpStatus status;

  if (prefix != NULL && !g_str_has_prefix (sha256, prefix))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "%s: its SHA-256 begins %.8s, but its name says %s (a damaged or "
                   "different file)", label, sha256, prefix);
      return FALSE;
    }
  st = cp_tensor_file_from_memory (bytes, size, label, &err);
  if (st == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s", err.message);
      return FALSE;
    }
  status = cp_imagenet_weights_check (st, &err);
  cp_safetensors_close (st);
  if (status != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s", err.message);
      return FALSE;
    }
  return TRUE;
}

/* Reads @path whole, refusing files no ResNet-18 could fill. */
static gboolean
read_weights_file (const char *path, void **bytes, gsize *size, GError **error)
{
  CpError err = { 0 };
  size_t n = 0;

  if (cp_read_file (path, MAX_WEIGHTS_BYTES, bytes, &n, &err) != CP_OK)
    {
      if (err.code == CP_ERR_NOMEM)
        g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                     "%s: larger than %u MB, far more than ResNet-18 weights (45 MB)", path,
                     (unsigned) (MAX_WEIGHTS_BYTES >> 20));
      else
        g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "%s", err.message);
      return FALSE;
    }
  *size = n;
  return TRUE;
}

/* The work of cp_weights_check; on success *bytes keeps the file when
 * @bytes is not NULL. */
static CpWeightsInfo *
check_path (const char *path, CpWeightsSource source, GCancellable *cancellable, void **bytes_out)
{
  CpWeightsInfo *info = info_new (path, source);
  g_autoptr (GError) error = NULL;
  g_autofree void *bytes = NULL;
  g_autofree char *blob = NULL;
  gsize size = 0;

  info->checked = TRUE;
  if (g_cancellable_is_cancelled (cancellable))
    {
      info->problem = g_strdup ("cancelled");
      return info;
    }
  if (!read_weights_file (path, &bytes, &size, &error))
    {
      info->problem = g_strdup (error->message);
      return info;
    }
  info->size = size;
  info->sha256 = cp_weights_sha256_hex (bytes, size);
  blob = source == CP_WEIGHTS_SOURCE_HUGGING_FACE ? hf_blob_hash (path) : NULL;
  if (blob != NULL && strcmp (blob, info->sha256) != 0)
    {
      info->problem = g_strdup_printf ("%s: its SHA-256 is %.12s..., but the Hugging Face blob it "
                                       "links to is named %.12s... (a damaged download)", path,
                                       info->sha256, blob);
      return info;
    }
  if (g_cancellable_is_cancelled (cancellable))
    {
      info->problem = g_strdup ("cancelled");
      return info;
    }
  if (!cp_weights_check_bytes (path, bytes, size, info->sha256, path, &error))
    {
      info->problem = g_strdup (error->message);
      return info;
    }
  info->valid = TRUE;
  if (bytes_out != NULL)
    *bytes_out = g_steal_pointer (&bytes);
  return info;
}

CpWeightsInfo *
cp_weights_check (const char *path, CpWeightsSource source, GCancellable *cancellable)
{
  return check_path (path, source, cancellable, NULL);
}

GPtrArray *
cp_weights_status (GCancellable *cancellable)
{
  GPtrArray *found = cp_weights_find ();

  for (guint i = 0; i < found->len; i++)
    {
      CpWeightsInfo *unchecked = found->pdata[i];

      found->pdata[i] = cp_weights_check (unchecked->path, unchecked->source, cancellable);
      cp_weights_info_free (unchecked);
    }
  return found;
}

const CpWeightsInfo *
cp_weights_status_in_use (GPtrArray *status)
{
  for (guint i = 0; status != NULL && i < status->len; i++)
    if (((const CpWeightsInfo *) status->pdata[i])->valid)
      return status->pdata[i];
  return NULL;
}

CpWeightsInfo *
cp_weights_find_usable (GCancellable *cancellable)
{
  g_autoptr (GPtrArray) found = cp_weights_find ();

  for (guint i = 0; i < found->len; i++)
    {
      const CpWeightsInfo *candidate = found->pdata[i];
      CpWeightsInfo *info = cp_weights_check (candidate->path, candidate->source, cancellable);

      if (info->valid)
        return info;
      cp_weights_info_free (info);
    }
  return NULL;
}

/* ---- import ----------------------------------------------------------- */

char *
cp_weights_cache_name (const char *sha256, const void *bytes, gsize size)
{
  return g_strdup_printf ("resnet18-%.8s%s", sha256,
                          cp_pth_is_zip (bytes, size) ? ".pth" : ".safetensors");
}

gboolean
cp_weights_ensure_cache_dir (char **dir, GError **error)
{
  *dir = cp_weights_cache_dir ();
  if (g_mkdir_with_parents (*dir, 0755) != 0)
    {
      int e = errno;
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot create %s: %s", *dir,
                   g_strerror (e));
      g_clear_pointer (dir, g_free);
      return FALSE;
    }
  return TRUE;
}

char *
cp_weights_import (const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (CpWeightsInfo) info = NULL;
  g_autofree void *bytes = NULL;
  g_autofree char *dir = NULL, *name = NULL, *dest = NULL;
  CpError err = { 0 };

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "%s: no such file", path);
      return NULL;
    }
  info = check_path (path, CP_WEIGHTS_SOURCE_FILE, cancellable, &bytes);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (!info->valid)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s", info->problem);
      return NULL;
    }
  if (!cp_weights_ensure_cache_dir (&dir, error))
    return NULL;
  name = cp_weights_cache_name (info->sha256, bytes, info->size);
  dest = g_build_filename (dir, name, NULL);

  /* Importing the cache's own file, or one already imported. */
  {
    g_autoptr (CpWeightsInfo) there = NULL;
    if (g_file_test (dest, G_FILE_TEST_EXISTS))
      {
        there = cp_weights_check (dest, CP_WEIGHTS_SOURCE_CUTPASTE, cancellable);
        if (there->valid && g_strcmp0 (there->sha256, info->sha256) == 0)
          return g_steal_pointer (&dest);
      }
  }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  if (cp_write_file_atomic (dest, bytes, info->size, &err) != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "%s", err.message);
      return NULL;
    }
  return g_steal_pointer (&dest);
}

/* ---- training ----------------------------------------------------------- */

gboolean
cp_weights_resolve (const char *choice, char **path, GPtrArray **checked, GError **error)
{
  g_autoptr (GPtrArray) seen = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_weights_info_free);

  *path = NULL;
  if (checked != NULL)
    *checked = NULL;
  if (choice != NULL && strcmp (choice, "none") != 0 && strcmp (choice, "auto") != 0)
    {
      if (!g_file_test (choice, G_FILE_TEST_EXISTS))
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                       "weights file %s does not exist", choice);
          return FALSE;
        }
      *path = g_strdup (choice);
    }
  else if (choice == NULL || strcmp (choice, "auto") == 0)
    {
      g_autoptr (GPtrArray) found = cp_weights_find ();

      for (guint i = 0; i < found->len && *path == NULL; i++)
        {
          const CpWeightsInfo *candidate = found->pdata[i];
          CpWeightsInfo *info = cp_weights_check (candidate->path, candidate->source, NULL);

          g_ptr_array_add (seen, info);
          if (info->valid)
            *path = g_strdup (info->path);
        }
    }
  if (checked != NULL)
    *checked = g_steal_pointer (&seen);
  return TRUE;
}

gboolean
cp_weights_load_backbone (CpNetwork *net, const char *path, char **sha256, GError **error)
{
  g_autofree void *bytes = NULL;
  g_autoptr (GError) local = NULL;
  gsize size = 0;
  CpError err = { 0 };
  CpSafetensors *st;
  CpStatus status;

  if (!read_weights_file (path, &bytes, &size, &local))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "cannot use pretrained weights: %s", local->message);
      return FALSE;
    }
  st = cp_tensor_file_from_memory (bytes, size, path, &err);
  status = st != NULL ? cp_network_load (net, st, CP_LOAD_BACKBONE, &err) : err.code;
  cp_safetensors_close (st);
  if (status != CP_OK)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
                   "cannot use pretrained weights: %s", err.message);
      return FALSE;
    }
  if (sha256 != NULL)
    *sha256 = cp_weights_sha256_hex (bytes, size);
  return TRUE;
}

/* ---- asynchronous forms ------------------------------------------------ */

static void
status_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GPtrArray *status = cp_weights_status (cancellable);

  CP_TSAN_RELEASE (task);   /* to cp_weights_status_finish () */
  if (g_task_return_error_if_cancelled (task))
    g_ptr_array_unref (status);
  else
    g_task_return_pointer (task, status, (GDestroyNotify) g_ptr_array_unref);
}

void
cp_weights_status_async (GCancellable *cancellable, GAsyncReadyCallback callback,
                         gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);

  g_task_set_source_tag (task, cp_weights_status_async);
  g_task_run_in_thread (task, status_thread);
}

GPtrArray *
cp_weights_status_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  CP_TSAN_ACQUIRE (result);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
import_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  GError *error = NULL;
  char *dest;

  CP_TSAN_ACQUIRE (data);   /* the path, from cp_weights_import_async () */
  dest = cp_weights_import (data, cancellable, &error);
  CP_TSAN_RELEASE (task);   /* to cp_weights_import_finish () */
  if (dest == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, dest, g_free);
}

void
cp_weights_import_async (const char *path, GCancellable *cancellable,
                         GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  char *copy = g_strdup (path);

  g_task_set_source_tag (task, cp_weights_import_async);
  g_task_set_task_data (task, copy, g_free);
  CP_TSAN_RELEASE (copy);
  g_task_run_in_thread (task, import_thread);
}

char *
cp_weights_import_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  CP_TSAN_ACQUIRE (result);
  return g_task_propagate_pointer (G_TASK (result), error);
}
