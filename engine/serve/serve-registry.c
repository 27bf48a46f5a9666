/* serve-registry.c: loading, reloading and handing out the served models. */
#include "serve-registry.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <glib/gstdio.h>

#include "core/io/safetensors.h"
#include "serve-json.h"

#define MODEL_SUFFIX ".safetensors"
#define PATCH_SUFFIX ".patch.safetensors"

/* What tells one version of a file from the next. */
typedef struct
{
  gboolean exists;
  dev_t    dev;
  ino_t    ino;
  off_t    size;
  gint64   mtime_ns;
} FileId;

static FileId
file_id_read (const char *path)
{
  FileId id = { 0 };
  GStatBuf st;

  if (g_stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return id;
  id.exists = TRUE;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = st.st_size;
  id.mtime_ns = (gint64) st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}

static gboolean
file_id_equal (const FileId *a, const FileId *b)
{
  return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size
         && a->mtime_ns == b->mtime_ns;
}

/* A served model with the identities its files had when it was loaded. */
typedef struct
{
  CpServeModel *model;
  FileId        id;
  FileId        patch_id;
} Slot;

/* A file that failed to load, remembered until it changes. */
typedef struct
{
  FileId  id;
  FileId  patch_id;
  char   *message;
} Failure;

struct _CpServeRegistry
{
  char       *model_dir;
  char       *device;
  int         n_instances;

  /* pthread, not GLib, locks: ThreadSanitizer sees them (core/tsan.h). */
  pthread_mutex_t lock;      /* guards slots and failures */
  GHashTable *slots;         /* category -> Slot * */
  GHashTable *failures;      /* category -> Failure * */
  pthread_mutex_t scan_lock; /* one scan at a time */
  gint        loads;         /* atomic */
  gint        load_failures; /* atomic */

  GThread    *watcher;
  pthread_mutex_t watch_lock;
  pthread_cond_t  watch_cond; /* on CLOCK_MONOTONIC */
  gboolean    stop;
  guint       interval_ms;
};

CpServeModel *
cp_serve_model_ref (CpServeModel *model)
{
  g_atomic_int_inc (&model->ref_count);
  return model;
}

void
cp_serve_model_unref (CpServeModel *model)
{
  if (model == NULL || !g_atomic_int_dec_and_test (&model->ref_count))
    return;
  for (int i = 0; i < model->n_instances; i++)
    {
      if (model->models)
        cp_model_free (model->models[i]);
      if (model->patches)
        cp_patch_model_free (model->patches[i]);
    }
  g_free (model->models);
  g_free (model->patches);
  g_free (model->category);
  g_free (model->path);
  g_free (model->sha256);
  g_free (model->patch_path);
  g_free (model->patch_sha256);
  g_free (model->patch_error);
  g_free (model->info_json);
  g_free (model);
}

static void
slot_free (gpointer data)
{
  Slot *slot = data;

  cp_serve_model_unref (slot->model);
  g_free (slot);
}

static void
failure_free (gpointer data)
{
  Failure *failure = data;

  g_free (failure->message);
  g_free (failure);
}

/* The file's bytes (for the hash and the metadata) in one read. */
static GBytes *
read_whole (const char *path, GError **error)
{
  char *contents = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &contents, &length, error))
    return NULL;
  return g_bytes_new_take (contents, length);
}

static void
write_metadata (CpJsonWriter *w, GBytes *bytes, const char *path)
{
  CpError err = { 0 };
  gsize size = 0;
  const void *data = g_bytes_get_data (bytes, &size);
  CpSafetensors *st = cp_safetensors_from_memory (data, size, path, &err);

  cp_json_writer_begin_object (w);
  if (st != NULL)
    {
      for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
        {
          cp_json_writer_key (w, cp_safetensors_metadata_key (st, i));
          cp_serve_json_string (w, cp_safetensors_metadata_value (st, i));
        }
      cp_safetensors_close (st);
    }
  cp_json_writer_end_object (w);
}

