/* cp-eval-page.c: the Evaluation page: the selected category's ROC curve,
 * score histogram (with the threshold in use) and t-SNE map, and their
 * exports.  The evaluation itself is the session's (the Inspection page
 * counts with it too): this page asks for it when shown.
 *
 * Actions: win.evaluate, win.export-plots, win.export-csv.
 */
#include "config.h"

#include <math.h>

#include <glib/gi18n.h>

#include <adwaita.h>

#include "cp-eval-page.h"
#include "cp-plots.h"

struct _CpEvalPage
{
  CpPage          parent_instance;

  GSignalGroup   *session_signals;
  GSignalGroup   *item_signals;
  CpCategoryItem *category;       /* the session's selected one */
  CpEvaluation   *shown;          /* the evaluation the plots show */

  /* template widgets */
  GtkLabel       *eval_label;
  CpPlotView     *roc_view;
  CpPlotView     *hist_view;
  CpPlotView     *tsne_view;
};

G_DEFINE_FINAL_TYPE (CpEvalPage, cp_eval_page, CP_TYPE_PAGE)

static CpEvaluation *
evaluation (CpEvalPage *self)
{
  return self->category != NULL ? cp_category_item_get_evaluation (self->category) : NULL;
}

static void
update_label (CpEvalPage *self)
{
  CpEvaluation *ev = evaluation (self);
  const char *error = self->category != NULL ? cp_category_item_get_eval_error (self->category) : NULL;
  g_autofree char *label = NULL;

  if (self->category != NULL && cp_category_item_get_evaluating (self->category))
    label = g_strdup (_("Evaluating…"));
  else if (error != NULL)
    label = g_strdup (error);
  else if (ev == NULL)
    label = g_strdup (_("Evaluate the selected category on its test images."));
  else if (isnan (ev->result->auroc))
    label = g_strdup_printf (_("%s: %u test images, AUROC needs good and defective test images"),
                             ev->result->category, ev->result->images->len);
  else
    label = g_strdup_printf (_("%s: %u test images · AUROC %.4f · %d good rejected, %d defects missed"),
                             ev->result->category, ev->result->images->len, ev->result->auroc,
                             ev->result->false_rejects, ev->result->misses);
  gtk_label_set_text (self->eval_label, label);
}

static void
update_histogram (CpEvalPage *self)
{
  CpEvaluation *ev = evaluation (self);

  if (ev != NULL)
    cp_plots_set_histogram (self->hist_view, ev->result,
                            cp_category_item_get_threshold (self->category));
}

static void
update_actions (CpEvalPage *self)
{
  cp_page_set_action_enabled (CP_PAGE (self), "evaluate", cp_category_item_is_trained (self->category));
  cp_page_set_action_enabled (CP_PAGE (self), "export-plots", evaluation (self) != NULL);
  cp_page_set_action_enabled (CP_PAGE (self), "export-csv", evaluation (self) != NULL);
}

static void
update_plots (CpEvalPage *self)
{
  CpEvaluation *ev = evaluation (self);

  if (ev != self->shown)
    {
      g_clear_pointer (&self->shown, cp_evaluation_unref);
      if (ev == NULL)
        {
          cp_plot_view_set_funcs (self->roc_view, NULL, NULL, NULL, NULL);
          cp_plot_view_set_funcs (self->hist_view, NULL, NULL, NULL, NULL);
          cp_plot_view_set_funcs (self->tsne_view, NULL, NULL, NULL, NULL);
          cp_plot_view_set_placeholder (self->tsne_view, _("t-SNE map of the embeddings."));
        }
      else
        {
          self->shown = cp_evaluation_ref (ev);
          cp_plots_set_roc (self->roc_view, ev->result);
          update_histogram (self);
          if (ev->tsne_xy != NULL)
            cp_plots_set_tsne (self->tsne_view, ev->result, ev->tsne_xy, ev->tsne_n);
          else
            {
              cp_plot_view_set_funcs (self->tsne_view, NULL, NULL, NULL, NULL);
              cp_plot_view_set_placeholder (self->tsne_view, ev->tsne_error != NULL
                                            ? ev->tsne_error : _("t-SNE map of the embeddings."));
            }
        }
    }
  update_label (self);
  update_actions (self);
}

static void
evaluate_if_shown (CpEvalPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  if (gtk_widget_get_mapped (GTK_WIDGET (self)) && session != NULL)
    cp_session_evaluate (session, FALSE);
}

static void
on_selected_changed (CpEvalPage *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpCategoryItem *category = session != NULL ? cp_session_get_selected (session) : NULL;

  if (g_set_object (&self->category, category))
    g_signal_group_set_target (self->item_signals, category);
  update_plots (self);
  evaluate_if_shown (self);
}

