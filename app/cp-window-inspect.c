/* cp-window-inspect.c: scoring dropped or opened images against the
 * selected category's model, with a movable threshold. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include <glib/gi18n.h>

#include "data/dataset.h"
#include "data/image.h"
#include "pipeline/localize.h"
#include "pipeline/model.h"
#include "cp-window-private.h"

#define THUMBNAIL_SIZE 64

static void heatmap_request (CpWindow *self, CpInspectItem *item);

typedef struct
{
  char      *model_path;
  char      *device;
  GPtrArray *paths;        /* char * */
} ScoreJob;

typedef struct
{
  GPtrArray *paths;        /* char *, same order as the job's */
  double    *scores;
  char     **messages;     /* NULL where scored */
  GPtrArray *thumbnails;   /* GdkPixbuf * or NULL */
  double     threshold;
  char      *model_error;  /* the model could not be loaded */
} ScoreResult;

/* Thumbnails of files that are not images are NULL. */
static void
unref_if_set (gpointer object)
{
  if (object != NULL)
    g_object_unref (object);
}

static void
score_job_free (gpointer data)
{
  ScoreJob *job = data;

  g_free (job->model_path);
  g_free (job->device);
  g_ptr_array_unref (job->paths);
  g_free (job);
}

static void
score_result_free (gpointer data)
{
  ScoreResult *res = data;

  for (guint i = 0; res->messages != NULL && i < res->paths->len; i++)
    g_free (res->messages[i]);
  g_free (res->messages);
  g_free (res->scores);
  g_ptr_array_unref (res->paths);
  g_ptr_array_unref (res->thumbnails);
  g_free (res->model_error);
  g_free (res);
}

static gpointer
score_run (CpWorkerJob        *worker_job,
           const volatile int *cancel,
           gpointer            data,
           GError            **error)
{
  ScoreJob *job = data;
  ScoreResult *res = g_new0 (ScoreResult, 1);
  g_autoptr(CpModel) model = NULL;
  g_autoptr(GError) local = NULL;
  guint n = job->paths->len;

  res->paths = g_ptr_array_ref (job->paths);
  res->scores = g_new (double, n);
  res->messages = g_new0 (char *, n);
  res->thumbnails = g_ptr_array_new_with_free_func (unref_if_set);
  res->threshold = NAN;
  for (guint i = 0; i < n; i++)
    res->scores[i] = NAN;

  /* Thumbnails first: they also show which files are not images at all. */
  for (guint i = 0; i < n; i++)
    {
      GdkPixbuf *thumb = gdk_pixbuf_new_from_file_at_scale (g_ptr_array_index (job->paths, i),
                                                            THUMBNAIL_SIZE, THUMBNAIL_SIZE,
                                                            TRUE, NULL);
      g_ptr_array_add (res->thumbnails, thumb);
    }

  model = cp_model_load (job->model_path, job->device, &local);
  if (model == NULL)
    {
      res->model_error = g_strdup (local->message);
      return res;
    }
  res->threshold = cp_model_get_threshold (model);
  if (!cp_model_score_files (model, (const char *const *) job->paths->pdata, n,
                             res->scores, NULL, res->messages, cancel, &local))
    res->model_error = g_strdup (local->message);
  return res;
}

static CpInspectItem *
find_item (CpWindow   *self,
           const char *path)
{
  for (guint i = 0; i < self->inspect_items->len; i++)
    {
      CpInspectItem *item = g_ptr_array_index (self->inspect_items, i);

      if (g_strcmp0 (item->path, path) == 0)
        return item;
    }
  return NULL;
}

static void
item_free (gpointer data)
{
  CpInspectItem *item = data;

  g_free (item->path);
  g_free (item->error);
  g_clear_object (&item->thumbnail);
  g_free (item);
}

static double
current_threshold (CpWindow *self)
{
  if (!gtk_widget_get_sensitive (GTK_WIDGET (self->threshold_scale)))
    return self->model_threshold;
  return gtk_adjustment_get_value (self->threshold_adjustment);
}

/* The line under the large view: the selected image's path, and its
 * score against the threshold in use (the slider's, moved or not), or
 * why it has none.  Refreshed whenever either changes. */
static void
update_caption (CpWindow *self)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->inspect_list);
  CpInspectItem *item = row != NULL ? g_object_get_data (G_OBJECT (row), "cp-item") : NULL;
  g_autofree char *caption = NULL;

  if (item == NULL)
    return;
  if (item->error != NULL)
    caption = g_strdup_printf ("%s\n%s", item->path, item->error);
  else if (!isnan (item->score))
    caption = g_strdup_printf (_("%s\nScore %.3f (threshold %.3f)"), item->path, item->score,
                               current_threshold (self));
  else
    caption = g_strdup (item->path);
  gtk_label_set_text (self->inspect_caption, caption);
}