/* The entry of GET /v1/models: what a client needs to check which model
 * answered (hash, threshold and its source) and every metadata value of
 * the file, so that keys added to the model format show up without a
 * change here. */
static char *
model_info_json (const CpServeModel *model, GBytes *bytes)
{
  const CpModel *m = model->models[0];
  CpThresholdSource source = cp_model_get_threshold_source (m);
  g_autoptr (GDateTime) loaded = g_date_time_new_from_unix_utc (model->loaded_at / G_USEC_PER_SEC);
  g_autofree char *loaded_text = g_date_time_format_iso8601 (loaded);
  g_autofree char *file = g_path_get_basename (model->path);
  CpJsonWriter w;

  cp_json_writer_init (&w);
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "category");
  cp_serve_json_string (&w, model->category);
  cp_json_writer_key (&w, "file");
  cp_serve_json_string (&w, file);
  cp_json_writer_key (&w, "sha256");
  cp_serve_json_string (&w, model->sha256);
  cp_json_writer_key (&w, "loaded_at");
  cp_serve_json_string (&w, loaded_text);
  cp_json_writer_key (&w, "image_size");
  cp_json_writer_int (&w, cp_model_get_image_size (m));
  cp_json_writer_key (&w, "variant");
  cp_serve_json_string (&w, cp_model_get_variant (m));
  cp_json_writer_key (&w, "threshold");
  cp_serve_json_number (&w, cp_model_get_threshold (m));
  cp_json_writer_key (&w, "threshold_source");
  cp_serve_json_string (&w, cp_threshold_source_to_string (source));
  cp_json_writer_key (&w, "false_reject_rate");
  cp_serve_json_number (&w, source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION
                        ? cp_model_get_false_reject_rate (m) : NAN);
  cp_json_writer_key (&w, "auroc");
  cp_serve_json_number (&w, cp_model_get_auroc (m));
  cp_json_writer_key (&w, "device");
  cp_serve_json_string (&w, cp_model_get_device_name (m));
  cp_json_writer_key (&w, "instances");
  cp_json_writer_int (&w, model->n_instances);
  cp_json_writer_key (&w, "patch_model");
  if (model->patches != NULL)
    {
      g_autofree char *patch_file = g_path_get_basename (model->patch_path);

      cp_json_writer_begin_object (&w);
      cp_json_writer_key (&w, "file");
      cp_serve_json_string (&w, patch_file);
      cp_json_writer_key (&w, "sha256");
      cp_serve_json_string (&w, model->patch_sha256);
      cp_json_writer_key (&w, "image_size");
      cp_json_writer_int (&w, cp_patch_model_get_image_size (model->patches[0]));
      cp_json_writer_end_object (&w);
    }
  else
    cp_json_writer_null (&w);
  if (model->patch_error != NULL)
    {
      cp_json_writer_key (&w, "patch_model_error");
      cp_serve_json_string (&w, model->patch_error);
    }
  cp_json_writer_key (&w, "metadata");
  write_metadata (&w, bytes, model->path);
  cp_json_writer_end_object (&w);
  return cp_serve_json_finish (&w);
}

/* Loads the patch model beside @model into every instance slot.  A patch
 * file that does not load leaves the image model in service, without
 * heatmaps, and says why. */
static void
load_patches (CpServeRegistry *registry, CpServeModel *model)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = read_whole (model->patch_path, &error);

  if (bytes == NULL)
    {
      model->patch_error = g_strdup (error->message);
      return;
    }
  model->patch_sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
  model->patches = g_new0 (CpPatchModel *, model->n_instances);
  for (int i = 0; i < model->n_instances; i++)
    {
      model->patches[i] = cp_patch_model_load (model->patch_path, registry->device, &error);
      if (model->patches[i] == NULL)
        {
          for (int k = 0; k < i; k++)
            cp_patch_model_free (model->patches[k]);
          g_clear_pointer (&model->patches, g_free);
          model->patch_error = g_strdup (error->message);
          return;
        }
    }
}

/* Loads the files of @category as they are now.  NULL with @error when the
 * image model does not load; NULL without an error when a file changed
 * while it was read (the next scan tries again). */
