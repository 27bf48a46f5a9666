/* cp-inspect-page.c: the Inspection page: images dropped or opened are
 * scored against the selected category's model, with the threshold on a
 * slider that may be moved and saved into the model file; the selected
 * image is shown large, with its defect heatmap when the category has a
 * patch model.
 *
 * Actions: win.inspect-open (a file chooser), win.inspect-files (as: the
 * URIs of files or folders, what a drop gives), win.inspect-clear,
 * win.threshold-save, win.threshold-reset, win.inspect-mark-good (the
 * selected image, when it fails: into the good set, and refit).
 * Properties: "items" (GListModel of CpInspectItem), "selected" (the row
 * shown large), "show-heatmap", "heatmap-available", "heatmap-outline",
 * "heatmap-status".
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include <glib/gi18n.h>

#include <adwaita.h>

#include "core/localize/localize.h"
#include "data/dataset.h"
#include "data/image.h"
#include "pipeline/localize.h"
#include "pipeline/model.h"
#include "cp-inspect-item.h"
#include "cp-inspect-page.h"
#include "cp-mark-good.h"

#define THUMBNAIL_SIZE 64

typedef struct _PatchCache PatchCache;
typedef struct _CpInspectHeatmap CpInspectHeatmap;

struct _CpInspectPage
{
  CpPage            parent_instance;

  GSignalGroup     *session_signals;
  GSignalGroup     *item_signals;
  CpCategoryItem   *category;        /* the session's selected one */
  char             *rows_category;   /* dataset/category the rows were added for */
  GtkWidget        *open_button;
  GListStore       *items;           /* CpInspectItem */
  GdkTexture       *texture;         /* the selected image as decoded, or NULL */
  char             *heatmap_path;    /* image the heatmap below belongs to */
  CpInspectHeatmap *heatmap;         /* of the selected image, or NULL */
  PatchCache       *patch_cache;     /* the loaded patch model (engine thread only) */
  gboolean          syncing;         /* the slider follows the category */
  gboolean          want_heatmap;    /* the user's choice, kept while there is no heatmap model */
  gboolean          has_patch_model; /* the category's model has a heatmap model beside it */
  gboolean          syncing_toggle;  /* the check button follows the above */

  /* template widgets */
  GtkScale         *threshold_scale;
  GtkAdjustment    *threshold_adjustment;
  GtkWidget        *threshold_reset_button;
  GtkWidget        *threshold_save_button;
  GtkLabel         *threshold_origin;
  GtkLabel         *threshold_stats;
  GtkWidget        *threshold_warning;
  GtkLabel         *threshold_warning_label;
  GtkWidget        *threshold_miss_button;
  GtkWidget        *threshold_miss_box;
  GtkSpinButton    *threshold_miss_rate;
  GtkListBox       *inspect_list;
  GtkPicture       *inspect_picture;
  GtkLabel         *inspect_caption;
  GtkCheckButton   *heatmap_toggle;
  GtkScale         *heatmap_opacity_scale;
  GtkAdjustment    *heatmap_opacity;
  GtkLabel         *heatmap_status;
  GtkWidget        *heatmap_legend;
  GtkDrawingArea   *heatmap_legend_bar;
  GtkLabel         *heatmap_legend_low;
  GtkLabel         *heatmap_legend_mid;
  GtkLabel         *heatmap_legend_high;
};

enum
{
  PROP_0,
  PROP_ITEMS,
  PROP_SELECTED,
  PROP_SHOW_HEATMAP,
  PROP_HEATMAP_AVAILABLE,
  PROP_HEATMAP_OUTLINE,
  PROP_HEATMAP_STATUS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (CpInspectPage, cp_inspect_page, CP_TYPE_PAGE)

/* ---- scoring (engine thread) -------------------------------------------- */

typedef struct
{
  char      *model_path;
  char      *model_label;  /* what the rows say scored them */
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
  char      *model_label;  /* the job's */
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
  g_free (job->model_label);
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
  g_free (res->model_label);
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
  res->model_label = g_strdup (job->model_label);
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

/* ---- defect heatmap (engine thread) ------------------------------------- */

/* The loaded patch model, kept between heatmaps: used on the engine thread
 * only; the last reference (the window's or a finished job's) frees it. */
struct _PatchCache
{
  char         *path;
  gint64        mtime;   /* of the file when loaded: a retrained model is reloaded */
  goffset       size;
  char         *device;
  CpPatchModel *model;
  /* The category's image model, for the region map of a model with a
   * local part (the quick profile's), checked the same way. */
  char         *image_path;
  gint64        image_mtime;
  goffset       image_size;
  char         *image_device;
  CpModel      *image_model;
};

typedef struct
{
  char       *model_path;   /* the category's image model */
  char       *device;
  char       *image_path;   /* NULL: only load the patch model */
  gboolean    regions;      /* no patch model: the image model's region map */
  PatchCache *cache;        /* a reference */
} HeatmapJob;

static void
patch_cache_clear (gpointer data)
{
  PatchCache *cache = data;

  g_clear_pointer (&cache->model, cp_patch_model_free);
  g_clear_pointer (&cache->path, g_free);
  g_clear_pointer (&cache->device, g_free);
  g_clear_pointer (&cache->image_model, cp_model_free);
  g_clear_pointer (&cache->image_path, g_free);
  g_clear_pointer (&cache->image_device, g_free);
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

/* The image model at @path (for its region map), loaded unless the cache
 * holds it already. */
static CpModel *
image_model_cache_get (PatchCache  *cache,
                       const char  *path,
                       const char  *device,
                       GError     **error)
{
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", path,
                   g_strerror (errno));
      return NULL;
    }
  if (cache->image_model != NULL && g_strcmp0 (cache->image_path, path) == 0 &&
      cache->image_mtime == (gint64) st.st_mtime && cache->image_size == (goffset) st.st_size &&
      g_strcmp0 (cache->image_device, device) == 0)
    return cache->image_model;
  g_clear_pointer (&cache->image_model, cp_model_free);
  g_clear_pointer (&cache->image_path, g_free);
  g_clear_pointer (&cache->image_device, g_free);
  cache->image_model = cp_model_load (path, device, error);
  if (cache->image_model == NULL)
    return NULL;
  cache->image_path = g_strdup (path);
  cache->image_device = g_strdup (device);
  cache->image_mtime = (gint64) st.st_mtime;
  cache->image_size = (goffset) st.st_size;
  return cache->image_model;
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
  double   low, high;  /* the colour range: good patches' median, then twice as far as their 99.9th
                        * percentile; a region map: the held-out good images' median region, then
                        * the most unusual region any of them showed */
  gboolean regions;    /* the image model's region map, not a patch model's */
  char    *problem;    /* why there is no heatmap (rgb NULL), NULL when there is one or no patch model */
  gboolean has_model;  /* a patch model file exists */
};

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
    {
      CpModel *image_model;

      /* No patch model: the quick profile's region map, when it has one. */
      if (!job->regions)
        return hm;
      hm->has_model = TRUE;
      hm->regions = TRUE;
      image_model = image_model_cache_get (job->cache, job->model_path, job->device, &local);
      if (image_model == NULL)
        {
          hm->problem = g_strdup (local->message);
          return hm;
        }
      if (job->image_path == NULL)
        return hm;
      if (!cp_image_load (job->image_path, &image, &local) ||
          !cp_model_region_heatmap (image_model, image, &heat, &local))
        {
          hm->problem = g_strdup (local != NULL ? local->message : "");
          cp_heatmap_clear (&heat);
          return hm;
        }
    }
  else
    {
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
    }
  hm->width = heat.width;
  hm->height = heat.height;
  hm->score = heat.score;
  hm->low = heat.low;
  hm->high = heat.high;
  hm->overlay = g_steal_pointer (&heat.overlay);
  cp_heatmap_clear (&heat);
  hm->rgb = g_malloc ((gsize) hm->width * hm->height * 3);
  for (int y = 0; y < hm->height; y++)
    memcpy (hm->rgb + (gsize) y * hm->width * 3, image->pixels + (gsize) y * image->stride,
            (gsize) hm->width * 3);