/* Builds or refreshes the row of @item. */
static void
update_row (CpWindow      *self,
            CpInspectItem *item)
{
  g_autofree char *base = g_path_get_basename (item->path);
  g_autofree char *folder_path = g_path_get_dirname (item->path);
  g_autofree char *folder = g_path_get_basename (folder_path);
  /* MVTec names repeat (000.png in every folder): show the folder too. */
  g_autofree char *title = g_build_filename (folder, base, NULL);
  g_autofree char *subtitle = NULL;
  GtkWidget *row = item->row;
  GtkWidget *image, *verdict;
  double threshold = current_threshold (self);

  if (row == NULL)
    {
      row = adw_action_row_new ();
      /* File names and error messages are plain text. */
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      image = gtk_image_new ();
      gtk_image_set_pixel_size (GTK_IMAGE (image), 48);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), image);
      verdict = gtk_label_new (NULL);
      gtk_widget_set_valign (verdict, GTK_ALIGN_CENTER);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), verdict);
      g_object_set_data (G_OBJECT (row), "cp-image", image);
      g_object_set_data (G_OBJECT (row), "cp-verdict", verdict);
      g_object_set_data (G_OBJECT (row), "cp-item", item);
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      gtk_list_box_append (self->inspect_list, row);
      item->row = row;
    }
  image = g_object_get_data (G_OBJECT (row), "cp-image");
  verdict = g_object_get_data (G_OBJECT (row), "cp-verdict");

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  if (item->thumbnail != NULL)
    gtk_image_set_from_paintable (GTK_IMAGE (image), GDK_PAINTABLE (item->thumbnail));
  else
    gtk_image_set_from_icon_name (GTK_IMAGE (image),
                                  item->error != NULL ? "image-missing-symbolic" : "image-x-generic-symbolic");

  gtk_widget_remove_css_class (verdict, "success");
  gtk_widget_remove_css_class (verdict, "error");
  if (item->error != NULL)
    {
      subtitle = g_strdup (item->error);
      gtk_label_set_text (GTK_LABEL (verdict), _("ERROR"));
      gtk_widget_add_css_class (verdict, "error");
    }
  else if (isnan (item->score))
    {
      subtitle = g_strdup (_("Scoring…"));
      gtk_label_set_text (GTK_LABEL (verdict), "");
    }
  else
    {
      gboolean fail = !isnan (threshold) && item->score > threshold;

      subtitle = g_strdup_printf (_("Score %.3f"), item->score);
      /* Translators: the verdict of an inspected part. */
      gtk_label_set_text (GTK_LABEL (verdict), fail ? _("FAIL") : _("PASS"));
      gtk_widget_add_css_class (verdict, fail ? "error" : "success");
    }
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
}

static void
score_done (gpointer      result,
            const GError *error,
            gboolean      dropped,
            gpointer      user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  ScoreResult *res = result;

  if (dropped || res == NULL)
    return;   /* a newer job re-scores whatever this one held */
  if (res->model_error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("The model cannot be used: %s"), res->model_error);

      cp_window_toast (self, msg);
    }
  for (guint i = 0; i < res->paths->len; i++)
    {
      CpInspectItem *item = find_item (self, g_ptr_array_index (res->paths, i));
      GdkPixbuf *thumb = g_ptr_array_index (res->thumbnails, i);

      if (item == NULL)
        continue;
      if (thumb != NULL && item->thumbnail == NULL)
        item->thumbnail = gdk_texture_new_for_pixbuf (thumb);
      item->score = res->scores[i];
      g_clear_pointer (&item->error, g_free);
      if (res->messages[i] != NULL)
        item->error = g_strdup (res->messages[i]);
      else if (isnan (item->score))
        item->error = g_strdup (res->model_error != NULL ? res->model_error : _("Not scored"));
      update_row (self, item);
    }
  update_caption (self);
}

/* Queues every unscored item: one job holds them all, so a newer job
 * (which supersedes this one) still covers what this one had. */
static void
score_pending (CpWindow *self)
{
  ScoreJob *job;
  g_autofree char *model_path = cp_window_model_path (self, self->category);

  if (model_path == NULL)
    return;
  job = g_new0 (ScoreJob, 1);
  job->paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < self->inspect_items->len; i++)
    {
      CpInspectItem *item = g_ptr_array_index (self->inspect_items, i);

      if (item->error == NULL && isnan (item->score))
        g_ptr_array_add (job->paths, g_strdup (item->path));
    }
  if (job->paths->len == 0)
    {
      score_job_free (job);
      return;
    }
  job->model_path = g_steal_pointer (&model_path);
  job->device = g_settings_get_string (self->settings, "device");
  cp_worker_submit (self->worker, "score", score_run, job, score_job_free, NULL,
                    score_done, score_result_free, G_OBJECT (self));
}

static CpInspectItem *
add_item (CpWindow   *self,
          const char *path,
          const char *error)
{
  CpInspectItem *item = g_new0 (CpInspectItem, 1);

  item->path = g_strdup (path);
  item->score = NAN;
  item->error = g_strdup (error);
  g_ptr_array_add (self->inspect_items, item);
  update_row (self, item);
  return item;
}

static int
compare_paths (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Adds the images directly in @dir (sorted), or one error row when there
 * are none. */
static void
add_folder (CpWindow *self,
            GFile    *dir)
{
  g_autofree char *path = g_file_get_path (dir);
  g_autoptr(GDir) handle = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *name;

  handle = g_dir_open (path, 0, &error);
  if (handle == NULL)
    {
      add_item (self, path, error->message);
      return;
    }
  while ((name = g_dir_read_name (handle)) != NULL)
    if (name[0] != '.' && cp_dataset_is_image_name (name))
      g_ptr_array_add (names, g_build_filename (path, name, NULL));
  if (names->len == 0)
    {
      add_item (self, path, _("This folder holds no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff)"));
      return;
    }
  g_ptr_array_sort (names, compare_paths);
  for (guint i = 0; i < names->len; i++)
    add_item (self, g_ptr_array_index (names, i), NULL);
}

static void
add_files (CpWindow *self,
           GSList   *files)
{
  CpCategoryInfo *info = cp_window_find_category (self, self->category);

  if (info == NULL || info->state != CP_CATEGORY_STATE_TRAINED)
    {
      cp_window_toast (self, _("Train the selected category before inspecting images"));
      return;
    }
  for (GSList *l = files; l != NULL; l = l->next)
    {
      GFile *file = l->data;
      g_autofree char *path = g_file_get_path (file);

      if (path == NULL)
        {
          g_autofree char *uri = g_file_get_uri (file);

          add_item (self, uri, _("Only local files can be inspected"));
        }
      else if (g_file_test (path, G_FILE_TEST_IS_DIR))
        add_folder (self, file);
      else
        add_item (self, path, NULL);
    }
  score_pending (self);
  cp_window_show_page (self, "inspect");
}

gboolean
cp_window_handle_drop (CpWindow     *self,
                       const GValue *value)
{
  GSList *files;

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = gdk_file_list_get_files (g_value_get_boxed (value));
  add_files (self, files);
  g_slist_free (files);
  return TRUE;
}

static gboolean
on_drop (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         CpWindow      *self)
{
  return cp_window_handle_drop (self, value);
}

static void
on_files_chosen (GtkNativeDialog *dialog,
                 int              response,
                 CpWindow        *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      GListModel *model = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (dialog));
      GSList *files = NULL;

      for (guint i = g_list_model_get_n_items (model); i > 0; i--)
        files = g_slist_prepend (files, g_list_model_get_item (model, i - 1));
      add_files (self, files);
      g_slist_free_full (files, g_object_unref);
      g_object_unref (model);
    }
  g_object_unref (dialog);
}

