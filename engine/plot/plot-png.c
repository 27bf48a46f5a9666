/* plot-png.c: atomic PNG export of any plot. */
#include "config.h"

#include "plot.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct
{
  int fd;
  int err;
} PngSink;

static cairo_status_t
write_to_fd (void *closure, const unsigned char *data, unsigned int length)
{
  PngSink *sink = closure;

  while (length > 0)
    {
      ssize_t n = write (sink->fd, data, length);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          sink->err = errno;
          return CAIRO_STATUS_WRITE_ERROR;
        }
      data += n;
      length -= (unsigned int) n;
    }
  return CAIRO_STATUS_SUCCESS;
}

gboolean
cp_plot_write_png (const char *path, int width, int height, CpPlotPainter paint, gconstpointer data,
                   GError **error)
{
  cairo_surface_t *surface;
  cairo_t *cr;
  cairo_status_t status;
  PngSink sink = { -1, 0 };
  char *tmp;

  g_return_val_if_fail (path != NULL && paint != NULL, FALSE);
  if (width <= 0 || height <= 0 || width > 32767 || height > 32767)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("%s: invalid plot size %d x %d"), path,
                   width, height);
      return FALSE;
    }
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cr = cairo_create (surface);
  paint (cr, width, height, data);
  status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: drawing failed: %s"), path,
                   cairo_status_to_string (status));
      cairo_surface_destroy (surface);
      return FALSE;
    }

  /* Temporary file in the target's folder, so the rename is atomic. */
  tmp = g_strdup_printf ("%s.XXXXXX", path);
  sink.fd = g_mkstemp (tmp);
  if (sink.fd < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), _("%s: cannot create a temporary file: %s"),
                   path, g_strerror (e));
      g_free (tmp);
      cairo_surface_destroy (surface);
      return FALSE;
    }
  /* mkstemp makes the file private; a plot is an ordinary document. */
  if (fchmod (sink.fd, 0644) != 0)
    sink.err = errno;
  status = cairo_surface_write_to_png_stream (surface, write_to_fd, &sink);
  cairo_surface_destroy (surface);
  if (status == CAIRO_STATUS_SUCCESS && sink.err == 0 && fsync (sink.fd) != 0)
    sink.err = errno;
  if (close (sink.fd) != 0 && sink.err == 0)
    sink.err = errno;
  if (status != CAIRO_STATUS_SUCCESS || sink.err != 0)
    {
      g_set_error (error, G_IO_ERROR, sink.err ? g_io_error_from_errno (sink.err) : G_IO_ERROR_FAILED,
                   _("%s: writing the PNG failed: %s"), path,
                   sink.err ? g_strerror (sink.err) : cairo_status_to_string (status));
      g_unlink (tmp);
      g_free (tmp);
      return FALSE;
    }
  if (g_rename (tmp, path) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), _("%s: cannot rename the temporary file: %s"),
                   path, g_strerror (e));
      g_unlink (tmp);
      g_free (tmp);
      return FALSE;
    }
  g_free (tmp);
  return TRUE;
}

static void
paint_roc (cairo_t *cr, int w, int h, gconstpointer data)
{
  cp_plot_roc_draw (cr, w, h, data);
}

static void
paint_histogram (cairo_t *cr, int w, int h, gconstpointer data)
{
  cp_plot_histogram_draw (cr, w, h, data);
}

static void
paint_tsne (cairo_t *cr, int w, int h, gconstpointer data)
{
  cp_plot_tsne_draw (cr, w, h, data);
}

static void
paint_loss (cairo_t *cr, int w, int h, gconstpointer data)
{
  cp_plot_loss_draw (cr, w, h, data);
}

gboolean
cp_plot_roc_write_png (const char *path, int width, int height, const CpPlotRoc *roc, GError **error)
{
  return cp_plot_write_png (path, width, height, paint_roc, roc, error);
}

gboolean
cp_plot_histogram_write_png (const char *path, int width, int height, const CpPlotHistogram *hist,
                             GError **error)
{
  return cp_plot_write_png (path, width, height, paint_histogram, hist, error);
}

gboolean
cp_plot_tsne_write_png (const char *path, int width, int height, const CpPlotTsne *tsne, GError **error)
{
  return cp_plot_write_png (path, width, height, paint_tsne, tsne, error);
}

gboolean
cp_plot_loss_write_png (const char *path, int width, int height, const CpPlotLoss *loss, GError **error)
{
  return cp_plot_write_png (path, width, height, paint_loss, loss, error);
}
