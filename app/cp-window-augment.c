/* cp-window-augment.c: previews of the self-supervision: a few training
 * images next to their CutPaste and scar versions. */
#include "config.h"

#include <glib/gi18n.h>

#include "core/augment/cutpaste.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "data/image.h"
#include "cp-window-private.h"

#define PREVIEW_IMAGES 3
#define PREVIEW_SIZE   256

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
clear_grid (CpWindow *self)
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
  CpWindow *self = CP_WINDOW (user_data);
  GPtrArray *pixbufs = result;
  const char *headers[] = { N_("Original"), N_("CutPaste"), N_("Scar") };

  if (dropped)
    return;
  clear_grid (self);
  if (pixbufs == NULL)
    {
      GtkWidget *label = gtk_label_new (error != NULL ? error->message : "");

      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_grid_attach (self->augment_grid, label, 0, 0, 3, 1);
      return;
    }
  for (int c = 0; c < 3; c++)
    {
      GtkWidget *label = gtk_label_new (_(headers[c]));

      gtk_widget_add_css_class (label, "heading");
      gtk_grid_attach (self->augment_grid, label, c, 0, 1, 1);
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
      gtk_grid_attach (self->augment_grid, frame, i % 3, 1 + i / 3, 1, 1);
    }
}

void
cp_window_augment_refresh (CpWindow *self,
                           gboolean  new_seed)
{
  AugmentJob *job;
  g_autofree char *seed_text = NULL;
  g_autofree char *seed_number = NULL;

  if (self->category == NULL || self->data_dir == NULL)
    {
      clear_grid (self);
      gtk_label_set_text (self->augment_seed_label, "");
      return;
    }
  if (new_seed)
    self->augment_seed = g_random_int () | ((guint64) g_random_int () << 32);
  seed_number = g_strdup_printf ("%" G_GUINT64_FORMAT, self->augment_seed);
  /* Translators: the category, then the random seed of the previews. */
  seed_text = g_strdup_printf (_("%s · seed %s"), self->category, seed_number);
  gtk_label_set_text (self->augment_seed_label, seed_text);

  job = g_new0 (AugmentJob, 1);
  job->data_dir = g_strdup (self->data_dir);
  job->category = g_strdup (self->category);
  job->seed = self->augment_seed;
  cp_worker_submit (self->worker, "augment", augment_run, job, augment_job_free, NULL,
                    augment_done, (GDestroyNotify) g_ptr_array_unref, G_OBJECT (self));
}

void
cp_window_augment_init (CpWindow *self)
{
  self->augment_seed = 1;
}