void
cp_window_inspect_open_dialog (CpWindow *self)
{
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Open Images"), GTK_WINDOW (self),
                                 GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Images"));
  gtk_file_filter_add_mime_type (filter, "image/*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
  g_object_unref (filter);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (on_files_chosen), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

void
cp_window_inspect_clear (CpWindow *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->inspect_list))) != NULL)
    {
      if (GTK_IS_LIST_BOX_ROW (child) && g_object_get_data (G_OBJECT (child), "cp-item") == NULL)
        break;   /* only the placeholder is left */
      gtk_list_box_remove (self->inspect_list, child);
    }
  g_ptr_array_set_size (self->inspect_items, 0);
  heatmap_request (self, NULL);
  g_clear_object (&self->inspect_texture);
  gtk_picture_set_paintable (self->inspect_picture, NULL);
  gtk_label_set_text (self->inspect_caption, "");
}

/* ---- defect heatmap ---------------------------------------------------- */

/* The loaded patch model, kept between heatmaps: used on the engine thread
 * only; the last reference (the window's or a finished job's) frees it. */
typedef struct
{
  char         *path;
  gint64        mtime;   /* of the file when loaded: a retrained model is reloaded */
  goffset       size;
  char         *device;
  CpPatchModel *model;
} PatchCache;

typedef struct
{
  char       *model_path;   /* the category's image model */
  char       *device;
  char       *image_path;   /* NULL: only load the patch model */
  PatchCache *cache;        /* a reference */
} HeatmapJob;

static void
patch_cache_clear (gpointer data)
{
  PatchCache *cache = data;

  g_clear_pointer (&cache->model, cp_patch_model_free);
  g_clear_pointer (&cache->path, g_free);
  g_clear_pointer (&cache->device, g_free);
}

static void
patch_cache_unref (gpointer cache)
{
  g_atomic_rc_box_release_full (cache, patch_cache_clear);
}

/* The patch model at @path, loaded unless the cache holds it already. */
static CpPatchModel *
patch_cache_get (PatchCache  *cache,
                 const char  *path,
                 const char  *device,
                 GError     **error)
{
  GStatBuf st;
  gint64 mtime;

  if (g_stat (path, &st) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", path,
                   g_strerror (errno));
      return NULL;
    }
  mtime = (gint64) st.st_mtime;
  if (cache->model != NULL && g_strcmp0 (cache->path, path) == 0 && cache->mtime == mtime &&
      cache->size == (goffset) st.st_size && g_strcmp0 (cache->device, device) == 0)
    return cache->model;
  patch_cache_clear (cache);
  cache->model = cp_patch_model_load (path, device, error);
  if (cache->model == NULL)
    return NULL;
  cache->path = g_strdup (path);
  cache->device = g_strdup (device);
  cache->mtime = mtime;
  cache->size = (goffset) st.st_size;
  return cache->model;
}

/* The heatmap of one image as the large view composes it. */
struct _CpInspectHeatmap
{
  char    *image_path;
  int      width, height;
  uint8_t *rgb;        /* (height, width, 3) the image */
  uint8_t *overlay;    /* (height, width, 4) the map blended over it, from the engine */
  uint8_t *outline;    /* (height, width) 1 on the ground-truth contour, or NULL */
  double   score;
  char    *problem;    /* why there is no heatmap (rgb NULL), NULL when there is one or no patch model */
  gboolean has_model;  /* a patch model file exists */
};
typedef struct _CpInspectHeatmap CpInspectHeatmap;

static void
heatmap_job_free (gpointer data)
{
  HeatmapJob *job = data;

  g_free (job->model_path);
  g_free (job->device);
  g_free (job->image_path);
  if (job->cache != NULL)
    patch_cache_unref (job->cache);
  g_free (job);
}

static void
inspect_heatmap_free (gpointer data)
{
  CpInspectHeatmap *hm = data;

  if (hm == NULL)
    return;
  g_free (hm->image_path);
  g_free (hm->rgb);
  g_free (hm->overlay);
  g_free (hm->outline);
  g_free (hm->problem);
  g_free (hm);
}

/* MVTec layout: <root>/<cat>/test/<defect>/<name>.<ext> has its mask at
 * <root>/<cat>/ground_truth/<defect>/<name>_mask.png (or <name>.png). */
static char *
find_mask_path (const char *image_path)
{
  g_autofree char *defect_dir = g_path_get_dirname (image_path);
  g_autofree char *defect = g_path_get_basename (defect_dir);
  g_autofree char *test_dir = g_path_get_dirname (defect_dir);
  g_autofree char *test = g_path_get_basename (test_dir);
  g_autofree char *cat_dir = g_path_get_dirname (test_dir);
  g_autofree char *base = g_path_get_basename (image_path);
  char *dot = strrchr (base, '.');
  const char *suffixes[] = { "_mask.png", ".png" };

  if (strcmp (test, "test") != 0 || strcmp (defect, "good") == 0)
    return NULL;
  if (dot != NULL)
    *dot = '\0';
  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *name = g_strconcat (base, suffixes[i], NULL);
      char *path = g_build_filename (cat_dir, "ground_truth", defect, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return path;
      g_free (path);
    }
  return NULL;
}

