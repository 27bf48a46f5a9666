/* good-set.c: adding images to a model's good set and taking them out,
 * with a refit (good-set.h). */
#include "good-set.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "core/io/json.h"
#include "core/io/safetensors.h"
#include "data/dataset.h"
#include "data/file-hash.h"
#include "data/image.h"
#include "pipeline-private.h"

#define ADDED_KEY "refit_added"
/* Largest image file a refit copies (as the image reader accepts). */
#define MAX_IMAGE_BYTES ((gsize) 1 << 30)

void
cp_good_image_free (CpGoodImage *image)
{
  if (image == NULL)
    return;
  g_free (image->file);
  g_free (image->path);
  g_free (image->sha256);
  g_free (image->source);
  g_free (image->added);
  g_free (image);
}

static CpGoodImage *
good_image_copy (const CpGoodImage *image)
{
  CpGoodImage *copy = g_new0 (CpGoodImage, 1);

  copy->file = g_strdup (image->file);
  copy->path = g_strdup (image->path);
  copy->sha256 = g_strdup (image->sha256);
  copy->source = g_strdup (image->source);
  copy->added = g_strdup (image->added);
  copy->batch = image->batch;
  return copy;
}

void
cp_good_set_request_init (CpGoodSetRequest *request)
{
  memset (request, 0, sizeof *request);
  request->false_reject_rate = NAN;
}

void
cp_good_set_change_init (CpGoodSetChange *change)
{
  memset (change, 0, sizeof *change);
  cp_refit_result_init (&change->refit);
  change->added = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_good_image_free);
  change->removed = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_good_image_free);
  change->listed = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_good_image_free);
  change->already = g_ptr_array_new_with_free_func (g_free);
  change->notes = g_ptr_array_new_with_free_func (g_free);
}

void
cp_good_set_change_clear (CpGoodSetChange *change)
{
  g_clear_pointer (&change->refit.skipped, g_ptr_array_unref);
  g_clear_pointer (&change->refit.held_out_scores, g_free);
  g_clear_pointer (&change->added, g_ptr_array_unref);
  g_clear_pointer (&change->removed, g_ptr_array_unref);
  g_clear_pointer (&change->listed, g_ptr_array_unref);
  g_clear_pointer (&change->already, g_ptr_array_unref);
  g_clear_pointer (&change->notes, g_ptr_array_unref);
  g_free (change->dataset_dir);
  g_free (change->category);
  g_free (change->hash_before);
  g_free (change->hash_after);
  memset (change, 0, sizeof *change);
}

/* ---- the list in the metadata ------------------------------------------------ */

static gboolean
parse_added (const char *model_path, const char *text, const char *good_dir, GPtrArray *out, GError **error)
{
  CpError err = { 0 };
  CpJsonDoc *doc;
  const CpJson *root;

  if (text == NULL)
    return TRUE;
  doc = cp_json_parse (text, strlen (text), NULL, NULL, &err);
  if (doc == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL, "%s: metadata %s: %s", model_path,
                   ADDED_KEY, err.message);
      return FALSE;
    }
  root = cp_json_doc_root (doc);
  if (root->type != CP_JSON_ARRAY)
    goto bad;
  for (size_t i = 0; i < root->length; i++)
    {
      const CpJson *item = root->items[i];
      const CpJson *file = cp_json_object_get (item, "file"), *sha = cp_json_object_get (item, "sha256");
      const CpJson *source = cp_json_object_get (item, "source"), *added = cp_json_object_get (item, "added");
      const CpJson *batch = cp_json_object_get (item, "batch");
      CpGoodImage *image;

      if (file == NULL || file->type != CP_JSON_STRING || sha == NULL || sha->type != CP_JSON_STRING
          || batch == NULL || batch->type != CP_JSON_INT
          /* A name, not a path: removing it must stay inside train/good. */
          || strchr (file->string, '/') != NULL || file->string[0] == '.' || file->string[0] == '\0')
        goto bad;
      image = g_new0 (CpGoodImage, 1);
      image->file = g_strdup (file->string);
      image->path = good_dir ? g_build_filename (good_dir, file->string, NULL) : NULL;
      image->sha256 = g_strdup (sha->string);
      image->source = source && source->type == CP_JSON_STRING ? g_strdup (source->string) : NULL;
      image->added = added && added->type == CP_JSON_STRING ? g_strdup (added->string) : NULL;
      image->batch = (int) batch->integer;
      g_ptr_array_add (out, image);
    }
  cp_json_doc_free (doc);
  return TRUE;

