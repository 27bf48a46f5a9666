/* cp-window-inspect.c: scoring dropped or opened images against the
 * selected category's model, with a movable threshold. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib/gi18n.h>

#include "data/dataset.h"
#include "pipeline/model.h"
#include "cp-window-private.h"

#define THUMBNAIL_SIZE 64

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
  gtk_picture_set_paintable (self->inspect_picture, NULL);
  gtk_label_set_text (self->inspect_caption, "");
}

static void
on_row_selected (GtkListBox    *box,
                 GtkListBoxRow *row,
                 CpWindow      *self)
{
  CpInspectItem *item = row != NULL ? g_object_get_data (G_OBJECT (row), "cp-item") : NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *caption = NULL;

  if (item == NULL)
    return;
  /* Bounded decode: a huge photo should not stall the window. */
  if (item->error == NULL)
    pixbuf = gdk_pixbuf_new_from_file_at_scale (item->path, 1024, 1024, TRUE, NULL);
  if (pixbuf != NULL)
    texture = gdk_texture_new_for_pixbuf (pixbuf);
  gtk_picture_set_paintable (self->inspect_picture, GDK_PAINTABLE (texture));
  if (item->error != NULL)
    caption = g_strdup_printf ("%s\n%s", item->path, item->error);
  else if (!isnan (item->score))
    caption = g_strdup_printf (_("%s\nScore %.3f (threshold %.3f)"), item->path, item->score,
                               current_threshold (self));
  else
    caption = g_strdup (item->path);
  gtk_label_set_text (self->inspect_caption, caption);
}

/* Counts over the evaluation's test images: the live consequence of the
 * threshold for parts we know the truth of. */
void
cp_window_inspect_update_threshold (CpWindow *self)
{
  double threshold = current_threshold (self);

  for (guint i = 0; i < self->inspect_items->len; i++)
    update_row (self, g_ptr_array_index (self->inspect_items, i));

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
}

void
cp_window_inspect_init (CpWindow *self)
{
  GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);

  self->inspect_items = g_ptr_array_new_with_free_func (item_free);
  g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self->stack), GTK_EVENT_CONTROLLER (target));
  g_signal_connect (self->threshold_adjustment, "value-changed",
                    G_CALLBACK (on_threshold_changed), self);
  g_signal_connect (self->inspect_list, "row-selected", G_CALLBACK (on_row_selected), self);
}

void
cp_window_inspect_free (CpWindow *self)
{
  g_clear_pointer (&self->inspect_items, g_ptr_array_unref);
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