  mask_path = cp_dataset_find_mask (job->image_path);
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

/* ---- the rows ------------------------------------------------------------- */

static CpSession *
session_of (CpInspectPage *self)
{
  return cp_page_get_session (CP_PAGE (self));
}

static guint
n_items (CpInspectPage *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->items));
}

/* Borrowed: the store holds it. */
static CpInspectItem *
item_at (CpInspectPage *self,
         guint          index)
{
  g_autoptr(CpInspectItem) item = g_list_model_get_item (G_LIST_MODEL (self->items), index);

  return item;
}

static CpInspectItem *
find_item (CpInspectPage *self,
           const char    *path)
{
  for (guint i = 0; i < n_items (self); i++)
    if (g_strcmp0 (cp_inspect_item_get_path (item_at (self, i)), path) == 0)
      return item_at (self, i);
  return NULL;
}

static CpInspectItem *
selected_item (CpInspectPage *self)
{
  GtkListBoxRow *row = gtk_list_box_get_selected_row (self->inspect_list);

  return row != NULL ? g_object_get_data (G_OBJECT (row), "cp-item") : NULL;
}

/* The threshold in use: the category's, moved or not; NaN without a model. */
static double
current_threshold (CpInspectPage *self)
{
  return self->category != NULL ? cp_category_item_get_threshold (self->category) : NAN;
}

/* "Mark as good" is for a scored image that fails (a wrong reject). */
static void
update_mark_good (CpInspectPage *self)
{
  CpInspectItem *item;
  double threshold, score;

  if (self->inspect_list == NULL)
    return;   /* disposed: the list box lets its selection go */
  item = selected_item (self);
  threshold = current_threshold (self);
  score = item != NULL ? cp_inspect_item_get_score (item) : NAN;

  cp_page_set_action_enabled (CP_PAGE (self), "inspect-mark-good",
                              item != NULL && cp_inspect_item_get_error (item) == NULL &&
                              !isnan (score) && !isnan (threshold) && score > threshold);
}

/* The line under the large view: the selected image's path, and its
 * score against the threshold in use, or why it has none.  Refreshed
 * whenever either changes. */
static void
update_caption (CpInspectPage *self)
{
  CpInspectItem *item = selected_item (self);
  g_autofree char *caption = NULL;
  const char *path, *error;
  double score;

  update_mark_good (self);
  if (item == NULL)
    return;
  path = cp_inspect_item_get_path (item);
  error = cp_inspect_item_get_error (item);
  score = cp_inspect_item_get_score (item);
  if (error != NULL)
    caption = g_strdup_printf ("%s\n%s", path, error);
  else if (!isnan (score))
    caption = g_strdup_printf (_("%s\nScore %.3f (threshold %.3f)"), path, score,
                               current_threshold (self));
  else
    caption = g_strdup (path);
  gtk_label_set_text (self->inspect_caption, caption);
}

static void
update_row (CpInspectPage *self,
            GtkWidget     *row)
{
  CpInspectItem *item = g_object_get_data (G_OBJECT (row), "cp-item");
  GtkWidget *image = g_object_get_data (G_OBJECT (row), "cp-image");
  GtkWidget *verdict = g_object_get_data (G_OBJECT (row), "cp-verdict");
  const char *error = cp_inspect_item_get_error (item);
  double score = cp_inspect_item_get_score (item);
  double threshold = current_threshold (self);
  g_autofree char *subtitle = NULL;

  if (cp_inspect_item_get_thumbnail (item) != NULL)
    gtk_image_set_from_paintable (GTK_IMAGE (image), GDK_PAINTABLE (cp_inspect_item_get_thumbnail (item)));
  else
    gtk_image_set_from_icon_name (GTK_IMAGE (image),
                                  error != NULL ? "image-missing-symbolic" : "image-x-generic-symbolic");

  gtk_widget_remove_css_class (verdict, "success");
  gtk_widget_remove_css_class (verdict, "error");
  if (error != NULL)
    {
      subtitle = g_strdup (error);
      gtk_label_set_text (GTK_LABEL (verdict), _("ERROR"));
      gtk_widget_add_css_class (verdict, "error");
    }
  else if (isnan (score))
    {
      subtitle = g_strdup (_("Scoring…"));
      gtk_label_set_text (GTK_LABEL (verdict), "");
    }
  else
    {
      gboolean fail = !isnan (threshold) && score > threshold;

      const char *model = cp_inspect_item_get_model (item);

      /* Translators: an image's score, then which model gave it. */
      subtitle = model != NULL ? g_strdup_printf (_("Score %.3f · %s"), score, model)
                               : g_strdup_printf (_("Score %.3f"), score);
      /* Translators: the verdict of an inspected part. */
      gtk_label_set_text (GTK_LABEL (verdict), fail ? _("FAIL") : _("PASS"));
      gtk_widget_add_css_class (verdict, fail ? "error" : "success");
    }
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
}