bad:
  cp_json_doc_free (doc);
  g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_MODEL,
               "%s: metadata %s is not a list of {file, sha256, source, added, batch}", model_path,
               ADDED_KEY);
  return FALSE;
}

static char *
format_added (GPtrArray *list, GError **error)
{
  CpJsonWriter w;
  CpError err = { 0 };
  char *text;

  cp_json_writer_init (&w);
  cp_json_writer_begin_array (&w);
  for (guint i = 0; i < list->len; i++)
    {
      const CpGoodImage *image = list->pdata[i];

      cp_json_writer_begin_object (&w);
      cp_json_writer_key (&w, "file");
      cp_json_writer_string (&w, image->file);
      cp_json_writer_key (&w, "sha256");
      cp_json_writer_string (&w, image->sha256);
      cp_json_writer_key (&w, "source");
      if (image->source)
        cp_json_writer_string (&w, image->source);
      else
        cp_json_writer_null (&w);
      cp_json_writer_key (&w, "added");
      cp_json_writer_string (&w, image->added ? image->added : "");
      cp_json_writer_key (&w, "batch");
      cp_json_writer_int (&w, image->batch);
      cp_json_writer_end_object (&w);
    }
  cp_json_writer_end_array (&w);
  text = cp_json_writer_steal (&w, NULL, &err);
  cp_json_writer_clear (&w);
  if (text == NULL)
    g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_FAILED,
                 "cannot write the list of added images (a file name that is not UTF-8?): %s", err.message);
  /* The writer's buffer comes from malloc; hand out GLib memory. */
  {
    char *copy = g_strdup (text);
    free (text);
    return copy;
  }
}

/* ---- where the dataset is ------------------------------------------------------ */

static char *
dataset_root (const char *model_path, const char *data_dir, const char *metadata_dir, GError **error)
{
  if (data_dir)
    return g_canonicalize_filename (data_dir, NULL);
  if (metadata_dir && metadata_dir[0])
    return g_strdup (metadata_dir);
  g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
               "%s: the model does not record its dataset (trained before data_dir was stored); give "
               "--data-dir, the folder that holds CATEGORY/train/good", model_path);
  return NULL;
}

GPtrArray *
cp_model_file_list_added (const char *model_path, GError **error)
{
  CpError err = { 0 };
  CpSafetensors *st = cp_safetensors_open (model_path, &err);
  g_autoptr (GPtrArray) list = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_good_image_free);
  g_autofree char *good_dir = NULL;
  const char *root, *category;
  gboolean ok;

  if (st == NULL)
    {
      g_set_error (error, CP_PIPELINE_ERROR, err.code == CP_ERR_IO ? CP_PIPELINE_ERROR_IO : CP_PIPELINE_ERROR_MODEL,
                   "cannot read model %s", err.message);
      return NULL;
    }
  root = cp_safetensors_metadata (st, "data_dir");
  category = cp_safetensors_metadata (st, "category");
  if (root && category)
    good_dir = g_build_filename (root, category, "train", "good", NULL);
  ok = parse_added (model_path, cp_safetensors_metadata (st, ADDED_KEY), good_dir, list, error);
  cp_safetensors_close (st);
  return ok ? g_steal_pointer (&list) : NULL;
}

/* ---- copying -------------------------------------------------------------------- */

