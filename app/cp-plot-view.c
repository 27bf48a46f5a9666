/* cp-plot-view.c: a GtkWidget around an engine/plot draw function. */
#include "config.h"

#include <glib/gi18n.h>

#include "cp-plot-view.h"

struct _CpPlotView
{
  GtkWidget       parent_instance;

  CpPlotDrawFunc  draw;
  CpPlotHitFunc   hit;
  gpointer        data;        /* owned through data_free */
  GDestroyNotify  data_free;
  char           *placeholder;
};

G_DEFINE_FINAL_TYPE (CpPlotView, cp_plot_view, GTK_TYPE_WIDGET)

enum { POINT_ACTIVATED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
clear_funcs (CpPlotView *self)
{
  if (self->data != NULL && self->data_free != NULL)
    self->data_free (self->data);
  self->data = NULL;
  self->data_free = NULL;
  self->draw = NULL;
  self->hit = NULL;
}

static void
cp_plot_view_snapshot (GtkWidget   *widget,
                       GtkSnapshot *snapshot)
{
  CpPlotView *self = CP_PLOT_VIEW (widget);
  int width = gtk_widget_get_width (widget);
  int height = gtk_widget_get_height (widget);
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;

  if (self->draw == NULL)
    {
      /* The placeholder is a centred label drawn with the widget's font. */
      PangoLayout *layout;
      int lw, lh;
      GdkRGBA color;

      if (self->placeholder == NULL)
        return;
      layout = gtk_widget_create_pango_layout (widget, self->placeholder);
      pango_layout_set_width (layout, width * PANGO_SCALE);
      pango_layout_set_alignment (layout, PANGO_ALIGN_CENTER);
      pango_layout_get_pixel_size (layout, &lw, &lh);
      gtk_style_context_get_color (gtk_widget_get_style_context (widget), &color);
      color.alpha *= 0.55f;
      gtk_snapshot_save (snapshot);
      gtk_snapshot_translate (snapshot, &GRAPHENE_POINT_INIT (0, (height - lh) / 2.f));
      gtk_snapshot_append_layout (snapshot, layout, &color);
      gtk_snapshot_restore (snapshot);
      g_object_unref (layout);
      return;
    }

  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  self->draw (cr, width, height, self->data);
  cairo_destroy (cr);
}

static void
cp_plot_view_measure (GtkWidget      *widget,
                      GtkOrientation  orientation,
                      int             for_size,
                      int            *minimum,
                      int            *natural,
                      int            *minimum_baseline,
                      int            *natural_baseline)
{
  /* Small enough to fit a laptop screen two by two, large enough to read. */
  *minimum = orientation == GTK_ORIENTATION_HORIZONTAL ? 240 : 180;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 420 : 300;
}

static gboolean
on_query_tooltip (GtkWidget  *widget,
                  int         x,
                  int         y,
                  gboolean    keyboard_mode,
                  GtkTooltip *tooltip,
                  gpointer    user_data)
{
  CpPlotView *self = CP_PLOT_VIEW (widget);
  g_autofree char *text = NULL;

  if (self->hit == NULL || keyboard_mode)
    return FALSE;
  if (self->hit (x, y, gtk_widget_get_width (widget), gtk_widget_get_height (widget),
                 self->data, &text) < 0 || text == NULL)
    return FALSE;
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

static void
on_click_released (GtkGestureClick *gesture,
                   int              n_press,
                   double           x,
                   double           y,
                   CpPlotView      *self)
{
  GtkWidget *widget = GTK_WIDGET (self);
  g_autofree char *text = NULL;
  int index;

  if (self->hit == NULL)
    return;
  index = self->hit (x, y, gtk_widget_get_width (widget), gtk_widget_get_height (widget),
                     self->data, &text);
  if (index >= 0)
    g_signal_emit (self, signals[POINT_ACTIVATED], 0, index);
}

static void
cp_plot_view_dispose (GObject *object)
{
  CpPlotView *self = CP_PLOT_VIEW (object);

  clear_funcs (self);
  g_clear_pointer (&self->placeholder, g_free);
  G_OBJECT_CLASS (cp_plot_view_parent_class)->dispose (object);
}

static void
cp_plot_view_class_init (CpPlotViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cp_plot_view_dispose;
  widget_class->snapshot = cp_plot_view_snapshot;
  widget_class->measure = cp_plot_view_measure;

  /* Emitted with the index the hit function returned for a clicked point. */
  signals[POINT_ACTIVATED] =
    g_signal_new ("point-activated", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);

  gtk_widget_class_set_css_name (widget_class, "plotview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
cp_plot_view_init (CpPlotView *self)
{
  GtkGesture *click = gtk_gesture_click_new ();

  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (on_query_tooltip), NULL);
  g_signal_connect (click, "released", G_CALLBACK (on_click_released), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
  gtk_widget_set_hexpand (GTK_WIDGET (self), TRUE);
  gtk_widget_set_vexpand (GTK_WIDGET (self), TRUE);
}

GtkWidget *
cp_plot_view_new (void)
{
  return g_object_new (CP_TYPE_PLOT_VIEW, NULL);
}

void
cp_plot_view_set_funcs (CpPlotView     *self,
                        CpPlotDrawFunc  draw,
                        CpPlotHitFunc   hit,
                        gpointer        data,
                        GDestroyNotify  data_free)
{
  g_return_if_fail (CP_IS_PLOT_VIEW (self));

  clear_funcs (self);
  self->draw = draw;
  self->hit = hit;
  self->data = data;
  self->data_free = data_free;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
cp_plot_view_has_plot (CpPlotView *self)
{
  return self->draw != NULL;
}

void
cp_plot_view_set_placeholder (CpPlotView *self,
                              const char *text)
{
  g_free (self->placeholder);
  self->placeholder = g_strdup (text);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
cp_plot_view_update (CpPlotView *self)
{
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

gboolean
cp_plot_view_write_png (CpPlotView  *self,
                        const char  *path,
                        int          width,
                        int          height,
                        GError     **error)
{
  cairo_surface_t *surface;
  cairo_t *cr;
  cairo_status_t status;

  if (self->draw == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                   _("There is no plot to export yet"));
      return FALSE;
    }
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cr = cairo_create (surface);
  /* Exported plots get an opaque background: viewers differ on alpha. */
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  self->draw (cr, width, height, self->data);
  cairo_destroy (cr);
  status = cairo_surface_write_to_png (surface, path);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   _("Could not write “%s”: %s"), path, cairo_status_to_string (status));
      return FALSE;
    }
  return TRUE;
}
