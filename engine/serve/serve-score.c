/* serve-score.c: one request's image through the engine's prediction API. */
#include "serve-score.h"

#include <math.h>
#include <string.h>

#include "data/image.h"
#include "data/png-write.h"
#include "serve-json.h"

CpServeScoreJob *
cp_serve_score_job_new (const char *category, GBytes *body, gboolean heatmap)
{
  CpServeScoreJob *job = g_new0 (CpServeScoreJob, 1);

  job->category = g_strdup (category);
  job->body = g_bytes_ref (body);
  job->heatmap = heatmap;
  job->queued_at = g_get_monotonic_time ();
  return job;
}

void
cp_serve_score_job_free (CpServeScoreJob *job)
{
  if (job == NULL)
    return;
  g_free (job->category);
  g_bytes_unref (job->body);
  g_free (job->json);
  g_free (job);
}

static void
fail (CpServeScoreJob *job, guint status, const char *code, const char *message)
{
  job->status = status;
  job->json = cp_serve_json_error (status, code, message);
}

/* The HTTP answer to an image that did not decode. */
static void
fail_image (CpServeScoreJob *job, const GError *error)
{
  if (error->domain == CP_DATA_ERROR && error->code == CP_DATA_ERROR_NOT_IMAGE)
    fail (job, 415, "not_an_image", error->message);
  else if (error->domain == CP_DATA_ERROR && error->code == CP_DATA_ERROR_TOO_LARGE)
    fail (job, 413, "image_too_large", error->message);
  else
    fail (job, 400, "corrupt_image", error->message);
}

/* The overlay `predict --heatmap` writes, as PNG bytes. */
static GBytes *
heatmap_png (const CpHeatmap *heatmap, GError **error)
{
  gsize pixels = (gsize) heatmap->width * heatmap->height;
  g_autofree guint8 *rgb = g_new (guint8, pixels * 3);

  for (gsize p = 0; p < pixels; p++)
    memcpy (rgb + p * 3, heatmap->overlay + p * 4, 3);
  return cp_png_encode (rgb, heatmap->width, heatmap->height, heatmap->width * 3, 3, error);
}

static double
ms_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / 1000.0;
}