static void
update_rows (CpInspectPage *self)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->inspect_list));
       child != NULL; child = gtk_widget_get_next_sibling (child))
    if (g_object_get_data (G_OBJECT (child), "cp-item") != NULL)
      update_row (self, child);
}

static void
on_item_notify (CpInspectItem *item,
                GParamSpec    *pspec,
                GtkWidget     *row)
{
  GtkWidget *page = gtk_widget_get_ancestor (row, CP_TYPE_INSPECT_PAGE);

  if (page == NULL)
    return;
  update_row (CP_INSPECT_PAGE (page), row);
  if (selected_item (CP_INSPECT_PAGE (page)) == item)
    update_caption (CP_INSPECT_PAGE (page));
}

static GtkWidget *
create_row (gpointer object,
            gpointer user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  CpInspectItem *item = CP_INSPECT_ITEM (object);
  const char *path = cp_inspect_item_get_path (item);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *folder_path = g_path_get_dirname (path);
  g_autofree char *folder = g_path_get_basename (folder_path);
  /* MVTec names repeat (000.png in every folder): show the folder too. */
  g_autofree char *title = g_build_filename (folder, base, NULL);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *image = gtk_image_new ();
  GtkWidget *verdict = gtk_label_new (NULL);

  /* File names and error messages are plain text. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_image_set_pixel_size (GTK_IMAGE (image), 48);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), image);
  gtk_widget_set_valign (verdict, GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), verdict);
  g_object_set_data (G_OBJECT (row), "cp-image", image);
  g_object_set_data (G_OBJECT (row), "cp-verdict", verdict);
  g_object_set_data_full (G_OBJECT (row), "cp-item", g_object_ref (item), g_object_unref);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  update_row (self, row);
  g_signal_connect_object (item, "notify", G_CALLBACK (on_item_notify), row, 0);
  return row;
}

/* ---- scoring ----------------------------------------------------------------- */

static void
score_done (gpointer      result,
            const GError *error,
            gboolean      dropped,
            gpointer      user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  ScoreResult *res = result;

  if (dropped || res == NULL || session_of (self) == NULL)
    return;   /* a newer job re-scores whatever this one held */
  if (res->model_error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("The model cannot be used: %s"), res->model_error);

      cp_session_toast (session_of (self), msg);
    }
  for (guint i = 0; i < res->paths->len; i++)
    {
      CpInspectItem *item = find_item (self, g_ptr_array_index (res->paths, i));
      GdkPixbuf *thumb = g_ptr_array_index (res->thumbnails, i);
      const char *message = res->messages[i];

      if (item == NULL)
        continue;
      if (thumb != NULL && cp_inspect_item_get_thumbnail (item) == NULL)
        {
          g_autoptr(GdkTexture) texture = gdk_texture_new_for_pixbuf (thumb);

          cp_inspect_item_set_thumbnail (item, texture);
        }
      if (message == NULL && isnan (res->scores[i]))
        message = res->model_error != NULL ? res->model_error : _("Not scored");
      /* The model first: the row redraws when the score arrives. */
      cp_inspect_item_set_model (item, message == NULL ? res->model_label : NULL);
      cp_inspect_item_set_result (item, res->scores[i], message);
    }
}

/* "washer model of 2026-12-07 00:38": the category and when its model
 * file was written (ISO 8601, local time), so that a row says which model
 * scored it, and a retrained model's rows read differently. */
static char *
model_label (CpCategoryItem *category,
             const char     *model_path)
{
  g_autoptr(GFile) file = g_file_new_for_path (model_path);
  g_autoptr(GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_TIME_MODIFIED,
                                                 G_FILE_QUERY_INFO_NONE, NULL, NULL);
  g_autoptr(GDateTime) when = info != NULL ? g_file_info_get_modification_date_time (info) : NULL;
  g_autoptr(GDateTime) local = when != NULL ? g_date_time_to_local (when) : NULL;
  g_autofree char *stamp = local != NULL ? g_date_time_format (local, "%Y-%m-%d %H:%M") : NULL;

  /* Translators: which model scored an image: category, then the date
   * and time its model was written. */
  return stamp != NULL ? g_strdup_printf (_("%s model of %s"), cp_category_item_get_name (category), stamp)
                       : g_strdup_printf (_("%s model"), cp_category_item_get_name (category));
}

/* Queues every unscored item: one job holds them all, so a newer job
 * (which supersedes this one) still covers what this one had. */
static void
score_pending (CpInspectPage *self)
{
  CpSession *session = session_of (self);
  g_autofree char *model_path = NULL;
  ScoreJob *job;

  if (session == NULL || !cp_category_item_is_trained (self->category))
    return;
  model_path = cp_session_model_path (session, cp_category_item_get_name (self->category));
  if (model_path == NULL)
    return;
  job = g_new0 (ScoreJob, 1);
  job->paths = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < n_items (self); i++)
    {
      CpInspectItem *item = item_at (self, i);

      if (cp_inspect_item_get_error (item) == NULL && isnan (cp_inspect_item_get_score (item)))
        g_ptr_array_add (job->paths, g_strdup (cp_inspect_item_get_path (item)));
    }
  if (job->paths->len == 0)
    {
      score_job_free (job);
      return;
    }
  job->model_label = model_label (self->category, model_path);
  job->model_path = g_steal_pointer (&model_path);
  job->device = g_settings_get_string (cp_session_get_settings (session), "device");
  cp_worker_submit (cp_session_get_worker (session), "score", score_run, job, score_job_free, NULL,
                    score_done, score_result_free, G_OBJECT (self));
}

