/* cp-augment-page.c: previews of the self-supervision: a few training
 * images of the selected category next to their CutPaste and scar
 * versions.
 *
 * Action: win.new-samples (another seed).
 */
#include "config.h"

#include <glib/gi18n.h>

#include "core/augment/cutpaste.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/image.h"
#include "cp-augment-page.h"

#define PREVIEW_IMAGES 3
#define PREVIEW_SIZE   256

struct _CpAugmentPage
{
  CpPage        parent_instance;

  GSignalGroup *session_signals;
  guint64       seed;

  /* template widgets */
  GtkStack     *augment_stack;
  GtkWidget    *augment_empty;
  GtkWidget    *new_samples_button;
  GtkLabel     *augment_seed_label;
  GtkWidget    *augment_headings;
  GtkGrid      *augment_grid;
};

G_DEFINE_FINAL_TYPE (CpAugmentPage, cp_augment_page, CP_TYPE_PAGE)

typedef struct
{
  char   *data_dir;
  char   *category;
  guint64 seed;
} AugmentJob;

static void
augment_job_free (gpointer data)
{
  AugmentJob *job = data;

  g_free (job->data_dir);
  g_free (job->category);
  g_free (job);
}

static void
free_pixels (guchar *pixels, gpointer data)
{
  g_free (pixels);
}

static GdkPixbuf *
pixbuf_from_rgb (uint8_t *rgb, int size)
{
  return gdk_pixbuf_new_from_data (rgb, GDK_COLORSPACE_RGB, FALSE, 8, size, size, size * 3,
                                   free_pixels, NULL);
}

/* Result: GPtrArray of GdkPixbuf, three per image (original, CutPaste, scar). */
static gpointer
augment_run (CpWorkerJob        *worker_job,
             const volatile int *cancel,
             gpointer            data,
             GError            **error)
{
  AugmentJob *job = data;
  g_autoptr(CpCategory) cat = cp_dataset_scan_category (job->data_dir, job->category, error);
  GPtrArray *out;
  CpAugmentConfig config;
  CpRng rng;
  size_t n;

  if (cat == NULL)
    return NULL;
  cp_augment_config_init (&config, CP_AUGMENT_3WAY);
  cp_rng_seed (&rng, job->seed);
  out = g_ptr_array_new_with_free_func (g_object_unref);
  n = MIN (cat->n_train, PREVIEW_IMAGES);
  for (size_t i = 0; i < n && !g_atomic_int_get (cancel); i++)
    {
      /* Spread the picks over the training set, from the seed. */
      size_t pick = (size_t) cp_rng_int_range (&rng, 0, (int64_t) cat->n_train);
      g_autoptr(CpImage) image = NULL;
      g_autoptr(GError) local = NULL;
      uint8_t *original, *cutpaste, *scar;
      CpError err = { 0 };

      if (pick >= cat->n_train)
        pick = cat->n_train - 1;
      if (!cp_image_load_resized (cat->train[pick].path, PREVIEW_SIZE, &image, &local))
        continue;
      original = g_memdup2 (image->pixels, (gsize) PREVIEW_SIZE * PREVIEW_SIZE * 3);
      cutpaste = g_malloc ((gsize) PREVIEW_SIZE * PREVIEW_SIZE * 3);
      scar = g_malloc ((gsize) PREVIEW_SIZE * PREVIEW_SIZE * 3);
      if (cp_augment_cutpaste (&config, &rng, original, PREVIEW_SIZE, cutpaste, NULL, &err) != CP_OK ||
          cp_augment_scar (&config, &rng, original, PREVIEW_SIZE, scar, NULL, &err) != CP_OK)
        {
          g_free (original);
          g_free (cutpaste);
          g_free (scar);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", err.message);
          g_ptr_array_unref (out);
          return NULL;
        }
      g_ptr_array_add (out, pixbuf_from_rgb (original, PREVIEW_SIZE));
      g_ptr_array_add (out, pixbuf_from_rgb (cutpaste, PREVIEW_SIZE));
      g_ptr_array_add (out, pixbuf_from_rgb (scar, PREVIEW_SIZE));
    }
  return out;
}

static void
clear_grid (CpAugmentPage *self)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->augment_grid))) != NULL)
    gtk_grid_remove (self->augment_grid, child);
}

static void
augment_done (gpointer      result,
              const GError *error,
              gboolean      dropped,
              gpointer      user_data)
{
  CpAugmentPage *self = CP_AUGMENT_PAGE (user_data);
  GPtrArray *pixbufs = result;

  if (dropped)
    return;
  clear_grid (self);
  gtk_widget_set_visible (self->augment_headings, pixbufs != NULL);
  if (pixbufs == NULL)
    {
      GtkWidget *label = gtk_label_new (error != NULL ? error->message : "");

      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_grid_attach (self->augment_grid, label, 0, 0, 3, 1);
      return;
    }
  for (guint i = 0; i < pixbufs->len; i++)
    {
      g_autoptr(GdkTexture) texture = gdk_texture_new_for_pixbuf (g_ptr_array_index (pixbufs, i));
      GtkWidget *picture = gtk_picture_new_for_paintable (GDK_PAINTABLE (texture));
      /* The columns are wider than the samples are tall; a square frame
       * keeps the card's background from showing beside the image. */
      GtkWidget *frame = gtk_aspect_frame_new (0.5f, 0.5f, 1.0f, FALSE);

      gtk_widget_set_size_request (picture, 192, 192);
      gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
      gtk_widget_add_css_class (picture, "card");
      gtk_widget_set_overflow (picture, GTK_OVERFLOW_HIDDEN);
      gtk_aspect_frame_set_child (GTK_ASPECT_FRAME (frame), picture);
      gtk_grid_attach (self->augment_grid, frame, i % 3, i / 3, 1, 1);
    }
}