/* 1 on mask pixels with a 4-neighbour outside the mask (or at the border). */
static uint8_t *
mask_outline (const uint8_t *mask,
              int            side,
              int            width,
              int            height)
{
  uint8_t *full = g_malloc ((gsize) width * height);
  uint8_t *edge = g_malloc0 ((gsize) width * height);
  gboolean any = FALSE;

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      full[(gsize) y * width + x] = mask[(gsize) (y * side / height) * side + x * side / width] != 0;
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      {
        gsize i = (gsize) y * width + x;

        if (!full[i])
          continue;
        if (x == 0 || y == 0 || x == width - 1 || y == height - 1 ||
            !full[i - 1] || !full[i + 1] || !full[i - width] || !full[i + width])
          {
            edge[i] = 1;
            any = TRUE;
          }
      }
  g_free (full);
  if (!any)
    g_clear_pointer (&edge, g_free);
  return edge;
}

static gpointer
heatmap_run (CpWorkerJob        *worker_job,
             const volatile int *cancel,
             gpointer            data,
             GError            **error)
{
  HeatmapJob *job = data;
  CpInspectHeatmap *hm = g_new0 (CpInspectHeatmap, 1);
  g_autofree char *patch_path = cp_patch_model_path_for (job->model_path);
  g_autofree char *mask_path = NULL;
  CpPatchModel *model;
  g_autoptr(CpImage) image = NULL;
  g_autoptr(GError) local = NULL;
  CpHeatmap heat = { 0 };

  hm->image_path = g_strdup (job->image_path);
  if (!g_file_test (patch_path, G_FILE_TEST_IS_REGULAR))
    return hm;
  hm->has_model = TRUE;
  model = patch_cache_get (job->cache, patch_path, job->device, &local);
  if (model == NULL)
    {
      hm->problem = g_strdup (local->message);
      return hm;
    }
  if (job->image_path == NULL)
    return hm;
  if (!cp_image_load (job->image_path, &image, &local) ||
      !cp_patch_model_heatmap (model, image, &heat, cancel, &local))
    {
      hm->problem = g_strdup (local != NULL ? local->message : "");
      cp_heatmap_clear (&heat);
      return hm;
    }
  hm->width = heat.width;
  hm->height = heat.height;
  hm->score = heat.score;
  hm->overlay = g_steal_pointer (&heat.overlay);
  cp_heatmap_clear (&heat);
  hm->rgb = g_malloc ((gsize) hm->width * hm->height * 3);
  for (int y = 0; y < hm->height; y++)
    memcpy (hm->rgb + (gsize) y * hm->width * 3, image->pixels + (gsize) y * image->stride,
            (gsize) hm->width * 3);

  mask_path = find_mask_path (job->image_path);
  if (mask_path != NULL)
    {
      int side = MAX (hm->width, hm->height);
      g_autofree uint8_t *mask = NULL;

      /* A mask that cannot be read only costs the outline. */
      if (cp_mask_load (mask_path, side, &mask, NULL))
        hm->outline = mask_outline (mask, side, hm->width, hm->height);
    }
  return hm;
}

/* The large view: the image, with the heatmap blended at the chosen
 * opacity when it is on, and the ground-truth outline in red. */
static void
update_view (CpWindow *self)
{
  CpInspectHeatmap *hm = self->heatmap;
  gboolean have = hm != NULL && hm->rgb != NULL;
  gboolean show = gtk_check_button_get_active (self->heatmap_toggle);
  double alpha = gtk_adjustment_get_value (self->heatmap_opacity) / 100.0;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  uint8_t *out;
  gsize n;

  gtk_widget_set_sensitive (GTK_WIDGET (self->heatmap_toggle), have);
  gtk_widget_set_sensitive (GTK_WIDGET (self->heatmap_opacity_scale), have && show);
  if (!have)
    {
      gtk_picture_set_paintable (self->inspect_picture, GDK_PAINTABLE (self->inspect_texture));
      return;
    }
  n = (gsize) hm->width * hm->height;
  out = g_malloc (n * 3);
  for (gsize i = 0; i < n; i++)
    {
      for (int c = 0; c < 3; c++)
        {
          double v = hm->rgb[3 * i + c];

          if (show)
            v = v * (1 - alpha) + hm->overlay[4 * i + c] * alpha;
          out[3 * i + c] = (uint8_t) CLAMP (v + 0.5, 0, 255);
        }
      if (hm->outline != NULL && hm->outline[i])
        {
          out[3 * i] = 255;
          out[3 * i + 1] = 32;
          out[3 * i + 2] = 32;
        }
    }
  bytes = g_bytes_new_take (out, n * 3);
  texture = gdk_memory_texture_new (hm->width, hm->height, GDK_MEMORY_R8G8B8, bytes,
                                    (gsize) hm->width * 3);
  gtk_picture_set_paintable (self->inspect_picture, GDK_PAINTABLE (texture));
}

static void
heatmap_done (gpointer      result,
              const GError *error,
              gboolean      dropped,
              gpointer      user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  CpInspectHeatmap *hm = result;
  g_autofree char *text = NULL;

  if (dropped)
    return;
  if (hm == NULL)
    {
      if (error != NULL)
        {
          text = g_strdup_printf (_("No heatmap: %s"), error->message);
          gtk_label_set_text (self->heatmap_status, text);
        }
      return;
    }
  if (g_strcmp0 (hm->image_path, self->heatmap_path) != 0)
    return;   /* another image was selected meanwhile */
  /* The worker frees the delivered result: keep its contents, leave it empty. */
  inspect_heatmap_free (self->heatmap);
  self->heatmap = g_memdup2 (hm, sizeof *hm);
  memset (hm, 0, sizeof *hm);
  hm = self->heatmap;
  if (hm->problem != NULL)
    text = g_strdup_printf (_("No heatmap: %s"), hm->problem);
  else if (hm->rgb != NULL)
    text = g_strdup_printf (hm->outline != NULL
                            ? _("Heatmap: maximum %.2f (red outline: the ground-truth defect)")
                            : _("Heatmap: maximum %.2f"), hm->score);
  gtk_label_set_text (self->heatmap_status, text != NULL ? text : "");
  update_view (self);
}