static CpServeModel *
load_model (CpServeRegistry *registry, const char *category, const char *path,
            const char *patch_path, const FileId *id, const FileId *patch_id, GError **error)
{
  CpServeModel *model = g_new0 (CpServeModel, 1);
  g_autoptr (GBytes) bytes = NULL;
  FileId after, patch_after;

  model->ref_count = 1;
  model->category = g_strdup (category);
  model->path = g_strdup (path);
  model->n_instances = registry->n_instances;
  model->loaded_at = g_get_real_time ();
  bytes = read_whole (path, error);
  if (bytes == NULL)
    goto fail;
  model->sha256 = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
  model->models = g_new0 (CpModel *, model->n_instances);
  for (int i = 0; i < model->n_instances; i++)
    {
      model->models[i] = cp_model_load (path, registry->device, error);
      if (model->models[i] == NULL)
        goto fail;
    }
  if (patch_id->exists)
    {
      model->patch_path = g_strdup (patch_path);
      load_patches (registry, model);
    }

  after = file_id_read (path);
  patch_after = file_id_read (patch_path);
  if (!file_id_equal (id, &after) || !file_id_equal (patch_id, &patch_after))
    {
      cp_serve_model_unref (model);
      return NULL;
    }
  model->info_json = model_info_json (model, bytes);
  return model;

fail:
  cp_serve_model_unref (model);
  return NULL;
}

static gboolean
is_model_name (const char *name)
{
  return name[0] != '.' && g_str_has_suffix (name, MODEL_SUFFIX)
         && !g_str_has_suffix (name, PATCH_SUFFIX) && strlen (name) > strlen (MODEL_SUFFIX);
}

int
cp_serve_registry_scan (CpServeRegistry *registry)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) gone = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  int changes = 0;

  pthread_mutex_lock (&registry->scan_lock);
  dir = g_dir_open (registry->model_dir, 0, &error);
  if (dir == NULL)
    {
      /* A folder that vanished for a moment (a remount) does not take the
       * models away: they stay in service until the folder says otherwise. */
      fprintf (stderr, "cutpaste serve: cannot read %s: %s\n", registry->model_dir, error->message);
      pthread_mutex_unlock (&registry->scan_lock);
      return 0;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *category = NULL, *path = NULL, *patch_path = NULL;
      g_autoptr (GError) load_error = NULL;
      FileId id, patch_id;
      CpServeModel *model;
      Slot *slot;
      Failure *failure;
      gboolean unchanged, had_model;

      if (!is_model_name (name))
        continue;
      category = g_strndup (name, strlen (name) - strlen (MODEL_SUFFIX));
      path = g_build_filename (registry->model_dir, name, NULL);
      patch_path = cp_patch_model_path_for (path);
      id = file_id_read (path);
      if (!id.exists)
        continue;
      patch_id = file_id_read (patch_path);
      g_hash_table_add (seen, g_strdup (category));

      pthread_mutex_lock (&registry->lock);
      slot = g_hash_table_lookup (registry->slots, category);
      failure = g_hash_table_lookup (registry->failures, category);
      had_model = slot != NULL;
      unchanged = (slot != NULL && file_id_equal (&slot->id, &id) && file_id_equal (&slot->patch_id, &patch_id))
                  || (failure != NULL && file_id_equal (&failure->id, &id)
                      && file_id_equal (&failure->patch_id, &patch_id));
      pthread_mutex_unlock (&registry->lock);
      if (unchanged)
        continue;

      model = load_model (registry, category, path, patch_path, &id, &patch_id, &load_error);
      if (model == NULL && load_error == NULL)
        continue;   /* changed while read: the next scan loads what it became */
      if (model == NULL)
        {
          Failure *f = g_new0 (Failure, 1);

          f->id = id;
          f->patch_id = patch_id;
          f->message = g_strdup (load_error->message);
          fprintf (stderr, "cutpaste serve: %s not loaded: %s%s\n", name, load_error->message,
                   had_model ? " (the model loaded before stays in service)" : "");
          g_atomic_int_inc (&registry->load_failures);
          pthread_mutex_lock (&registry->lock);
          g_hash_table_replace (registry->failures, g_strdup (category), f);
          pthread_mutex_unlock (&registry->lock);
          continue;
        }
      {
        Slot *fresh = g_new0 (Slot, 1);

        fresh->model = model;
        fresh->id = id;
        fresh->patch_id = patch_id;
        pthread_mutex_lock (&registry->lock);
        g_hash_table_remove (registry->failures, category);
        /* The old slot's reference goes; requests holding theirs finish
         * on the old model. */
        g_hash_table_replace (registry->slots, g_strdup (category), fresh);
        pthread_mutex_unlock (&registry->lock);
      }
      g_atomic_int_inc (&registry->loads);
      changes++;
      fprintf (stderr, "cutpaste serve: %s %s (sha256 %.12s, S %d, threshold %.6g, %s%s%s)\n",
               had_model ? "reloaded" : "loaded", category, model->sha256,
               cp_model_get_image_size (model->models[0]), cp_model_get_threshold (model->models[0]),
               model->patches ? "with patch model" : "no patch model",
               model->patch_error ? ": " : "", model->patch_error ? model->patch_error : "");
    }

  pthread_mutex_lock (&registry->lock);
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, registry->slots);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      if (!g_hash_table_contains (seen, key))
        g_ptr_array_add (gone, g_strdup (key));
    for (guint i = 0; i < gone->len; i++)
      {
        g_hash_table_remove (registry->slots, gone->pdata[i]);
        fprintf (stderr, "cutpaste serve: removed %s (its file is gone)\n", (char *) gone->pdata[i]);
        changes++;
      }
    g_hash_table_iter_init (&iter, registry->failures);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      if (!g_hash_table_contains (seen, key))
        g_hash_table_iter_remove (&iter);
  }
  pthread_mutex_unlock (&registry->lock);
  pthread_mutex_unlock (&registry->scan_lock);
  return changes;
}

