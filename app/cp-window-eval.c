/* cp-window-eval.c: the evaluation page (ROC, histogram, t-SNE) and the
 * exports. */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include "core/density/tsne.h"
#include "core/rng.h"
#include "cp-plots.h"
#include "cp-window-private.h"

/* Augmented samples embedded for the t-SNE map (each of CutPaste and scar). */
#define AUGMENTED_SAMPLES 30

typedef struct
{
  char *data_dir;
  char *category;
  char *model_path;
  char *device;
} EvalJob;

typedef struct
{
  CpEvalResult *eval;
  float        *xy;     /* (n, 2), NULL when t-SNE failed */
  int           n;
  char         *tsne_error;
} EvalOutput;

static void
eval_job_free (gpointer data)
{
  EvalJob *job = data;

  g_free (job->data_dir);
  g_free (job->category);
  g_free (job->model_path);
  g_free (job->device);
  g_free (job);
}

static void
eval_result_free (CpEvalResult *eval)
{
  if (eval == NULL)
    return;
  cp_eval_result_clear (eval);
  g_free (eval);
}

static void
eval_output_free (gpointer data)
{
  EvalOutput *out = data;

  eval_result_free (out->eval);
  g_free (out->xy);
  g_free (out->tsne_error);
  g_free (out);
}

static gpointer
eval_run (CpWorkerJob        *worker_job,
          const volatile int *cancel,
          gpointer            data,
          GError            **error)
{
  EvalJob *job = data;
  g_autoptr(CpModel) model = cp_model_load (job->model_path, job->device, error);
  CpEvalOptions opts;
  EvalOutput *out;
  CpEvalResult *eval;
  int n_test, n;
  float *all;
  CpTsneOptions tsne_opts;
  CpRng rng;
  CpError err = { 0 };

  if (model == NULL)
    return NULL;
  cp_eval_options_init (&opts);
  opts.with_train_embeddings = TRUE;
  opts.augmented_samples = AUGMENTED_SAMPLES;
  eval = g_new0 (CpEvalResult, 1);
  cp_eval_result_init (eval);
  if (!cp_evaluate_category (job->data_dir, job->category, model, &opts, NULL, NULL,
                             cancel, eval, error))
    {
      eval_result_free (eval);
      return NULL;
    }

  out = g_new0 (EvalOutput, 1);
  out->eval = eval;
  n_test = eval->images->len;
  n = n_test + eval->n_train + eval->n_aug;
  if (n < 2)
    return out;
  all = g_new (float, (gsize) n * 512);
  memcpy (all, eval->test_embeddings, sizeof (float) * 512 * n_test);
  if (eval->n_train > 0)
    memcpy (all + (gsize) n_test * 512, eval->train_embeddings, sizeof (float) * 512 * eval->n_train);
  if (eval->n_aug > 0)
    memcpy (all + (gsize) (n_test + eval->n_train) * 512, eval->aug_embeddings,
            sizeof (float) * 512 * eval->n_aug);
  out->xy = g_new (float, (gsize) n * 2);
  out->n = n;
  cp_tsne_options_init (&tsne_opts);
  tsne_opts.iterations = 500;
  cp_rng_seed (&rng, 1);
  if (cp_tsne (all, n, 512, &tsne_opts, &rng, out->xy, NULL, &err) != CP_OK)
    {
      out->tsne_error = g_strdup (err.message);
      g_clear_pointer (&out->xy, g_free);
    }
  g_free (all);
  return out;
}