static void
on_model_changed (CpEvalPage *self)
{
  update_plots (self);
  evaluate_if_shown (self);
}

/* ---- a point of the map ------------------------------------------------- */

static void
on_point_activated (CpPlotView *view,
                    int         index,
                    CpEvalPage *self)
{
  CpEvaluation *ev = evaluation (self);
  const CpEvalImage *img;
  GtkWidget *dialog, *picture, *box, *caption;
  g_autofree char *title = NULL;
  g_autoptr(GdkPixbuf) pixbuf = NULL;

  if (ev == NULL || index < 0 || (guint) index >= ev->result->images->len)
    return;
  img = &g_array_index (ev->result->images, CpEvalImage, index);
  pixbuf = gdk_pixbuf_new_from_file_at_scale (img->path, 512, 512, TRUE, NULL);
  title = g_strdup_printf (_("%s · %s · score %.3f"), img->defect_type,
                           img->anomalous ? _("FAIL") : _("PASS"), img->score);
  dialog = adw_window_new ();
  gtk_window_set_title (GTK_WINDOW (dialog), title);
  gtk_window_set_transient_for (GTK_WINDOW (dialog), cp_page_get_window (CP_PAGE (self)));
  gtk_window_set_modal (GTK_WINDOW (dialog), TRUE);
  gtk_window_set_default_size (GTK_WINDOW (dialog), 560, 600);
  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  caption = gtk_label_new (img->path);
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
  gtk_window_present (GTK_WINDOW (dialog));
}

/* ---- exports ------------------------------------------------------------ */

/* The loss curve of the latest training run, drawn as the Training page
 * draws it (from the session's losses, not from that page). */
static gboolean
write_loss_png (CpSession   *session,
                const char  *path,
                GError     **error)
{
  g_autoptr(CpPlotView) view = g_object_ref_sink (CP_PLOT_VIEW (cp_plot_view_new ()));

  cp_plots_set_loss (view, cp_session_get_losses (session), cp_session_get_loss_total_steps (session));
  return cp_plot_view_write_png (view, path, 1200, 900, error);
}

static void
on_export_folder (GtkNativeDialog *dialog,
                  int              response,
                  CpEvalPage      *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpEvaluation *ev = self->shown;
  g_autoptr(GFile) folder = NULL;
  g_autofree char *dir = NULL;
  struct { CpPlotView *view; const char *name; } plots[] = {
    { self->roc_view, "roc" }, { self->hist_view, "histogram" }, { self->tsne_view, "tsne" },
  };
  int written = 0;

  if (response != GTK_RESPONSE_ACCEPT || session == NULL || ev == NULL)
    goto out;
  folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  dir = folder != NULL ? g_file_get_path (folder) : NULL;
  if (dir == NULL)
    goto out;
  for (gsize i = 0; i <= G_N_ELEMENTS (plots); i++)
    {
      const char *name = i < G_N_ELEMENTS (plots) ? plots[i].name : "loss";
      g_autofree char *leaf = g_strdup_printf ("%s-%s.png", ev->result->category, name);
      g_autofree char *path = g_build_filename (dir, leaf, NULL);
      g_autoptr(GError) error = NULL;
      gboolean ok;

      if (i < G_N_ELEMENTS (plots))
        {
          if (!cp_plot_view_has_plot (plots[i].view))
            continue;
          ok = cp_plot_view_write_png (plots[i].view, path, 1200, 900, &error);
        }
      else if (cp_session_get_losses (session)->len > 0)
        ok = write_loss_png (session, path, &error);
      else
        continue;
      if (!ok)
        {
          cp_session_toast (session, error->message);
          goto out;
        }
      written++;
    }
  {
    g_autofree char *msg = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Saved %d plot in %s",
                                                         "Saved %d plots in %s", written),
                                            written, dir);
    cp_session_toast (session, msg);
  }
out:
  g_object_unref (dialog);
  g_object_unref (self);
}

static void
action_export_plots (GSimpleAction *action,
                     GVariant      *param,
                     gpointer       user_data)
{
  CpEvalPage *self = CP_EVAL_PAGE (user_data);
  GtkFileChooserNative *dialog;

  if (self->shown == NULL)
    return;
  dialog = gtk_file_chooser_native_new (_("Export Plots"), cp_page_get_window (CP_PAGE (self)),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                        _("_Export"), _("_Cancel"));
  g_signal_connect (dialog, "response", G_CALLBACK (on_export_folder), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
on_export_csv (GtkNativeDialog *dialog,
               int              response,
               CpEvalPage      *self)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));

  if (response == GTK_RESPONSE_ACCEPT && self->shown != NULL && session != NULL)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;
      g_autoptr(GError) error = NULL;

      if (path == NULL)
        cp_session_toast (session, _("Only local files can be written"));
      else if (!cp_eval_write_csv (self->shown->result, path, &error))
        cp_session_toast (session, error->message);
      else
        {
          g_autofree char *msg = g_strdup_printf (_("Saved the scores in %s"), path);

          cp_session_toast (session, msg);
        }
    }
  g_object_unref (dialog);
  g_object_unref (self);
}