static void
add_item (CpInspectPage *self,
          const char    *path,
          const char    *error)
{
  g_autoptr(CpInspectItem) item = cp_inspect_item_new (path, error);

  g_list_store_append (self->items, item);
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
add_folder (CpInspectPage *self,
            GFile         *dir)
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
add_files (CpInspectPage *self,
           GSList        *files)
{
  CpSession *session = session_of (self);
  guint first_new = n_items (self);
  GtkListBoxRow *row;

  if (session == NULL)
    return;
  if (!cp_category_item_is_trained (self->category))
    {
      cp_session_toast (session, _("Train the selected category before inspecting images"));
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
  /* The first new image is shown large at once, rather than an empty view
   * until a row is clicked. */
  row = gtk_list_box_get_row_at_index (self->inspect_list, (int) first_new);
  if (row != NULL)
    gtk_list_box_select_row (self->inspect_list, row);
  cp_page_present (CP_PAGE (self));
}

/* ---- the large view and its heatmap -------------------------------------------- */

/* "Show heatmap" is ticked only where there can be a heatmap: a category
 * without a heatmap model shows it off and says why, and gets the user's
 * choice back with a model that has one. */
static void
update_heatmap_toggle (CpInspectPage *self)
{
  gboolean usable = self->has_patch_model &&
                    (self->heatmap == NULL || self->heatmap->problem == NULL);

  self->syncing_toggle = TRUE;
  gtk_check_button_set_active (self->heatmap_toggle, usable && self->want_heatmap);
  self->syncing_toggle = FALSE;
  gtk_widget_set_sensitive (GTK_WIDGET (self->heatmap_toggle), usable);
  if (self->has_patch_model && !usable)
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->heatmap_toggle),
                                 _("The heatmap model cannot be used: see the line below"));
  else if (!usable)
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->heatmap_toggle),
                                 _("This category has no heatmap model: switch on Defect heatmaps on "
                                   "the Training page and train it again"));
  else
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->heatmap_toggle),
                                 _("Colour each part of the image by how unlike the good patches it is"));
}

/* The colour scale under the view: viridis, as the engine colours the
 * map (cp_heatmap_blend), from the good patches' median to twice as far
 * as their 99.9th percentile (which falls in the middle), with a mark at
 * this image's most unusual patch. */
static void
draw_legend (GtkDrawingArea *area,
             cairo_t        *cr,
             int             width,
             int             height,
             gpointer        user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  CpInspectHeatmap *hm = self->heatmap;
  cairo_pattern_t *gradient = cairo_pattern_create_linear (0, 0, width, 0);
  const int samples = 8;   /* viridis is linear between its 8 samples */

  for (int i = 0; i < samples; i++)
    {
      double t = (double) i / (samples - 1);
      uint8_t rgb[3];

      cp_colormap_viridis (t, rgb);
      cairo_pattern_add_color_stop_rgb (gradient, t, rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0);
    }
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_set_source (cr, gradient);
  cairo_fill (cr);
  cairo_pattern_destroy (gradient);

  if (hm != NULL && hm->rgb != NULL && hm->high > hm->low)
    {
      double t = CLAMP ((hm->score - hm->low) / (hm->high - hm->low), 0, 1);
      double half = height / 2.0;
      /* Whole at either end too: a score beyond the scale sits at its end. */
      double x = CLAMP (t * width, half * 0.8 + 1, width - half * 0.8 - 1);

      /* A notch from the top edge, leaving the colours below it readable. */
      cairo_move_to (cr, x - half * 0.8, 0);
      cairo_line_to (cr, x + half * 0.8, 0);
      cairo_line_to (cr, x, half);
      cairo_close_path (cr);
      cairo_set_source_rgb (cr, 1, 1, 1);
      cairo_fill_preserve (cr);
      cairo_set_line_width (cr, 1);
      cairo_set_source_rgb (cr, 0, 0, 0);
      cairo_stroke (cr);
    }
}

static void
update_legend (CpInspectPage *self,
               gboolean       shown)
{
  CpInspectHeatmap *hm = self->heatmap;
  g_autofree char *low = NULL, *mid = NULL, *high = NULL;

  gtk_widget_set_visible (self->heatmap_legend, shown);
  if (!shown)
    return;
  /* Translators: the ends and middle of the heatmap's colour scale, with
   * the patch distances they stand for. */
  if (hm->regions)
    {
      /* Translators: the ends of a region map's colour scale: the
       * held-out good images' median region and their most unusual one. */
      low = g_strdup_printf (_("Typical held-out good region (%.1f)"), hm->low);
      mid = g_strdup ("");
      high = g_strdup_printf (_("Most unusual held-out good region (%.1f)"), hm->high);
    }
  else
    {
      low = g_strdup_printf (_("Typical good patch (%.1f)"), hm->low);
      mid = g_strdup_printf (_("Rarest good (%.1f)"), (hm->low + hm->high) / 2);
      high = g_strdup_printf (_("Twice as far (%.1f)"), hm->high);
    }
  gtk_label_set_text (self->heatmap_legend_low, low);
  gtk_label_set_text (self->heatmap_legend_mid, mid);
  gtk_label_set_text (self->heatmap_legend_high, high);
  gtk_widget_queue_draw (GTK_WIDGET (self->heatmap_legend_bar));
}

/* The large view: the image, with the heatmap blended at the chosen
 * opacity when it is on, and the ground-truth outline in red. */
static void
update_view (CpInspectPage *self)
{
  CpInspectHeatmap *hm = self->heatmap;
  gboolean have = hm != NULL && hm->rgb != NULL;
  gboolean show;
  double alpha = gtk_adjustment_get_value (self->heatmap_opacity) / 100.0;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  uint8_t *out;
  gsize n;

  update_heatmap_toggle (self);
  show = gtk_check_button_get_active (self->heatmap_toggle);
  gtk_widget_set_sensitive (GTK_WIDGET (self->heatmap_opacity_scale), have && show);
  update_legend (self, have && show);
  if (!have)
    {
      gtk_picture_set_paintable (self->inspect_picture, GDK_PAINTABLE (self->texture));
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
set_heatmap_status (CpInspectPage *self,
                    const char    *text)
{
  gtk_label_set_text (self->heatmap_status, text != NULL ? text : "");
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HEATMAP_STATUS]);
}

static void
notify_heatmap (CpInspectPage *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HEATMAP_AVAILABLE]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HEATMAP_OUTLINE]);
}