/* "refit-<12 hex>-<name>", the name's odd characters replaced. */
static char *
copy_name (const char *source, const char *sha256)
{
  g_autofree char *base = g_path_get_basename (source);

  for (char *p = base; *p; p++)
    if (*p == '/' || *p == '\\' || (unsigned char) *p < 0x20)
      *p = '_';
  return g_strdup_printf ("refit-%.12s-%s", sha256, base[0] == '.' ? base + 1 : base);
}

/* Writes @data to a new hidden file in @dir, fsynced; returns its path. */
static char *
write_hidden_copy (const char *dir, const char *data, gsize length, const char *source, GError **error)
{
  g_autofree char *tmpl = g_build_filename (dir, ".refit-tmp-XXXXXX", NULL);
  int fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0644);
  gsize done = 0;

  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot copy %s into %s: %s", source, dir,
                   g_strerror (e));
      return NULL;
    }
  while (done < length)
    {
      ssize_t n = write (fd, data + done, length - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      done += n;
    }
  if (done < length || fsync (fd) != 0)
    {
      int e = errno;
      close (fd);
      g_unlink (tmpl);
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot copy %s into %s: %s", source, dir,
                   g_strerror (e));
      return NULL;
    }
  close (fd);
  return g_steal_pointer (&tmpl);
}

static void
fsync_dir (const char *dir)
{
  int fd = g_open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);

  if (fd >= 0)
    {
      fsync (fd);
      close (fd);
    }
}