static void
action_export_csv (GSimpleAction *action,
                   GVariant      *param,
                   gpointer       user_data)
{
  CpEvalPage *self = CP_EVAL_PAGE (user_data);
  GtkFileChooserNative *dialog;
  g_autofree char *name = NULL;

  if (self->shown == NULL)
    return;
  dialog = gtk_file_chooser_native_new (_("Export Scores"), cp_page_get_window (CP_PAGE (self)),
                                        GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"), _("_Cancel"));
  name = g_strdup_printf ("%s-scores.csv", self->shown->result->category);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), name);
  g_signal_connect (dialog, "response", G_CALLBACK (on_export_csv), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
action_evaluate (GSimpleAction *action,
                 GVariant      *param,
                 gpointer       user_data)
{
  CpEvalPage *self = CP_EVAL_PAGE (user_data);

  if (cp_page_get_session (CP_PAGE (self)) != NULL)
    cp_session_evaluate (cp_page_get_session (CP_PAGE (self)), TRUE);
}

/* ---- life cycle ---------------------------------------------------------- */

static void
cp_eval_page_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (cp_eval_page_parent_class)->map (widget);
  evaluate_if_shown (CP_EVAL_PAGE (widget));
}

static void
cp_eval_page_session_changed (CpPage    *page,
                              CpSession *previous)
{
  CpEvalPage *self = CP_EVAL_PAGE (page);

  g_signal_group_set_target (self->session_signals, cp_page_get_session (page));
  on_selected_changed (self);
}

static void
cp_eval_page_dispose (GObject *object)
{
  CpEvalPage *self = CP_EVAL_PAGE (object);

  cp_page_set_session (CP_PAGE (self), NULL);
  g_clear_object (&self->session_signals);
  g_clear_object (&self->item_signals);
  g_clear_object (&self->category);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_EVAL_PAGE);
  g_clear_pointer (&self->shown, cp_evaluation_unref);
  G_OBJECT_CLASS (cp_eval_page_parent_class)->dispose (object);
}

static void
cp_eval_page_class_init (CpEvalPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_eval_page_dispose;
  widget_class->map = cp_eval_page_map;
  CP_PAGE_CLASS (klass)->session_changed = cp_eval_page_session_changed;
  g_type_ensure (CP_TYPE_PLOT_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-eval-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CpEvalPage, eval_label);
  gtk_widget_class_bind_template_child (widget_class, CpEvalPage, roc_view);
  gtk_widget_class_bind_template_child (widget_class, CpEvalPage, hist_view);
  gtk_widget_class_bind_template_child (widget_class, CpEvalPage, tsne_view);
}

static void
cp_eval_page_init (CpEvalPage *self)
{
  static const GActionEntry actions[] = {
    { "evaluate", action_evaluate },
    { "export-plots", action_export_plots },
    { "export-csv", action_export_csv },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  cp_page_add_actions (CP_PAGE (self), actions, G_N_ELEMENTS (actions));
  cp_plot_view_set_placeholder (self->roc_view, _("Train the category, then evaluate it to see its ROC curve."));
  cp_plot_view_set_placeholder (self->hist_view, _("Score histogram of the test images."));
  cp_plot_view_set_placeholder (self->tsne_view, _("t-SNE map of the embeddings."));
  g_signal_connect (self->tsne_view, "point-activated", G_CALLBACK (on_point_activated), self);

  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (on_selected_changed), self);
  self->item_signals = g_signal_group_new (CP_TYPE_CATEGORY_ITEM);
  g_signal_group_connect_swapped (self->item_signals, "notify::model-stamp",
                                  G_CALLBACK (on_model_changed), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::evaluation",
                                  G_CALLBACK (update_plots), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::evaluating",
                                  G_CALLBACK (update_label), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::eval-error",
                                  G_CALLBACK (update_label), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::threshold",
                                  G_CALLBACK (update_histogram), self);
  g_signal_group_connect_swapped (self->item_signals, "notify::state",
                                  G_CALLBACK (update_actions), self);
  update_actions (self);
}