void
cp_serve_score_run (CpServeRegistry *registry, CpServeScoreJob *job, int worker)
{
  gint64 started = g_get_monotonic_time ();
  double queue_ms = (started - job->queued_at) / 1000.0, decode_ms, score_ms, heatmap_ms = NAN;
  g_autoptr (GError) error = NULL;
  g_autoptr (CpImage) image = NULL;
  g_autoptr (GBytes) png = NULL;
  g_autofree char *heatmap_note = NULL;
  CpServeModel *served;
  CpModel *model;
  CpThresholdSource source;
  CpHeatmap heatmap = { 0 };
  gboolean have_heatmap = FALSE, anomalous;
  double score = NAN;
  gint64 t;
  gsize length = 0;
  const guint8 *data = g_bytes_get_data (job->body, &length);
  CpJsonWriter w;

  /* The model may have gone between the request's check and now. */
  served = cp_serve_registry_acquire (registry, job->category);
  if (served == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("no model for category '%s'", job->category);
      fail (job, 404, "unknown_category", msg);
      return;
    }
  model = served->models[worker];

  t = g_get_monotonic_time ();
  if (!cp_image_decode ("request body", data, length, &image, &error))
    {
      fail_image (job, error);
      cp_serve_model_unref (served);
      return;
    }
  decode_ms = ms_since (t);

  t = g_get_monotonic_time ();
  if (!cp_model_score_images (model, (const CpImage *const *) &image, 1, &score, NULL, &error))
    {
      fail (job, 500, "scoring_failed", error->message);
      cp_serve_model_unref (served);
      return;
    }
  score_ms = ms_since (t);
  anomalous = cp_model_is_anomalous (model, score);

  if (job->heatmap && served->patches == NULL)
    heatmap_note = g_strdup_printf ("no patch model for category '%s'%s%s (train one with "
                                    "'cutpaste train --localize')", job->category,
                                    served->patch_error ? ": " : "",
                                    served->patch_error ? served->patch_error : "");
  else if (job->heatmap)
    {
      t = g_get_monotonic_time ();
      if (!cp_patch_model_heatmap (served->patches[worker], image, &heatmap, NULL, &error)
          || (png = heatmap_png (&heatmap, &error)) == NULL)
        {
          fail (job, 500, "heatmap_failed", error->message);
          cp_heatmap_clear (&heatmap);
          cp_serve_model_unref (served);
          return;
        }
      have_heatmap = TRUE;
      heatmap_ms = ms_since (t);
    }

  source = cp_model_get_threshold_source (model);
  cp_json_writer_init (&w);
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "category");
  cp_serve_json_string (&w, job->category);
  cp_json_writer_key (&w, "score");
  cp_serve_json_number (&w, score);
  cp_json_writer_key (&w, "threshold");
  cp_serve_json_number (&w, cp_model_get_threshold (model));
  cp_json_writer_key (&w, "threshold_source");
  cp_serve_json_string (&w, cp_threshold_source_to_string (source));
  /* As `predict --json`: the rate belongs to the cross-validated
   * threshold only. */
  cp_json_writer_key (&w, "false_reject_rate");
  cp_serve_json_number (&w, source == CP_THRESHOLD_SOURCE_CROSS_VALIDATION
                        ? cp_model_get_false_reject_rate (model) : NAN);
  cp_json_writer_key (&w, "verdict");
  cp_serve_json_string (&w, anomalous ? "anomalous" : "good");
  cp_json_writer_key (&w, "model");
  cp_json_writer_begin_object (&w);
  {
    g_autofree char *file = g_path_get_basename (served->path);

    cp_json_writer_key (&w, "file");
    cp_serve_json_string (&w, file);
  }
  cp_json_writer_key (&w, "sha256");
  cp_serve_json_string (&w, served->sha256);
  cp_json_writer_key (&w, "created");
  cp_serve_json_string (&w, cp_model_get_created (model));
  cp_json_writer_end_object (&w);
  cp_json_writer_key (&w, "image");
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "width");
  cp_json_writer_int (&w, image->width);
  cp_json_writer_key (&w, "height");
  cp_json_writer_int (&w, image->height);
  cp_json_writer_end_object (&w);
  if (job->heatmap)
    {
      cp_json_writer_key (&w, "heatmap");
      if (have_heatmap)
        {
          gsize png_length = 0;
          const guint8 *png_data = g_bytes_get_data (png, &png_length);
          g_autofree char *base64 = g_base64_encode (png_data, png_length);

          cp_json_writer_begin_object (&w);
          cp_json_writer_key (&w, "png_base64");
          cp_serve_json_string (&w, base64);
          cp_json_writer_key (&w, "map_max");
          cp_serve_json_number (&w, heatmap.score);
          cp_json_writer_key (&w, "color_low");
          cp_serve_json_number (&w, heatmap.low);
          cp_json_writer_key (&w, "color_high");
          cp_serve_json_number (&w, heatmap.high);
          cp_json_writer_key (&w, "patch_model_sha256");
          cp_serve_json_string (&w, served->patch_sha256);
          cp_json_writer_end_object (&w);
        }
      else
        {
          cp_json_writer_null (&w);
          cp_json_writer_key (&w, "heatmap_note");
          cp_serve_json_string (&w, heatmap_note);
        }
    }
  cp_json_writer_key (&w, "timing_ms");
  cp_json_writer_begin_object (&w);
  cp_json_writer_key (&w, "queue");
  cp_serve_json_number (&w, queue_ms);
  cp_json_writer_key (&w, "decode");
  cp_serve_json_number (&w, decode_ms);
  cp_json_writer_key (&w, "score");
  cp_serve_json_number (&w, score_ms);
  if (have_heatmap)
    {
      cp_json_writer_key (&w, "heatmap");
      cp_serve_json_number (&w, heatmap_ms);
    }
  cp_json_writer_end_object (&w);
  cp_json_writer_key (&w, "worker");
  cp_json_writer_int (&w, worker);
  cp_json_writer_end_object (&w);

  job->status = 200;
  job->json = cp_serve_json_finish (&w);
  job->verdict = anomalous ? "anomalous" : "good";
  cp_heatmap_clear (&heatmap);
  cp_serve_model_unref (served);
}