/* Drops the heatmap shown and, when the category's model has a patch model
 * beside it, computes the one of @item on the engine thread. */
static void
heatmap_request (CpWindow      *self,
                 CpInspectItem *item)
{
  g_autofree char *model_path = NULL;
  g_autofree char *patch_path = NULL;
  HeatmapJob *job;

  g_clear_pointer (&self->heatmap, inspect_heatmap_free);
  g_clear_pointer (&self->heatmap_path, g_free);
  gtk_label_set_text (self->heatmap_status, "");
  cp_worker_cancel_slot (self->worker, "heatmap");
  if (self->category == NULL)
    return;
  model_path = cp_window_model_path (self, self->category);
  if (model_path == NULL)
    return;
  patch_path = cp_patch_model_path_for (model_path);
  if (!g_file_test (patch_path, G_FILE_TEST_IS_REGULAR))
    {
      /* Say how to get one rather than leave "Show heatmap" doing nothing. */
      if (item != NULL && item->error == NULL && g_file_test (model_path, G_FILE_TEST_IS_REGULAR))
        gtk_label_set_text (self->heatmap_status,
                            _("No heatmap: this category has no heatmap model. Switch on "
                              "Defect heatmaps on the Training page and train it again."));
      return;
    }
  /* Without an image to map, the job loads the patch model ahead of time. */
  if (item != NULL && item->error == NULL)
    {
      self->heatmap_path = g_strdup (item->path);
      gtk_label_set_text (self->heatmap_status, _("Computing the heatmap…"));
    }
  job = g_new0 (HeatmapJob, 1);
  job->model_path = g_steal_pointer (&model_path);
  job->device = g_settings_get_string (self->settings, "device");
  job->image_path = g_strdup (self->heatmap_path);
  job->cache = g_atomic_rc_box_acquire (self->patch_cache);
  cp_worker_submit (self->worker, "heatmap", heatmap_run, job, heatmap_job_free, NULL,
                    heatmap_done, inspect_heatmap_free, G_OBJECT (self));
}

static void
on_heatmap_setting_changed (GObject    *object,
                            GParamSpec *pspec,
                            CpWindow   *self)
{
  update_view (self);
}

static void
on_heatmap_opacity_changed (GtkAdjustment *adjustment,
                            CpWindow      *self)
{
  update_view (self);
}

gboolean
cp_window_get_heatmap_available (CpWindow *self,
                                 gboolean *has_outline)
{
  gboolean have = self->heatmap != NULL && self->heatmap->rgb != NULL;

  if (has_outline != NULL)
    *has_outline = have && self->heatmap->outline != NULL;
  return have;
}

const char *
cp_window_get_heatmap_status (CpWindow *self)
{
  return gtk_label_get_text (self->heatmap_status);
}

void
cp_window_set_heatmap_shown (CpWindow *self,
                             gboolean  shown)
{
  gtk_check_button_set_active (self->heatmap_toggle, shown);
}

GtkWidget *
cp_window_get_inspect_view (CpWindow *self)
{
  return GTK_WIDGET (self->inspect_picture);
}

static void
on_row_selected (GtkListBox    *box,
                 GtkListBoxRow *row,
                 CpWindow      *self)
{
  CpInspectItem *item = row != NULL ? g_object_get_data (G_OBJECT (row), "cp-item") : NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  if (item == NULL)
    return;
  /* Bounded decode: a huge photo should not stall the window. */
  if (item->error == NULL)
    pixbuf = gdk_pixbuf_new_from_file_at_scale (item->path, 1024, 1024, TRUE, NULL);
  if (pixbuf != NULL)
    texture = gdk_texture_new_for_pixbuf (pixbuf);
  g_set_object (&self->inspect_texture, texture);
  heatmap_request (self, item);
  update_view (self);
  update_caption (self);
}

/* Counts over the evaluation's test images: the live consequence of the
 * threshold for parts we know the truth of. */
void
cp_window_inspect_update_threshold (CpWindow *self)
{
  double threshold = current_threshold (self);

  for (guint i = 0; i < self->inspect_items->len; i++)
    update_row (self, g_ptr_array_index (self->inspect_items, i));
  update_caption (self);

  if (self->eval == NULL || self->eval->images->len == 0)
    {
      gtk_label_set_text (self->threshold_stats,
                          self->eval == NULL && !isnan (self->model_threshold)
                          ? _("Evaluating the test images…") : "");
      return;
    }
  {
    int good = 0, defect = 0, rejected = 0, passed = 0;
    g_autofree char *text = NULL;

    for (guint i = 0; i < self->eval->images->len; i++)
      {
        CpEvalImage *img = &g_array_index (self->eval->images, CpEvalImage, i);

        if (img->label == 0)
          {
            good++;
            rejected += img->score > threshold;
          }
        else
          {
            defect++;
            passed += img->score <= threshold;
          }
      }
    text = g_strdup_printf (_("On the test images: %d of %d good rejected, %d of %d defective passed"),
                            rejected, good, passed, defect);
    gtk_label_set_text (self->threshold_stats, text);
  }
  cp_window_eval_set_threshold (self, threshold);
}

static void
on_threshold_changed (GtkAdjustment *adjustment,
                      CpWindow      *self)
{
  cp_window_inspect_update_threshold (self);
  cp_window_update_actions (self);
}

/* ---- storing the threshold in the model file ----------------------------- */

typedef struct
{
  char  *model_path;
  char  *category;
  double expected;    /* the threshold the window believes is stored */
  double threshold;   /* the one to store */
} ThresholdJob;