CpServeRegistry *
cp_serve_registry_new (const char *model_dir, int n_instances, const char *device, GError **error)
{
  CpServeRegistry *registry;

  g_return_val_if_fail (n_instances >= 1, NULL);
  if (!g_file_test (model_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                   "model folder %s does not exist (expected <category>.safetensors files "
                   "written by 'cutpaste train')", model_dir);
      return NULL;
    }
  registry = g_new0 (CpServeRegistry, 1);
  registry->model_dir = g_strdup (model_dir);
  registry->device = g_strdup (device ? device : "auto");
  registry->n_instances = n_instances;
  pthread_mutex_init (&registry->lock, NULL);
  pthread_mutex_init (&registry->scan_lock, NULL);
  pthread_mutex_init (&registry->watch_lock, NULL);
  {
    pthread_condattr_t attr;

    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&registry->watch_cond, &attr);
    pthread_condattr_destroy (&attr);
  }
  registry->slots = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, slot_free);
  registry->failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, failure_free);
  cp_serve_registry_scan (registry);
  return registry;
}

static gpointer
watch_main (gpointer data)
{
  CpServeRegistry *registry = data;

  pthread_mutex_lock (&registry->watch_lock);
  while (!registry->stop)
    {
      struct timespec until;

      clock_gettime (CLOCK_MONOTONIC, &until);
      until.tv_sec += registry->interval_ms / 1000;
      until.tv_nsec += (long) (registry->interval_ms % 1000) * 1000000;
      if (until.tv_nsec >= 1000000000)
        {
          until.tv_sec++;
          until.tv_nsec -= 1000000000;
        }
      while (!registry->stop
             && pthread_cond_timedwait (&registry->watch_cond, &registry->watch_lock, &until) == 0)
        ;
      if (registry->stop)
        break;
      pthread_mutex_unlock (&registry->watch_lock);
      cp_serve_registry_scan (registry);
      pthread_mutex_lock (&registry->watch_lock);
    }
  pthread_mutex_unlock (&registry->watch_lock);
  return NULL;
}

