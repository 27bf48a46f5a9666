/* cp-plot-view.h: a widget that shows one engine plot (ROC, histogram,
 * t-SNE, loss curve).
 *
 * The plots themselves are drawn by engine/plot into any cairo_t; this
 * widget only gives them a surface, a tooltip naming the point under the
 * pointer and a "point-activated" signal when a point is clicked.  The same
 * draw function writes the PNG export, so the file matches the screen.
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define CP_TYPE_PLOT_VIEW (cp_plot_view_get_type ())
G_DECLARE_FINAL_TYPE (CpPlotView, cp_plot_view, CP, PLOT_VIEW, GtkWidget)

/* Draws the plot into @cr, which covers @width x @height. */
typedef void     (*CpPlotDrawFunc) (cairo_t  *cr,
                                    int       width,
                                    int       height,
                                    gpointer  data);

/* Finds the item under (@x, @y) in a plot of @width x @height.  Returns
 * its index (>= 0) and, through @tooltip, a newly allocated text naming
 * it; -1 when there is none. */
typedef int      (*CpPlotHitFunc)  (double    x,
                                    double    y,
                                    int       width,
                                    int       height,
                                    gpointer  data,
                                    char    **tooltip);

GtkWidget *cp_plot_view_new            (void);
void       cp_plot_view_set_funcs      (CpPlotView     *self,
                                        CpPlotDrawFunc  draw,
                                        CpPlotHitFunc   hit,
                                        gpointer        data,
                                        GDestroyNotify  data_free);
/* Whether a plot is set (draw function not NULL). */
gboolean   cp_plot_view_has_plot       (CpPlotView     *self);
/* The placeholder text shown while no plot is set. */
void       cp_plot_view_set_placeholder (CpPlotView    *self,
                                        const char     *text);
/* Call when the data behind the draw function changed. */
void       cp_plot_view_update         (CpPlotView     *self);
gboolean   cp_plot_view_write_png      (CpPlotView     *self,
                                        const char     *path,
                                        int             width,
                                        int             height,
                                        GError        **error);

G_END_DECLS