/* Whether @spec names listed image @image. */
static gboolean
names_image (const char *spec, const CpGoodImage *image, const char *spec_canonical)
{
  return g_strcmp0 (spec, image->file) == 0 || g_strcmp0 (spec, image->sha256) == 0
         || (image->path && g_strcmp0 (spec_canonical, image->path) == 0)
         || (image->source && g_strcmp0 (spec_canonical, image->source) == 0);
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

typedef struct
{
  char    *final_path;
  char    *temp_path;    /* NULL once renamed or dropped */
  gboolean renamed;      /* final_path is our copy */
} PendingCopy;

gboolean
cp_model_change_good_set (const char *model_path, const CpGoodSetRequest *request, CpGoodSetChange *change,
                          GError **error)
{
  g_autoptr (CpModel) model = NULL;
  g_autofree char *root = NULL, *good_dir = NULL, *added_text = NULL, *now = NULL;
  g_autoptr (GPtrArray) listed = g_ptr_array_new_with_free_func ((GDestroyNotify) cp_good_image_free);
  g_autoptr (GPtrArray) keep = g_ptr_array_new ();          /* CpGoodImage * borrowed from listed */
  g_autoptr (GHashTable) removed_paths = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) temp_for = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) fit_paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) final_names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (CpCategory) cat = NULL;
  GArray *pending = g_array_new (FALSE, TRUE, sizeof (PendingCopy));
  g_autoptr (GError) local = NULL;
  gboolean ok = FALSE;
  int batch = 0;

  model = cp_model_load (model_path, request->device ? request->device : "auto", error);
  if (model == NULL)
    goto out;
  change->hash_before = cp_file_sha256 (model_path, error);
  if (change->hash_before == NULL)
    goto out;
  change->category = g_strdup (cp_model_get_category (model));
  root = dataset_root (model_path, request->data_dir, cp_model_get_metadata (model, "data_dir"), error);
  if (root == NULL)
    goto out;
  change->dataset_dir = g_build_filename (root, change->category, NULL);
  good_dir = g_build_filename (change->dataset_dir, "train", "good", NULL);
  if (!g_file_test (good_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA,
                   "%s: the good set %s of model %s is not there%s", good_dir, good_dir, model_path,
                   request->data_dir ? "" : " (give --data-dir if the dataset moved)");
      goto out;
    }
  if (!parse_added (model_path, cp_model_get_metadata (model, ADDED_KEY), good_dir, listed, error))
    goto out;
  for (guint i = 0; i < listed->len; i++)
    batch = MAX (batch, ((CpGoodImage *) listed->pdata[i])->batch);

  /* What comes out: named images, or the last batch. */
  for (guint i = 0; i < listed->len; i++)
    g_ptr_array_add (keep, listed->pdata[i]);
  for (int r = 0; r < request->n_remove; r++)
    {
      g_autofree char *canonical = g_canonicalize_filename (request->remove[r], NULL);
      gboolean found = FALSE;

      for (guint i = 0; i < keep->len; i++)
        if (names_image (request->remove[r], keep->pdata[i], canonical))
          {
            g_ptr_array_add (change->removed, good_image_copy (keep->pdata[i]));
            g_ptr_array_remove_index (keep, i);
            found = TRUE;
            break;
          }
      if (!found)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                       "%s: not an image a refit added to model %s (a refit removes only those; %u listed)",
                       request->remove[r], model_path, listed->len);
          goto out;
        }
    }
  if (request->undo)
    {
      int last = 0;

      for (guint i = 0; i < keep->len; i++)
        last = MAX (last, ((CpGoodImage *) keep->pdata[i])->batch);
      if (last == 0)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_INVALID,
                       "%s: nothing to undo: no refit added images to this model", model_path);
          goto out;
        }
      for (guint i = 0; i < keep->len;)
        if (((CpGoodImage *) keep->pdata[i])->batch == last)
          {
            g_ptr_array_add (change->removed, good_image_copy (keep->pdata[i]));
            g_ptr_array_remove_index (keep, i);
          }
        else
          i++;
    }
  for (guint i = 0; i < change->removed->len; i++)
    {
      CpGoodImage *image = change->removed->pdata[i];
      g_hash_table_add (removed_paths, image->path);
    }

  /* What goes in: read, hash, check it decodes, copy under a hidden name. */
  now = cp_pipeline_now_iso8601 ();
  for (int a = 0; a < request->n_add; a++)
    {
      const char *source = request->add[a];
      g_autofree char *data = NULL, *sha = NULL, *name = NULL, *canonical = NULL;
      g_autoptr (CpImage) image = NULL;
      gsize length = 0;
      gboolean seen = FALSE;
      PendingCopy copy = { 0 };
      CpGoodImage *entry;

      if (!g_file_get_contents (source, &data, &length, &local))
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "%s: cannot read: %s", source,
                       local->message);
          goto out;
        }
      if (length > MAX_IMAGE_BYTES)
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IMAGE, "%s: too large for an image", source);
          goto out;
        }
      if (!cp_image_load (source, &image, &local))
        {
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IMAGE, "cannot add %s", local->message);
          goto out;
        }
      sha = cp_sha256_hex (data, length);
      for (guint i = 0; i < keep->len && !seen; i++)
        seen = g_strcmp0 (((CpGoodImage *) keep->pdata[i])->sha256, sha) == 0;
      for (guint i = 0; i < change->added->len && !seen; i++)
        seen = g_strcmp0 (((CpGoodImage *) change->added->pdata[i])->sha256, sha) == 0;
      if (seen)
        {
          g_ptr_array_add (change->already, g_strdup (source));
          continue;
        }
      name = copy_name (source, sha);
      copy.final_path = g_build_filename (good_dir, name, NULL);
      copy.temp_path = write_hidden_copy (good_dir, data, length, source, error);
      if (copy.temp_path == NULL)
        {
          g_free (copy.final_path);
          goto out;
        }
      g_array_append_val (pending, copy);
      canonical = g_canonicalize_filename (source, NULL);
      entry = g_new0 (CpGoodImage, 1);
      entry->file = g_steal_pointer (&name);
      entry->path = g_strdup (copy.final_path);
      entry->sha256 = g_steal_pointer (&sha);
      entry->source = g_steal_pointer (&canonical);
      entry->added = g_strdup (now);
      entry->batch = batch + 1;
      g_ptr_array_add (change->added, entry);
    }

  /* The good set after the change, in the sorted order training and a
   * later refit see it in (the threshold's folds depend on the order). */
  cat = cp_dataset_scan_category (root, change->category, &local);
  if (cat == NULL && change->added->len == 0)
    {
      g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_DATA, "%s", local->message);
      goto out;
    }
  g_clear_error (&local);
  for (size_t i = 0; cat != NULL && i < cat->n_train; i++)
    if (!g_hash_table_contains (removed_paths, cat->train[i].path))
      g_ptr_array_add (final_names, g_strdup (cat->train[i].path));
  for (guint i = 0; i < pending->len; i++)
    {
      PendingCopy *copy = &g_array_index (pending, PendingCopy, i);
      if (!g_file_test (copy->final_path, G_FILE_TEST_EXISTS))
        g_ptr_array_add (final_names, g_strdup (copy->final_path));
      g_hash_table_insert (temp_for, copy->final_path, copy->temp_path);
    }
  g_ptr_array_sort (final_names, compare_paths);
  for (guint i = 0; i < final_names->len; i++)
    {
      const char *temp = g_hash_table_lookup (temp_for, final_names->pdata[i]);
      g_ptr_array_add (fit_paths, g_strdup (temp ? temp : final_names->pdata[i]));
    }

  if (!cp_model_refit (model, (const char *const *) fit_paths->pdata, (int) fit_paths->len,
                       request->false_reject_rate, NULL, &change->refit, error))
    goto out;

  /* The list and where the dataset is, for the next refit. */
  for (guint i = 0; i < keep->len; i++)
    g_ptr_array_add (change->listed, good_image_copy (keep->pdata[i]));
  for (guint i = 0; i < change->added->len; i++)
    g_ptr_array_add (change->listed, good_image_copy (change->added->pdata[i]));
  added_text = format_added (change->listed, error);
  if (added_text == NULL)
    goto out;
  cp_model_set_metadata (model, ADDED_KEY, change->listed->len > 0 ? added_text : NULL);
  cp_model_set_metadata (model, "data_dir", root);
  cp_model_set_metadata (model, "refitted", now);

  /* Copies to their final names, then the model, then the removals. */
  for (guint i = 0; i < pending->len; i++)
    {
      PendingCopy *copy = &g_array_index (pending, PendingCopy, i);

      if (g_file_test (copy->final_path, G_FILE_TEST_EXISTS))
        {
          /* The same bytes are there already (a name with the same hash
           * prefix): keep that file. */
          g_unlink (copy->temp_path);
        }
      else if (g_rename (copy->temp_path, copy->final_path) != 0)
        {
          int e = errno;
          g_set_error (error, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_IO, "cannot rename %s to %s: %s",
                       copy->temp_path, copy->final_path, g_strerror (e));
          goto out;
        }
      else
        copy->renamed = TRUE;
      g_clear_pointer (&copy->temp_path, g_free);
    }
  fsync_dir (good_dir);
  if (!cp_model_save (model, model_path, error))
    goto out;
  change->hash_after = cp_file_sha256 (model_path, NULL);
  for (guint i = 0; i < change->removed->len; i++)
    {
      CpGoodImage *image = change->removed->pdata[i];

      if (g_unlink (image->path) != 0)
        {
          int e = errno;
          g_ptr_array_add (change->notes, g_strdup_printf ("%s: %s (it was taken out of the list anyway)",
                                                           image->path, g_strerror (e)));
        }
    }
  fsync_dir (good_dir);
  ok = TRUE;

out:
  for (guint i = 0; i < pending->len; i++)
    {
      PendingCopy *copy = &g_array_index (pending, PendingCopy, i);

      if (!ok)
        {
          /* Undo the copies: temp files, and those already renamed. */
          if (copy->temp_path)
            g_unlink (copy->temp_path);
          else if (copy->renamed)
            g_unlink (copy->final_path);
        }
      g_free (copy->temp_path);
      g_free (copy->final_path);
    }
  g_array_unref (pending);
  if (!ok)
    {
      g_ptr_array_set_size (change->added, 0);
      g_ptr_array_set_size (change->removed, 0);
      g_ptr_array_set_size (change->listed, 0);
    }
  return ok;
}