static void
eval_done (gpointer      result,
           const GError *error,
           gboolean      dropped,
           gpointer      user_data)
{
  CpWindow *self = CP_WINDOW (user_data);
  EvalOutput *out = result;
  g_autofree char *label = NULL;

  if (dropped)
    return;
  if (out == NULL)
    {
      label = g_strdup_printf (_("Evaluation failed: %s"), error != NULL ? error->message : "");
      gtk_label_set_text (self->eval_label, label);
      cp_window_inspect_update_threshold (self);
      return;
    }

  cp_window_eval_clear (self);
  self->eval = g_steal_pointer (&out->eval);
  self->eval_category = g_strdup (self->eval->category);
  if (isnan (self->eval->auroc))
    label = g_strdup_printf (_("%s: %u test images, AUROC needs good and defective test images"),
                             self->eval->category, self->eval->images->len);
  else
    label = g_strdup_printf (_("%s: %u test images · AUROC %.4f · %d good rejected, %d defects missed"),
                             self->eval->category, self->eval->images->len, self->eval->auroc,
                             self->eval->false_rejects, self->eval->misses);
  gtk_label_set_text (self->eval_label, label);

  cp_plots_set_roc (self->roc_view, self->eval);
  cp_plots_set_histogram (self->hist_view, self->eval, self->eval->threshold);
  if (out->xy != NULL)
    cp_plots_set_tsne (self->tsne_view, self->eval, out->xy, out->n);
  else if (out->tsne_error != NULL)
    cp_plot_view_set_placeholder (self->tsne_view, out->tsne_error);

  /* The slider covers every score, so every verdict can be reached. */
  {
    double max_score = self->eval->threshold;

    for (guint i = 0; i < self->eval->images->len; i++)
      {
        double s = g_array_index (self->eval->images, CpEvalImage, i).score;

        if (!isnan (s))
          max_score = MAX (max_score, s);
      }
    if (!isnan (max_score))
      gtk_adjustment_set_upper (self->threshold_adjustment, max_score * 1.1);
  }
  cp_window_inspect_update_threshold (self);
  cp_window_update_actions (self);
}

void
cp_window_eval_run (CpWindow *self)
{
  CpCategoryInfo *info = cp_window_find_category (self, self->category);
  EvalJob *job;

  if (info == NULL || info->state != CP_CATEGORY_STATE_TRAINED)
    return;
  job = g_new0 (EvalJob, 1);
  job->data_dir = g_strdup (self->data_dir);
  job->category = g_strdup (self->category);
  job->model_path = cp_window_model_path (self, self->category);
  job->device = g_settings_get_string (self->settings, "device");
  gtk_label_set_text (self->eval_label, _("Evaluating…"));
  cp_worker_submit (self->worker, "eval", eval_run, job, eval_job_free, NULL,
                    eval_done, eval_output_free, G_OBJECT (self));
}

void
cp_window_eval_clear (CpWindow *self)
{
  if (self->roc_view == NULL)
    return;
  cp_plot_view_set_funcs (self->roc_view, NULL, NULL, NULL, NULL);
  cp_plot_view_set_funcs (self->hist_view, NULL, NULL, NULL, NULL);
  cp_plot_view_set_funcs (self->tsne_view, NULL, NULL, NULL, NULL);
  g_clear_pointer (&self->eval, eval_result_free);
  g_clear_pointer (&self->eval_category, g_free);
  gtk_label_set_text (self->eval_label, _("Evaluate the selected category on its test images."));
}

void
cp_window_eval_set_threshold (CpWindow *self,
                              double    threshold)
{
  if (self->eval != NULL)
    cp_plots_set_histogram (self->hist_view, self->eval, threshold);
}