static void
heatmap_done (gpointer      result,
              const GError *error,
              gboolean      dropped,
              gpointer      user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  CpInspectHeatmap *hm = result;
  g_autofree char *text = NULL;

  if (dropped)
    return;
  if (hm == NULL)
    {
      if (error != NULL)
        {
          text = g_strdup_printf (_("No heatmap: %s"), error->message);
          set_heatmap_status (self, text);
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
  set_heatmap_status (self, text);
  update_view (self);
  notify_heatmap (self);
}

/* Drops the heatmap shown and, when the category's model has a patch model
 * beside it, computes the one of @item on the engine thread. */
static void
heatmap_request (CpInspectPage *self,
                 CpInspectItem *item)
{
  CpSession *session = session_of (self);
  g_autofree char *model_path = NULL;
  g_autofree char *patch_path = NULL;
  HeatmapJob *job;

  g_clear_pointer (&self->heatmap, inspect_heatmap_free);
  g_clear_pointer (&self->heatmap_path, g_free);
  self->has_patch_model = FALSE;
  set_heatmap_status (self, NULL);
  notify_heatmap (self);
  if (session == NULL)
    return;
  cp_worker_cancel_slot (cp_session_get_worker (session), "heatmap");
  if (self->category == NULL)
    return;
  model_path = cp_session_model_path (session, cp_category_item_get_name (self->category));
  if (model_path == NULL)
    return;
  patch_path = cp_patch_model_path_for (model_path);
  /* A patch model beside the image model, or the image model's own
   * region map (the quick profile's local part). */
  self->has_patch_model = g_file_test (patch_path, G_FILE_TEST_IS_REGULAR) ||
                          cp_category_item_get_model_info (self->category)->has_regions;
  if (!self->has_patch_model)
    {
      /* Say how to get one rather than leave "Show heatmap" doing nothing. */
      if (item != NULL && cp_inspect_item_get_error (item) == NULL &&
          g_file_test (model_path, G_FILE_TEST_IS_REGULAR))
        set_heatmap_status (self, _("No heatmap: this category has no heatmap model. Switch on "
                                    "Defect heatmaps on the Training page and train it again."));
      return;
    }
  /* Without an image to map, the job loads the patch model ahead of time. */
  if (item != NULL && cp_inspect_item_get_error (item) == NULL)
    {
      self->heatmap_path = g_strdup (cp_inspect_item_get_path (item));
      set_heatmap_status (self, _("Computing the heatmap…"));
    }
  job = g_new0 (HeatmapJob, 1);
  job->model_path = g_steal_pointer (&model_path);
  job->device = g_settings_get_string (cp_session_get_settings (session), "device");
  job->image_path = g_strdup (self->heatmap_path);
  job->regions = cp_category_item_get_model_info (self->category)->has_regions;
  job->cache = g_atomic_rc_box_acquire (self->patch_cache);
  cp_worker_submit (cp_session_get_worker (session), "heatmap", heatmap_run, job, heatmap_job_free,
                    NULL, heatmap_done, inspect_heatmap_free, G_OBJECT (self));
}

static void
on_row_selected (GtkListBox    *box,
                 GtkListBoxRow *row,
                 CpInspectPage *self)
{
  CpInspectItem *item = row != NULL ? g_object_get_data (G_OBJECT (row), "cp-item") : NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED]);
  update_mark_good (self);
  if (item == NULL)
    return;
  /* Bounded decode: a huge photo should not stall the window. */
  if (cp_inspect_item_get_error (item) == NULL)
    pixbuf = gdk_pixbuf_new_from_file_at_scale (cp_inspect_item_get_path (item), 1024, 1024, TRUE, NULL);
  if (pixbuf != NULL)
    texture = gdk_texture_new_for_pixbuf (pixbuf);
  g_set_object (&self->texture, texture);
  heatmap_request (self, item);
  update_view (self);
  update_caption (self);
}

static void
clear (CpInspectPage *self)
{
  g_list_store_remove_all (self->items);
  heatmap_request (self, NULL);
  g_clear_object (&self->texture);
  gtk_picture_set_paintable (self->inspect_picture, NULL);
  gtk_label_set_text (self->inspect_caption, "");
}

/* ---- the threshold --------------------------------------------------------------- */

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The threshold under which at most @rate of @eval's defective test images
 * pass (a score at or below the threshold passes): halfway between the
 * lowest defective score that must fail and the next score below it,
 * good or defective, so that no image sits on the line.  FALSE without
 * defective test images. */
static gboolean
threshold_for_misses (const CpEvalResult *eval,
                      double              rate,
                      double             *threshold)
{
  g_autoptr(GArray) defects = g_array_new (FALSE, FALSE, sizeof (double));
  double must_fail, below = -INFINITY;
  guint allowed;

  for (guint i = 0; i < eval->images->len; i++)
    {
      const CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);

      if (img->label != 0 && !isnan (img->score))
        g_array_append_val (defects, img->score);
    }
  if (defects->len == 0)
    return FALSE;
  g_array_sort (defects, compare_doubles);
  allowed = (guint) floor (rate * defects->len + 1e-9);
  must_fail = g_array_index (defects, double, allowed);
  for (guint i = 0; i < eval->images->len; i++)
    {
      double s = g_array_index (eval->images, CpEvalImage, i).score;

      if (s < must_fail && s > below)
        below = s;
    }
  *threshold = isfinite (below) ? (below + must_fail) / 2
                                : must_fail - 1e-3 * MAX (1.0, fabs (must_fail));
  *threshold = MAX (*threshold, 0);
  return TRUE;
}

/* Save and Reset, and the line under the slider: what is stored and where
 * it comes from.  The false-reject rate is only claimed for the threshold
 * it was measured for. */
static void
update_controls (CpInspectPage *self)
{
  CpSession *session = session_of (self);
  CpCategoryItem *category = self->category;
  const CpModelInfo *info = category != NULL ? cp_category_item_get_model_info (category) : NULL;
  gboolean moved = category != NULL && cp_category_item_get_moved (category);
  gboolean saving = session != NULL && cp_session_get_saving (session);
  gboolean trained = cp_category_item_is_trained (category);
  double stored = info != NULL ? info->threshold : NAN;
  g_autofree char *text = NULL;

  cp_page_set_action_enabled (CP_PAGE (self), "threshold-save", trained && moved && !saving);
  cp_page_set_action_enabled (CP_PAGE (self), "threshold-reset", moved && !saving);
  cp_page_set_action_enabled (CP_PAGE (self), "inspect-open", trained);
  /* A disabled button says why. */
  gtk_widget_set_tooltip_text (self->open_button,
                               trained ? _("Score images with this category’s model")
                                       : _("This category has no model yet: train it on the Training "
                                           "page first"));

  if (saving)
    text = g_strdup (_("Saving the threshold…"));
  else if (info == NULL || isnan (stored))
    text = g_strdup ("");
  else
    switch (info->threshold_source)
      {
      case CP_THRESHOLD_SOURCE_CROSS_VALIDATION:
        text = isnan (info->false_reject_rate)
          ? g_strdup_printf (_("Stored: %.2f, set at training by cross-validation"), stored)
          /* Translators: "%g %%" is a percentage, "1 %". */
          : g_strdup_printf (_("Stored: %.2f, set at training by cross-validation for a %g %% false-reject rate"),
                             stored, info->false_reject_rate * 100);
        break;
      case CP_THRESHOLD_SOURCE_MANUAL:
        text = isnan (info->false_reject_rate) || isnan (info->cv_threshold)
          ? g_strdup_printf (_("Stored: %.2f, set by hand"), stored)
          : g_strdup_printf (_("Stored: %.2f, set by hand (training chose %.2f for a %g %% false-reject rate)"),
                             stored, info->cv_threshold, info->false_reject_rate * 100);
        break;
      case CP_THRESHOLD_SOURCE_NONE:
      case CP_THRESHOLD_SOURCE_UNKNOWN:
      default:
        text = g_strdup_printf (_("Stored: %.2f, origin unknown"), stored);
        break;
      }
  gtk_label_set_text (self->threshold_origin, text);
}