typedef struct
{
  char             *category;
  char             *model_name;   /* file name, for the message */
  double            threshold;    /* stored in the file when the job ended */
  CpThresholdSource source;
  double            false_reject_rate;
  double            cv_threshold;
  char             *problem;      /* why nothing was stored, or NULL */
} ThresholdResult;

static void
threshold_job_free (gpointer data)
{
  ThresholdJob *job = data;

  g_free (job->model_path);
  g_free (job->category);
  g_free (job);
}

static void
threshold_result_free (gpointer data)
{
  ThresholdResult *res = data;

  g_free (res->category);
  g_free (res->model_name);
  g_free (res->problem);
  g_free (res);
}

static gpointer
threshold_save_run (CpWorkerJob        *worker_job,
                    const volatile int *cancel,
                    gpointer            data,
                    GError            **error)
{
  ThresholdJob *job = data;
  ThresholdResult *res;
  /* Only metadata changes: the file is read and rewritten with its tensors
   * copied as they are, with no network built and no device touched. */
  g_autoptr(CpModelFile) file = cp_model_file_open (job->model_path, error);
  g_autoptr(GError) local = NULL;

  if (file == NULL)
    return NULL;
  res = g_new0 (ThresholdResult, 1);
  res->category = g_strdup (job->category);
  res->model_name = g_path_get_basename (job->model_path);
  /* The file may have changed since the window read it (retrained, or
   * set with `cutpaste threshold`): a threshold chosen against the old
   * value must not overwrite the new one unseen.  The store refuses, and
   * a failed store leaves the file as it was. */
  if (!cp_model_file_store_threshold (file, job->threshold, job->expected, &local))
    {
      if (!g_error_matches (local, CP_PIPELINE_ERROR, CP_PIPELINE_ERROR_CHANGED))
        {
          g_propagate_error (error, g_steal_pointer (&local));
          threshold_result_free (res);
          return NULL;
        }
      res->problem = g_strdup_printf (_("The threshold stored in %s changed to %.2f since it was read; "
                                        "yours was not saved. Save again to replace it."),
                                      res->model_name, cp_model_file_get_threshold (file));
    }
  /* What the file holds now: as read when the store refused, as written
   * when it succeeded (no second read of the file). */
  res->threshold = cp_model_file_get_threshold (file);
  res->source = cp_model_file_get_threshold_source (file);
  res->false_reject_rate = cp_model_file_get_false_reject_rate (file);
  res->cv_threshold = cp_model_file_get_cross_validation_threshold (file);
  return res;
}

static void take_pending_step (CpWindow *self);
static void drop_pending_step (CpWindow *self);

static void
threshold_save_done (gpointer      result,
                     const GError *error,
                     gboolean      dropped,
                     gpointer      user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  ThresholdResult *res = result;
  CpCategoryInfo *info;

  /* A step waiting on this save goes on only if the save stored the
   * slider's value; otherwise the window stays where it is. */
  if (dropped)
    {
      drop_pending_step (self);
      cp_window_update_actions (self);
      return;
    }
  if (res == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("The threshold was not saved: %s"),
                                              error != NULL ? error->message : "");

      cp_window_toast (self, msg);
      drop_pending_step (self);
      cp_window_update_actions (self);
      return;
    }
  /* What the file holds now is the new baseline, saved or not. */
  info = cp_window_find_category (self, res->category);
  if (info != NULL)
    {
      info->threshold = res->threshold;
      info->threshold_source = res->source;
      info->false_reject_rate = res->false_reject_rate;
      info->cv_threshold = res->cv_threshold;
    }
  if (g_strcmp0 (self->category, res->category) == 0)
    self->model_threshold = res->threshold;
  if (res->problem != NULL)
    {
      cp_window_toast (self, res->problem);
      drop_pending_step (self);
    }
  else
    {
      g_autofree char *msg = g_strdup_printf (_("Threshold %.2f saved in %s"), res->threshold,
                                              res->model_name);

      cp_window_toast (self, msg);
    }
  cp_window_update_actions (self);
  /* Last: the step may close the window. */
  take_pending_step (self);
}

/* TRUE when the slider is away from the threshold stored in the model. */
gboolean
cp_window_inspect_threshold_moved (CpWindow *self)
{
  return gtk_widget_get_sensitive (GTK_WIDGET (self->threshold_scale))
         && !isnan (self->model_threshold)
         && gtk_adjustment_get_value (self->threshold_adjustment) != self->model_threshold;
}

/* FALSE when there is nothing to save (or no model to save it in). */
gboolean
cp_window_inspect_save_threshold (CpWindow *self)
{
  CpCategoryInfo *info = cp_window_find_category (self, self->category);
  ThresholdJob *job;

  if (info == NULL || info->state != CP_CATEGORY_STATE_TRAINED || !cp_window_inspect_threshold_moved (self))
    return FALSE;
  job = g_new0 (ThresholdJob, 1);
  job->model_path = cp_window_model_path (self, self->category);
  job->category = g_strdup (self->category);
  job->expected = self->model_threshold;
  job->threshold = gtk_adjustment_get_value (self->threshold_adjustment);
  cp_worker_submit (self->worker, "threshold", threshold_save_run, job, threshold_job_free, NULL,
                    threshold_save_done, threshold_result_free, G_OBJECT (self));
  cp_window_update_actions (self);
  return TRUE;
}

void
cp_window_inspect_reset_threshold (CpWindow *self)
{
  if (!isnan (self->model_threshold))
    gtk_adjustment_set_value (self->threshold_adjustment, self->model_threshold);
}

/* ---- a moved threshold is not dropped unseen ------------------------------ */

static void
set_pending_step (CpWindow     *self,
                  CpWindowStep  step,
                  const char   *target)
{
  self->pending_step = step;
  g_free (self->pending_target);
  self->pending_target = g_strdup (target);
}