static void
on_point_activated (CpPlotView *view,
                    int         index,
                    CpWindow   *self)
{
  const CpEvalImage *img;
  GtkWidget *dialog, *picture;
  g_autofree char *title = NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;

  if (self->eval == NULL || index < 0 || (guint) index >= self->eval->images->len)
    return;
  img = &g_array_index (self->eval->images, CpEvalImage, index);
  pixbuf = gdk_pixbuf_new_from_file_at_scale (img->path, 512, 512, TRUE, NULL);
  title = g_strdup_printf (_("%s · %s · score %.3f"), img->defect_type,
                           img->anomalous ? _("FAIL") : _("PASS"), img->score);
  dialog = adw_window_new ();
  gtk_window_set_title (GTK_WINDOW (dialog), title);
  gtk_window_set_transient_for (GTK_WINDOW (dialog), GTK_WINDOW (self));
  gtk_window_set_modal (GTK_WINDOW (dialog), TRUE);
  gtk_window_set_default_size (GTK_WINDOW (dialog), 560, 600);
  {
    GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
    GtkWidget *caption = gtk_label_new (img->path);

    gtk_box_append (GTK_BOX (box), adw_header_bar_new ());
    picture = gtk_picture_new ();
    if (pixbuf != NULL)
      {
        g_autoptr(GdkTexture) texture = gdk_texture_new_for_pixbuf (pixbuf);

        gtk_picture_set_paintable (GTK_PICTURE (picture), GDK_PAINTABLE (texture));
      }
    gtk_widget_set_vexpand (picture, TRUE);
    gtk_box_append (GTK_BOX (box), picture);
    gtk_label_set_wrap (GTK_LABEL (caption), TRUE);
    gtk_label_set_selectable (GTK_LABEL (caption), TRUE);
    gtk_widget_set_margin_top (caption, 6);
    gtk_widget_set_margin_bottom (caption, 12);
    gtk_box_append (GTK_BOX (box), caption);
    adw_window_set_content (ADW_WINDOW (dialog), box);
  }
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- exports ------------------------------------------------------------ */

static void
on_export_folder (GtkNativeDialog *dialog,
                  int              response,
                  CpWindow        *self)
{
  g_autoptr(GFile) folder = NULL;
  g_autofree char *dir = NULL;
  struct { CpPlotView *view; const char *name; } plots[] = {
    { self->roc_view, "roc" }, { self->hist_view, "histogram" },
    { self->tsne_view, "tsne" }, { self->loss_view, "loss" },
  };
  int written = 0;

  if (response != GTK_RESPONSE_ACCEPT)
    goto out;
  folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  dir = folder != NULL ? g_file_get_path (folder) : NULL;
  if (dir == NULL)
    goto out;
  for (gsize i = 0; i < G_N_ELEMENTS (plots); i++)
    {
      g_autofree char *leaf = g_strdup_printf ("%s-%s.png", self->eval_category, plots[i].name);
      g_autofree char *path = g_build_filename (dir, leaf, NULL);
      g_autoptr(GError) error = NULL;

      if (!cp_plot_view_has_plot (plots[i].view))
        continue;
      if (plots[i].view == self->loss_view && self->losses->len == 0)
        continue;
      if (!cp_plot_view_write_png (plots[i].view, path, 1200, 900, &error))
        {
          cp_window_toast (self, error->message);
          goto out;
        }
      written++;
    }
  {
    g_autofree char *msg = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Saved %d plot in %s",
                                                         "Saved %d plots in %s", written),
                                            written, dir);
    cp_window_toast (self, msg);
  }
out:
  g_object_unref (dialog);
}

void
cp_window_eval_export_plots (CpWindow *self)
{
  GtkFileChooserNative *dialog;

  if (self->eval == NULL)
    return;
  dialog = gtk_file_chooser_native_new (_("Export Plots"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                        _("_Export"), _("_Cancel"));
  g_signal_connect (dialog, "response", G_CALLBACK (on_export_folder), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
on_export_csv (GtkNativeDialog *dialog,
               int              response,
               CpWindow        *self)
{
  if (response == GTK_RESPONSE_ACCEPT && self->eval != NULL)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      g_autoptr(GError) error = NULL;

      if (path == NULL)
        cp_window_toast (self, _("Only local files can be written"));
      else if (!cp_eval_write_csv (self->eval, path, &error))
        cp_window_toast (self, error->message);
      else
        {
          g_autofree char *msg = g_strdup_printf (_("Saved the scores in %s"), path);

          cp_window_toast (self, msg);
        }
    }
  g_object_unref (dialog);
}

void
cp_window_eval_export_csv (CpWindow *self)
{
  GtkFileChooserNative *dialog;
  g_autofree char *name = NULL;

  if (self->eval == NULL)
    return;
  dialog = gtk_file_chooser_native_new (_("Export Scores"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
  name = g_strdup_printf ("%s-scores.csv", self->eval_category);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), name);
  g_signal_connect (dialog, "response", G_CALLBACK (on_export_csv), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

/* Evaluation feeds the inspection page too: run it when either is shown. */
static void
on_page_changed (AdwViewStack *stack,
                 GParamSpec   *pspec,
                 CpWindow     *self)
{
  const char *page = adw_view_stack_get_visible_child_name (stack);

  if ((g_strcmp0 (page, "eval") == 0 || g_strcmp0 (page, "inspect") == 0) &&
      self->eval == NULL && !cp_worker_slot_busy (self->worker, "eval"))
    cp_window_eval_run (self);
}

void
cp_window_eval_init (CpWindow *self)
{
  cp_plot_view_set_placeholder (self->roc_view, _("Train the category, then evaluate it to see its ROC curve."));
  cp_plot_view_set_placeholder (self->hist_view, _("Score histogram of the test images."));
  cp_plot_view_set_placeholder (self->tsne_view, _("t-SNE map of the embeddings."));
  g_signal_connect (self->tsne_view, "point-activated", G_CALLBACK (on_point_activated), self);
  g_signal_connect (self->stack, "notify::visible-child-name", G_CALLBACK (on_page_changed), self);
}