static void
refresh (CpAugmentPage *self,
         gboolean       new_seed)
{
  CpSession *session = cp_page_get_session (CP_PAGE (self));
  CpCategoryItem *item = session != NULL ? cp_session_get_selected (session) : NULL;
  const char *data_dir = session != NULL ? cp_session_get_data_dir (session) : NULL;
  AugmentJob *job;
  g_autofree char *seed_text = NULL;
  g_autofree char *seed_number = NULL;

  cp_page_set_action_enabled (CP_PAGE (self), "new-samples", item != NULL);
  /* Before a dataset, say what the page is for rather than show nothing. */
  gtk_stack_set_visible_child_name (self->augment_stack,
                                    item == NULL || data_dir == NULL ? "empty" : "previews");
  if (item == NULL || data_dir == NULL)
    {
      clear_grid (self);
      gtk_label_set_text (self->augment_seed_label, "");
      return;
    }
  if (new_seed)
    /* Six digits at most: a seed a person can read out and type into
     * `cutpaste` (issue 19: twenty digits were shown), and still a
     * million different sets of previews. */
    self->seed = (guint64) g_random_int_range (1, 1000000);
  seed_number = g_strdup_printf ("%" G_GUINT64_FORMAT, self->seed);
  /* Translators: the category, then the random seed of the previews. */
  seed_text = g_strdup_printf (_("%s · seed %s"), cp_category_item_get_name (item), seed_number);
  gtk_label_set_text (self->augment_seed_label, seed_text);

  job = g_new0 (AugmentJob, 1);
  job->data_dir = g_strdup (data_dir);
  job->category = g_strdup (cp_category_item_get_name (item));
  job->seed = self->seed;
  cp_worker_submit (cp_session_get_worker (session), "augment", augment_run, job, augment_job_free,
                    NULL, augment_done, (GDestroyNotify) g_ptr_array_unref, G_OBJECT (self));
}

static void
on_selected_changed (CpAugmentPage *self)
{
  refresh (self, FALSE);
}

static void
action_new_samples (GSimpleAction *action,
                    GVariant      *param,
                    gpointer       user_data)
{
  refresh (CP_AUGMENT_PAGE (user_data), TRUE);
}

static void
cp_augment_page_session_changed (CpPage    *page,
                                 CpSession *previous)
{
  CpAugmentPage *self = CP_AUGMENT_PAGE (page);

  g_signal_group_set_target (self->session_signals, cp_page_get_session (page));
  refresh (self, FALSE);
}

static void
cp_augment_page_dispose (GObject *object)
{
  CpAugmentPage *self = CP_AUGMENT_PAGE (object);

  cp_page_set_session (CP_PAGE (self), NULL);
  g_clear_object (&self->session_signals);
  gtk_widget_dispose_template (GTK_WIDGET (self), CP_TYPE_AUGMENT_PAGE);
  G_OBJECT_CLASS (cp_augment_page_parent_class)->dispose (object);
}

static void
cp_augment_page_class_init (CpAugmentPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = cp_augment_page_dispose;
  CP_PAGE_CLASS (klass)->session_changed = cp_augment_page_session_changed;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/cutpaste/Inspector/cp-augment-page.ui");
  gtk_widget_class_bind_template_child (widget_class, CpAugmentPage, augment_stack);
  gtk_widget_class_bind_template_child (widget_class, CpAugmentPage, augment_empty);
  gtk_widget_class_bind_template_child (widget_class, CpAugmentPage, new_samples_button);
  gtk_widget_class_bind_template_child (widget_class, CpAugmentPage, augment_seed_label);
  gtk_widget_class_bind_template_child (widget_class, CpAugmentPage, augment_headings);
  gtk_widget_class_bind_template_child (widget_class, CpAugmentPage, augment_grid);
}

static void
cp_augment_page_init (CpAugmentPage *self)
{
  static const GActionEntry actions[] = {
    { "new-samples", action_new_samples },
  };

  gtk_widget_init_template (GTK_WIDGET (self));
  cp_page_add_actions (CP_PAGE (self), actions, G_N_ELEMENTS (actions));
  self->seed = 1;
  self->session_signals = g_signal_group_new (CP_TYPE_SESSION);
  g_signal_group_connect_swapped (self->session_signals, "notify::selected",
                                  G_CALLBACK (on_selected_changed), self);
  refresh (self, FALSE);
}