/* The step is not taken: a category drop-down or list that already shows
 * the next category goes back to the one still selected. */
static void
drop_pending_step (CpWindow *self)
{
  if (self->pending_step == CP_WINDOW_STEP_NONE || self->unsaved_dialog != NULL)
    return;
  set_pending_step (self, CP_WINDOW_STEP_NONE, NULL);
  cp_window_sync_category_widgets (self, self->category);
}

/* Asks again first if the slider moved once more meanwhile. */
static void
take_pending_step (CpWindow *self)
{
  CpWindowStep step = self->pending_step;
  g_autofree char *target = NULL;

  if (step == CP_WINDOW_STEP_NONE || self->unsaved_dialog != NULL)
    return;
  target = g_steal_pointer (&self->pending_target);
  self->pending_step = CP_WINDOW_STEP_NONE;
  if (cp_window_inspect_may_leave (self, step, target))
    cp_window_run_step (self, step, target);
}

static gboolean
take_pending_step_idle (gpointer data)
{
  take_pending_step (CP_WINDOW (data));
  return G_SOURCE_REMOVE;
}

static void
on_unsaved_response (AdwMessageDialog *dialog,
                     const char       *response,
                     CpWindow         *self)
{
  g_object_remove_weak_pointer (G_OBJECT (dialog), (gpointer *) &self->unsaved_dialog);
  self->unsaved_dialog = NULL;
  if (g_strcmp0 (response, "save") == 0)
    {
      /* threshold_save_done () takes the step once the file holds the
       * value, or stays and says why. */
      if (!cp_window_inspect_save_threshold (self))
        drop_pending_step (self);
    }
  else if (g_strcmp0 (response, "discard") == 0)
    {
      /* Back to the stored value, so that nothing later asks again about
       * a value the user gave up (the new dataset's scan selects a
       * category by itself). */
      cp_window_inspect_reset_threshold (self);
      /* From the main loop: the step may close the window, and the dialog
       * is still inside its own signal here. */
      g_idle_add_full (G_PRIORITY_DEFAULT, take_pending_step_idle, g_object_ref (self),
                       g_object_unref);
    }
  else
    drop_pending_step (self);
}