/* The share of defective test images the offered threshold lets pass:
 * the spin button beside the offer, kept in the "miss-rate" setting. */
static double
miss_rate (CpInspectPage *self)
{
  return gtk_spin_button_get_value (self->threshold_miss_rate) / 100.0;
}

/* A threshold that lets most defective test images pass is said in red,
 * and the threshold that misses miss_rate () of them is one click away. */
static void
update_miss_controls (CpInspectPage      *self,
                      const CpEvalResult *eval,
                      int                 passed,
                      int                 defect)
{
  double target = NAN;
  gboolean offer = defect > 0 && threshold_for_misses (eval, miss_rate (self), &target);
  gboolean most_pass = defect > 0 && passed * 2 > defect;

  if (most_pass)
    {
      g_autofree char *warning =
        g_strdup_printf (_("This threshold passes %d of %d defective test images: most defects "
                           "would go unnoticed."), passed, defect);

      gtk_label_set_text (self->threshold_warning_label, warning);
    }
  gtk_widget_set_visible (self->threshold_warning, most_pass);
  gtk_widget_set_visible (self->threshold_miss_box, offer);
  cp_page_set_action_enabled (CP_PAGE (self), "threshold-for-misses",
                              offer && fabs (target - current_threshold (self)) > 1e-9);
  if (offer)
    {
      int missed = 0, rejected = 0, good = 0;
      g_autofree char *label = NULL;
      g_autofree char *tooltip = NULL;

      for (guint i = 0; i < eval->images->len; i++)
        {
          const CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);

          if (img->label == 0)
            {
              good++;
              rejected += img->score > target;
            }
          else
            missed += img->score <= target;
        }
      /* Translators: "%g %%" is a percentage, "5 %". */
      label = g_strdup_printf (_("Use Threshold for %g %% _Missed"), miss_rate (self) * 100);
      tooltip = g_strdup_printf (_("Move the slider to %.2f: %d of %d defective test images pass, "
                                   "%d of %d good ones are rejected. Save it to keep it."),
                                 target, missed, defect, rejected, good);
      gtk_button_set_label (GTK_BUTTON (self->threshold_miss_button), label);
      gtk_widget_set_tooltip_text (self->threshold_miss_button, tooltip);
    }
}

/* The verdicts, the caption, and counts over the evaluation's test
 * images: the live consequence of the threshold for parts we know the
 * truth of. */
static void
update_threshold (CpInspectPage *self)
{
  CpEvaluation *evaluation = self->category != NULL
    ? cp_category_item_get_evaluation (self->category) : NULL;
  CpEvalResult *eval = evaluation != NULL ? evaluation->result : NULL;
  double threshold = current_threshold (self);
  int good = 0, defect = 0, rejected = 0, passed = 0;
  g_autofree char *text = NULL;

  update_rows (self);
  update_caption (self);
  if (eval == NULL || eval->images->len == 0)
    {
      gboolean stored = self->category != NULL
                        && !isnan (cp_category_item_get_stored_threshold (self->category));

      gtk_label_set_text (self->threshold_stats,
                          eval == NULL && stored ? _("Evaluating the test images…") : "");
      gtk_widget_set_visible (self->threshold_warning, FALSE);
      gtk_widget_set_visible (self->threshold_miss_box, FALSE);
      cp_page_set_action_enabled (CP_PAGE (self), "threshold-for-misses", FALSE);
      return;
    }
  for (guint i = 0; i < eval->images->len; i++)
    {
      CpEvalImage *img = &g_array_index (eval->images, CpEvalImage, i);

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
  update_miss_controls (self, eval, passed, defect);
}

/* The slider covers every test score, so every verdict can be reached. */
static void
cover_scores (CpInspectPage *self)
{
  CpEvaluation *evaluation = self->category != NULL
    ? cp_category_item_get_evaluation (self->category) : NULL;
  double max_score = evaluation != NULL ? cp_evaluation_max_score (evaluation) : NAN;

  if (isnan (max_score))
    return;
  self->syncing = TRUE;
  gtk_adjustment_set_upper (self->threshold_adjustment, max_score * 1.1);
  gtk_adjustment_set_value (self->threshold_adjustment, current_threshold (self));
  self->syncing = FALSE;
}

static void
on_slider_moved (GtkAdjustment *adjustment,
                 CpInspectPage *self)
{
  if (!self->syncing && self->category != NULL)
    cp_category_item_set_threshold (self->category, gtk_adjustment_get_value (adjustment));
}

/* GTK 4.8's GtkScale places its value label only when the value changes:
 * a new range moves the knob but would leave the label where the old range
 * put it (the test scores widen the slider after it was first laid out). */
static void
on_slider_range_changed (CpInspectPage *self)
{
  gtk_widget_queue_allocate (GTK_WIDGET (self->threshold_scale));
}

static void
on_threshold_changed (CpInspectPage *self)
{
  double threshold = current_threshold (self);

  if (!isnan (threshold) && gtk_adjustment_get_value (self->threshold_adjustment) != threshold)
    {
      self->syncing = TRUE;
      gtk_adjustment_set_value (self->threshold_adjustment, threshold);
      self->syncing = FALSE;
    }
  update_threshold (self);
  update_controls (self);
}

static void
on_evaluation_changed (CpInspectPage *self)
{
  cover_scores (self);
  update_threshold (self);
}

/* Another category, or a new model of this one: the slider shows its
 * threshold, and the rows are scored again against it. */
static void
category_changed (CpInspectPage *self)
{
  double stored = self->category != NULL ? cp_category_item_get_stored_threshold (self->category) : NAN;

  self->syncing = TRUE;
  if (!isnan (stored))
    {
      gtk_adjustment_set_upper (self->threshold_adjustment, MAX (stored * 3, 1));
      gtk_adjustment_set_value (self->threshold_adjustment, current_threshold (self));
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self->threshold_scale), !isnan (stored));
  self->syncing = FALSE;
  cover_scores (self);
  for (guint i = 0; i < n_items (self); i++)
    cp_inspect_item_forget_score (item_at (self, i));
  score_pending (self);
  update_threshold (self);
  update_controls (self);
  /* The heatmap is the new model's (or none without a patch model). */
  heatmap_request (self, selected_item (self));
  update_view (self);
}