void
cp_serve_registry_watch (CpServeRegistry *registry, guint interval_ms)
{
  g_return_if_fail (registry->watcher == NULL);
  registry->interval_ms = MAX (interval_ms, 10);
  registry->watcher = g_thread_new ("cp-serve-watch", watch_main, registry);
}

void
cp_serve_registry_free (CpServeRegistry *registry)
{
  if (registry == NULL)
    return;
  if (registry->watcher)
    {
      pthread_mutex_lock (&registry->watch_lock);
      registry->stop = TRUE;
      pthread_cond_broadcast (&registry->watch_cond);
      pthread_mutex_unlock (&registry->watch_lock);
      g_thread_join (registry->watcher);
    }
  g_hash_table_unref (registry->slots);
  g_hash_table_unref (registry->failures);
  pthread_mutex_destroy (&registry->lock);
  pthread_mutex_destroy (&registry->scan_lock);
  pthread_mutex_destroy (&registry->watch_lock);
  pthread_cond_destroy (&registry->watch_cond);
  g_free (registry->model_dir);
  g_free (registry->device);
  g_free (registry);
}

CpServeModel *
cp_serve_registry_acquire (CpServeRegistry *registry, const char *category)
{
  CpServeModel *model = NULL;
  Slot *slot;

  pthread_mutex_lock (&registry->lock);
  slot = g_hash_table_lookup (registry->slots, category);
  if (slot != NULL)
    model = cp_serve_model_ref (slot->model);
  pthread_mutex_unlock (&registry->lock);
  return model;
}

int
cp_serve_registry_count (CpServeRegistry *registry)
{
  int n;

  pthread_mutex_lock (&registry->lock);
  n = (int) g_hash_table_size (registry->slots);
  pthread_mutex_unlock (&registry->lock);
  return n;
}

guint64
cp_serve_registry_loads (CpServeRegistry *registry)
{
  return (guint64) g_atomic_int_get (&registry->loads);
}

guint64
cp_serve_registry_load_failures (CpServeRegistry *registry)
{
  return (guint64) g_atomic_int_get (&registry->load_failures);
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
cp_serve_registry_list_json (CpServeRegistry *registry)
{
  g_autoptr (GString) out = g_string_new ("{\"models\":[");
  g_autoptr (GPtrArray) names = g_ptr_array_new ();
  g_autoptr (GPtrArray) failed = g_ptr_array_new ();
  CpJsonWriter w;

  pthread_mutex_lock (&registry->lock);
  {
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init (&iter, registry->slots);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (names, key);
    g_ptr_array_sort (names, compare_names);
    for (guint i = 0; i < names->len; i++)
      {
        Slot *slot = g_hash_table_lookup (registry->slots, names->pdata[i]);
        g_string_append_printf (out, "%s%s", i ? "," : "", slot->model->info_json);
      }
    g_string_append (out, "],\"errors\":");

    g_hash_table_iter_init (&iter, registry->failures);
    while (g_hash_table_iter_next (&iter, &key, NULL))
      g_ptr_array_add (failed, key);
    g_ptr_array_sort (failed, compare_names);
    cp_json_writer_init (&w);
    cp_json_writer_begin_array (&w);
    for (guint i = 0; i < failed->len; i++)
      {
        Failure *f = g_hash_table_lookup (registry->failures, failed->pdata[i]);
        g_autofree char *file = g_strconcat (failed->pdata[i], MODEL_SUFFIX, NULL);

        cp_json_writer_begin_object (&w);
        cp_json_writer_key (&w, "file");
        cp_serve_json_string (&w, file);
        cp_json_writer_key (&w, "error");
        cp_serve_json_string (&w, f->message);
        cp_json_writer_end_object (&w);
      }
    cp_json_writer_end_array (&w);
  }
  pthread_mutex_unlock (&registry->lock);
  {
    g_autofree char *errors = cp_serve_json_finish (&w);
    g_string_append (out, errors);
  }
  g_string_append (out, "}");
  return g_string_free (g_steal_pointer (&out), FALSE);
}