static void
ask_about_threshold (CpWindow *self)
{
  CpCategoryInfo *info = cp_window_find_category (self, self->category);
  gboolean can_save = info != NULL && info->state == CP_CATEGORY_STATE_TRAINED;
  AdwMessageDialog *dialog =
    ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self), _("Save the moved threshold?"), NULL));

  /* Translators: a category name, then two thresholds: the one in the
   * model file and the one the slider was moved to. */
  if (self->pending_step == CP_WINDOW_STEP_TRAIN)
    /* Translators: a category name, then two thresholds, as above. */
    adw_message_dialog_format_body (dialog,
                                    _("Training replaces the model of “%s”, and its threshold of %.2f "
                                      "with the one the new model sets; the slider was moved to %.2f. "
                                      "Saved, the moved value stays in the current model if training "
                                      "is cancelled or fails."),
                                    self->category, self->model_threshold,
                                    gtk_adjustment_get_value (self->threshold_adjustment));
  else
    adw_message_dialog_format_body (dialog,
                                    _("The threshold of “%s” is stored as %.2f in its model; "
                                      "the slider was moved to %.2f. Unless you save it, "
                                      "the moved value is lost."),
                                    self->category, self->model_threshold,
                                    gtk_adjustment_get_value (self->threshold_adjustment));
  adw_message_dialog_add_responses (dialog,
                                    "cancel", _("_Cancel"),
                                    "discard", _("_Discard"),
                                    "save", _("_Save"),
                                    NULL);
  adw_message_dialog_set_response_appearance (dialog, "discard", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_response_appearance (dialog, "save", ADW_RESPONSE_SUGGESTED);
  /* Not while the category trains: Save Threshold is off then too. */
  adw_message_dialog_set_response_enabled (dialog, "save", can_save);
  adw_message_dialog_set_default_response (dialog, can_save ? "save" : "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  gtk_window_set_modal (GTK_WINDOW (dialog), TRUE);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_unsaved_response), self, 0);
  self->unsaved_dialog = GTK_WIDGET (dialog);
  g_object_add_weak_pointer (G_OBJECT (dialog), (gpointer *) &self->unsaved_dialog);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Whether @step may be taken now.  Not when it would drop a moved
 * threshold that is not saved: then the user is asked, and the step is
 * taken after Discard, or after Save once the file holds the value.  A
 * save still running is waited for first, so that a closing window does
 * not cut it off and a step never runs ahead of its outcome.  The latest
 * step asked for is the one that waits. */
gboolean
cp_window_inspect_may_leave (CpWindow     *self,
                             CpWindowStep  step,
                             const char   *target)
{
  gboolean saving = cp_worker_slot_busy (self->worker, "threshold");

  if (self->unsaved_dialog == NULL && !saving && !cp_window_inspect_threshold_moved (self))
    return TRUE;
  set_pending_step (self, step, target);
  if (self->unsaved_dialog != NULL)
    gtk_window_present (GTK_WINDOW (self->unsaved_dialog));
  else if (!saving)
    ask_about_threshold (self);
  return FALSE;
}

/* The line under the slider: what is stored and where it comes from.  The
 * false-reject rate is only claimed for the threshold it was measured for. */
void
cp_window_inspect_update_controls (CpWindow *self)
{
  CpCategoryInfo *info = cp_window_find_category (self, self->category);
  gboolean moved = cp_window_inspect_threshold_moved (self);
  gboolean saving = cp_worker_slot_busy (self->worker, "threshold");
  gboolean trained = info != NULL && info->state == CP_CATEGORY_STATE_TRAINED;
  g_autofree char *text = NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.threshold-save", trained && moved && !saving);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.threshold-reset", moved && !saving);

  if (saving)
    text = g_strdup (_("Saving the threshold…"));
  else if (info == NULL || isnan (self->model_threshold))
    text = g_strdup ("");
  else
    switch (info->threshold_source)
      {
      case CP_THRESHOLD_SOURCE_CROSS_VALIDATION:
        text = isnan (info->false_reject_rate)
          ? g_strdup_printf (_("Stored: %.2f, set at training by cross-validation"), self->model_threshold)
          /* Translators: "%g %%" is a percentage, "1 %". */
          : g_strdup_printf (_("Stored: %.2f, set at training by cross-validation for a %g %% false-reject rate"),
                             self->model_threshold, info->false_reject_rate * 100);
        break;
      case CP_THRESHOLD_SOURCE_MANUAL:
        text = isnan (info->false_reject_rate) || isnan (info->cv_threshold)
          ? g_strdup_printf (_("Stored: %.2f, set by hand"), self->model_threshold)
          : g_strdup_printf (_("Stored: %.2f, set by hand (training chose %.2f for a %g %% false-reject rate)"),
                             self->model_threshold, info->cv_threshold, info->false_reject_rate * 100);
        break;
      case CP_THRESHOLD_SOURCE_NONE:
      case CP_THRESHOLD_SOURCE_UNKNOWN:
      default:
        text = g_strdup_printf (_("Stored: %.2f, origin unknown"), self->model_threshold);
        break;
      }
  gtk_label_set_text (self->threshold_origin, text);
}

GtkWidget *
cp_window_get_threshold_control (CpWindow   *self,
                                 const char *name)
{
  if (g_strcmp0 (name, "scale") == 0)
    return GTK_WIDGET (self->threshold_scale);
  if (g_strcmp0 (name, "save") == 0)
    return self->threshold_save_button;
  if (g_strcmp0 (name, "reset") == 0)
    return self->threshold_reset_button;
  if (g_strcmp0 (name, "origin") == 0)
    return GTK_WIDGET (self->threshold_origin);
  return NULL;
}

/* The selected category changed: the threshold is the new model's, and
 * the rows are re-scored against it. */
void
cp_window_inspect_category_changed (CpWindow *self)
{
  CpCategoryInfo *info = cp_window_find_category (self, self->category);

  self->model_threshold = info != NULL ? info->threshold : NAN;
  gtk_widget_set_sensitive (GTK_WIDGET (self->threshold_scale), !isnan (self->model_threshold));
  if (!isnan (self->model_threshold))
    {
      gtk_adjustment_set_upper (self->threshold_adjustment, MAX (self->model_threshold * 3, 1));
      gtk_adjustment_set_value (self->threshold_adjustment, self->model_threshold);
    }
  for (guint i = 0; i < self->inspect_items->len; i++)
    {
      CpInspectItem *item = g_ptr_array_index (self->inspect_items, i);

      if (item->error == NULL)
        item->score = NAN;
    }
  if (info != NULL && info->state == CP_CATEGORY_STATE_TRAINED)
    score_pending (self);
  cp_window_inspect_update_threshold (self);
  /* The heatmap is the new model's (or none without a patch model). */
  {
    GtkListBoxRow *row = gtk_list_box_get_selected_row (self->inspect_list);
    CpInspectItem *item = row != NULL ? g_object_get_data (G_OBJECT (row), "cp-item") : NULL;

    heatmap_request (self, item);
    update_view (self);
  }
}

void
cp_window_inspect_init (CpWindow *self)
{
  GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);

  self->inspect_items = g_ptr_array_new_with_free_func (item_free);
  self->patch_cache = g_atomic_rc_box_new0 (PatchCache);
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self->stack), GTK_EVENT_CONTROLLER (target));
  g_signal_connect (self->threshold_adjustment, "value-changed",
                    G_CALLBACK (on_threshold_changed), self);
  g_signal_connect (self->inspect_list, "row-selected", G_CALLBACK (on_row_selected), self);
  g_signal_connect (self->heatmap_toggle, "notify::active",
                    G_CALLBACK (on_heatmap_setting_changed), self);
  g_signal_connect (self->heatmap_opacity, "value-changed",
                    G_CALLBACK (on_heatmap_opacity_changed), self);
}

void
cp_window_inspect_free (CpWindow *self)
{
  g_clear_pointer (&self->inspect_items, g_ptr_array_unref);
  g_clear_pointer (&self->heatmap, inspect_heatmap_free);
  g_clear_pointer (&self->heatmap_path, g_free);
  g_clear_object (&self->inspect_texture);
  g_clear_pointer (&self->patch_cache, patch_cache_unref);
  g_clear_pointer (&self->pending_target, g_free);
  self->pending_step = CP_WINDOW_STEP_NONE;
  if (self->unsaved_dialog != NULL)
    {
      GtkWidget *dialog = self->unsaved_dialog;

      g_object_remove_weak_pointer (G_OBJECT (dialog), (gpointer *) &self->unsaved_dialog);
      self->unsaved_dialog = NULL;
      gtk_window_destroy (GTK_WINDOW (dialog));
    }
}

guint
cp_window_get_inspect_count (CpWindow *self)
{
  return self->inspect_items->len;
}

gboolean
cp_window_get_inspect_row (CpWindow    *self,
                           guint        index,
                           const char **path,
                           double      *score,
                           const char **error)
{
  CpInspectItem *item;

  if (index >= self->inspect_items->len)
    return FALSE;
  item = g_ptr_array_index (self->inspect_items, index);
  if (path != NULL)
    *path = item->path;
  if (score != NULL)
    *score = item->score;
  if (error != NULL)
    *error = item->error;
  return TRUE;
}

void
cp_window_select_inspect_row (CpWindow *self,
                              guint     index)
{
  CpInspectItem *item;

  if (index >= self->inspect_items->len)
    return;
  item = g_ptr_array_index (self->inspect_items, index);
  gtk_list_box_select_row (self->inspect_list, GTK_LIST_BOX_ROW (item->row));
}