/* The evaluation feeds the counts under the slider: it runs when the page
 * is shown without one. */
static void
evaluate_if_shown (CpInspectPage *self)
{
  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && session_of (self) != NULL)
    cp_session_evaluate (session_of (self), FALSE);
}

static void
on_selected_changed (CpInspectPage *self)
{
  CpSession *session = session_of (self);
  CpCategoryItem *category = session != NULL ? cp_session_get_selected (session) : NULL;

  if (category != self->category)
    {
      /* Rows belong to the category they were scored for: another
       * category's model would give them verdicts that mean nothing.  The
       * same category again (a rescan makes a new item for it) keeps them. */
      if (category != NULL)
        {
          g_autofree char *key = g_build_filename (cp_session_get_data_dir (session),
                                                   cp_category_item_get_name (category), NULL);

          if (self->rows_category != NULL && g_strcmp0 (key, self->rows_category) != 0)
            clear (self);
          g_free (self->rows_category);
          self->rows_category = g_steal_pointer (&key);
        }
      g_set_object (&self->category, category);
      g_signal_group_set_target (self->item_signals, category);
      category_changed (self);
    }
  evaluate_if_shown (self);
}

static void
on_model_changed (CpInspectPage *self)
{
  category_changed (self);
  evaluate_if_shown (self);
}

/* ---- actions ------------------------------------------------------------------ */

static void
on_files_chosen (GtkNativeDialog *dialog,
                 int              response,
                 CpInspectPage   *self)
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
  g_object_unref (self);
}

static void
action_inspect_open (GSimpleAction *action,
                     GVariant      *param,
                     gpointer       user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Open Images"), cp_page_get_window (CP_PAGE (self)),
                                 GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Images"));
  gtk_file_filter_add_mime_type (filter, "image/*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
  g_object_unref (filter);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (on_files_chosen), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
action_inspect_files (GSimpleAction *action,
                      GVariant      *param,
                      gpointer       user_data)
{
  g_autofree const char **uris = g_variant_get_strv (param, NULL);
  GSList *files = NULL;

  for (gsize i = 0; uris[i] != NULL; i++)
    files = g_slist_append (files, g_file_new_for_uri (uris[i]));
  add_files (CP_INSPECT_PAGE (user_data), files);
  g_slist_free_full (files, g_object_unref);
}

static void
action_inspect_clear (GSimpleAction *action,
                      GVariant      *param,
                      gpointer       user_data)
{
  clear (CP_INSPECT_PAGE (user_data));
}

static void
action_mark_good (GSimpleAction *action,
                  GVariant      *param,
                  gpointer       user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  CpInspectItem *item = selected_item (self);

  if (item == NULL || self->category == NULL || session_of (self) == NULL)
    return;
  cp_mark_good (session_of (self), cp_category_item_get_name (self->category),
                cp_inspect_item_get_path (item), NULL, 0);
}

static void
action_threshold_save (GSimpleAction *action,
                       GVariant      *param,
                       gpointer       user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);

  if (session_of (self) != NULL)
    cp_session_save_threshold (session_of (self));
}

static void
action_threshold_reset (GSimpleAction *action,
                        GVariant      *param,
                        gpointer       user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);

  if (self->category != NULL)
    cp_category_item_reset_threshold (self->category);
}

/* Moves the slider to the threshold that lets miss_rate () of the
 * defective test images pass: unsaved until saved, as any other move. */
static void
action_threshold_for_misses (GSimpleAction *action,
                             GVariant      *param,
                             gpointer       user_data)
{
  CpInspectPage *self = CP_INSPECT_PAGE (user_data);
  CpEvaluation *evaluation = self->category != NULL
    ? cp_category_item_get_evaluation (self->category) : NULL;
  double threshold;

  if (evaluation != NULL && threshold_for_misses (evaluation->result, miss_rate (self), &threshold))
    cp_category_item_set_threshold (self->category, threshold);
}

/* ---- life cycle ------------------------------------------------------------------ */

static void
cp_inspect_page_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (cp_inspect_page_parent_class)->map (widget);
  evaluate_if_shown (CP_INSPECT_PAGE (widget));
}

static void
cp_inspect_page_session_changed (CpPage    *page,
                                 CpSession *previous)
{
  CpInspectPage *self = CP_INSPECT_PAGE (page);

  CpSession *session = cp_page_get_session (page);

  g_signal_group_set_target (self->session_signals, session);
  /* One binding per property: a later session's replaces this one. */
  if (session != NULL)
    g_settings_bind (cp_session_get_settings (session), "miss-rate",
                     gtk_spin_button_get_adjustment (self->threshold_miss_rate), "value",
                     G_SETTINGS_BIND_DEFAULT);
  on_selected_changed (self);
}

