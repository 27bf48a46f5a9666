/* serve-score.h: scoring one request's image, as `cutpaste predict` does.
 *
 * The image is decoded with cp_image_decode () and scored with
 * cp_model_score_images () on the worker's own instance of the category's
 * model; the verdict is cp_model_is_anomalous ().  The heatmap is
 * cp_patch_model_heatmap () on the patch model beside it, the overlay that
 * `predict --heatmap` writes, PNG-encoded.  Nothing of the method is
 * repeated here, so whatever the engine's score comes to consist of, the
 * service answers the same as the command line.
 */
#pragma once

#include <glib.h>

#include "serve-registry.h"

G_BEGIN_DECLS

typedef struct
{
  /* Request. */
  char        *category;
  GBytes      *body;
  gboolean     heatmap;
  gint64       queued_at;       /* g_get_monotonic_time () when queued */

  /* Response, filled by cp_serve_score_run (). */
  guint        status;          /* HTTP status */
  char        *json;            /* response body */
  const char  *verdict;         /* "good", "anomalous" or NULL when not scored */
} CpServeScoreJob;

CpServeScoreJob *cp_serve_score_job_new  (const char *category,
                                          GBytes     *body,
                                          gboolean    heatmap);
void             cp_serve_score_job_free (CpServeScoreJob *job);

/* Scores @job on worker @worker's instances.  Every outcome, failures
 * included, ends in job->status and job->json. */
void             cp_serve_score_run      (CpServeRegistry *registry,
                                          CpServeScoreJob *job,
                                          int              worker);

G_END_DECLS