static void
cp_inspect_page_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  CpInspectPage *self = CP_INSPECT_PAGE (object);
  GtkListBoxRow *row;
  gboolean have = self->heatmap != NULL && self->heatmap->rgb != NULL;

  switch (prop_id)
    {
    case PROP_ITEMS:
      g_value_set_object (value, self->items);
      break;
    case PROP_SELECTED:
      row = gtk_list_box_get_selected_row (self->inspect_list);
      g_value_set_uint (value, row != NULL ? (guint) gtk_list_box_row_get_index (row)
                                           : GTK_INVALID_LIST_POSITION);
      break;
    case PROP_SHOW_HEATMAP:
      g_value_set_boolean (value, self->want_heatmap);
      break;
    case PROP_HEATMAP_AVAILABLE:
      g_value_set_boolean (value, have);
      break;
    case PROP_HEATMAP_OUTLINE:
      g_value_set_boolean (value, have && self->heatmap->outline != NULL);
      break;
    case PROP_HEATMAP_STATUS:
      g_value_set_string (value, gtk_label_get_text (self->heatmap_status));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cp_inspect_page_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  CpInspectPage *self = CP_INSPECT_PAGE (object);
  GtkListBoxRow *row;

  switch (prop_id)
    {
    case PROP_SELECTED:
      row = gtk_list_box_get_row_at_index (self->inspect_list, (int) g_value_get_uint (value));
      if (row != NULL && g_object_get_data (G_OBJECT (row), "cp-item") != NULL)
        gtk_list_box_select_row (self->inspect_list, row);
      break;
    case PROP_SHOW_HEATMAP:
      if (self->want_heatmap != g_value_get_boolean (value))
        {
          self->want_heatmap = g_value_get_boolean (value);
          update_view (self);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
on_heatmap_toggled (CpInspectPage *self)
{
  if (self->syncing_toggle)
    return;
  self->want_heatmap = gtk_check_button_get_active (self->heatmap_toggle);
  update_view (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOW_HEATMAP]);
}

static void
cp_inspect_page_dispose (GObject *object)
{
  CpInspectPage *self = CP_INSPECT_PAGE (object);

  cp_page_set_session (CP_PAGE (self), NULL);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->item_signals);
  g_clear_object (&self->category);
  g_clear_pointer (&self->rows_category, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_INSPECT_PAGE);
  g_clear_object (&self->items);
  g_clear_pointer (&self->heatmap, inspect_heatmap_free);
  g_clear_pointer (&self->heatmap_path, g_free);
  g_clear_object (&self->texture);
  g_clear_pointer (&self->patch_cache, patch_cache_unref);
  G_OBJECT_CLASS (cp_inspect_page_parent_class)->dispose (object);
}

static void
cp_inspect_page_class_init (CpInspectPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = cp_inspect_page_dispose;
  object_class->get_property = cp_inspect_page_get_property;
  object_class->set_property = cp_inspect_page_set_property;
  widget_class->map = cp_inspect_page_map;
  CP_PAGE_CLASS (klass)->session_changed = cp_inspect_page_session_changed;

  properties[PROP_ITEMS] = g_param_spec_object ("items", NULL, NULL, G_TYPE_LIST_MODEL, ro);
  properties[PROP_SELECTED] =
    g_param_spec_uint ("selected", NULL, NULL, 0, G_MAXUINT, GTK_INVALID_LIST_POSITION, rw);
  properties[PROP_SHOW_HEATMAP] = g_param_spec_boolean ("show-heatmap", NULL, NULL, TRUE, rw);
  properties[PROP_HEATMAP_AVAILABLE] = g_param_spec_boolean ("heatmap-available", NULL, NULL, FALSE, ro);
  properties[PROP_HEATMAP_OUTLINE] = g_param_spec_boolean ("heatmap-outline", NULL, NULL, FALSE, ro);
  properties[PROP_HEATMAP_STATUS] = g_param_spec_string ("heatmap-status", NULL, NULL, NULL, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-inspect-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, CpInspectPage, name)
  BIND (open_button);
  BIND (threshold_scale);
  BIND (threshold_adjustment);
  BIND (threshold_reset_button);
  BIND (threshold_save_button);
  BIND (threshold_origin);
  BIND (threshold_stats);
  BIND (threshold_warning);
  BIND (threshold_warning_label);
  BIND (threshold_miss_button);
  BIND (threshold_miss_box);
  BIND (threshold_miss_rate);
  BIND (inspect_list);
  BIND (inspect_picture);
  BIND (inspect_caption);
  BIND (heatmap_toggle);
  BIND (heatmap_opacity_scale);
  BIND (heatmap_opacity);
  BIND (heatmap_status);
  BIND (heatmap_legend);
  BIND (heatmap_legend_bar);
  BIND (heatmap_legend_low);
  BIND (heatmap_legend_mid);
  BIND (heatmap_legend_high);
#undef BIND
}

static void
cp_inspect_page_init (CpInspectPage *self)
{
  static const GActionEntry actions[] = {
    { "inspect-open", action_inspect_open },
    { "inspect-files", action_inspect_files, "as" },
    { "inspect-clear", action_inspect_clear },
    { "threshold-save", action_threshold_save },
    { "threshold-reset", action_threshold_reset },
    { "inspect-mark-good", action_mark_good },
    { "threshold-for-misses", action_threshold_for_misses },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  /* Another miss rate: another offer (label, tooltip, whether it moves). */
  g_signal_connect_swapped (self->threshold_miss_rate, "value-changed",
                            G_CALLBACK (update_threshold), self);
  self->want_heatmap = TRUE;
  gtk_drawing_area_set_draw_func (self->heatmap_legend_bar, draw_legend, self, NULL);
  cp_page_add_actions (CP_PAGE (self), actions, G_N_ELEMENTS (actions));
  self->items = g_list_store_new (CP_TYPE_INSPECT_ITEM);
  self->patch_cache = g_atomic_rc_box_new0 (PatchCache);
  gtk_list_box_bind_model (self->inspect_list, G_LIST_MODEL (self->items), create_row, self, NULL);
  g_signal_connect (self->inspect_list, "row-selected", G_CALLBACK (on_row_selected), self);
  g_signal_connect (self->threshold_adjustment, "value-changed", G_CALLBACK (on_slider_moved), self);
  g_signal_connect_swapped (self->threshold_adjustment, "changed", G_CALLBACK (on_slider_range_changed), self);
  g_signal_connect_swapped (self->heatmap_toggle, "notify::active", G_CALLBACK (on_heatmap_toggled), self);
  g_signal_connect_swapped (self->heatmap_opacity, "value-changed", G_CALLBACK (update_view), self);

  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (on_selected_changed), self);
  g_signal_group_connect_swapped (self->session_signals, "notify::saving",
                                  G_CALLBACK (update_controls), self);
  self->item_signals = g_signal_group_new (CP_TYPE_CATEGORY_ITEM);
  g_signal_group_connect_swapped (self->item_signals, "notify::model-stamp",
                                  G_CALLBACK (on_model_changed), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::threshold",
                                  G_CALLBACK (on_threshold_changed), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::moved",
                                  G_CALLBACK (update_controls), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::stored-threshold",
                                  G_CALLBACK (update_controls), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::state",
                                  G_CALLBACK (update_controls), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::evaluation",
                                  G_CALLBACK (on_evaluation_changed), self);
  update_controls (self);
  update_mark_good (self);
}
