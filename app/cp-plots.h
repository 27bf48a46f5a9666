/* cp-plots.h: connects the window's data to engine/plot through
 * CpPlotView.  Each setter copies what the plot needs, so the view never
 * points at data that may be freed under it (the loss curve excepted: it
 * follows the window's live array). */
#pragma once

#include "line/records.h"
#include "pipeline/evaluate.h"
#include "plot/plot.h"
#include "cp-plot-view.h"

G_BEGIN_DECLS

/* @losses (float) and @total_steps belong to the window and outlive the view. */
void cp_plots_set_loss      (CpPlotView         *view,
                             GArray             *losses,
                             const int          *total_steps);
void cp_plots_set_roc       (CpPlotView         *view,
                             const CpEvalResult *eval);
void cp_plots_set_histogram (CpPlotView         *view,
                             const CpEvalResult *eval,
                             double              threshold);

/* One point per test image (same order as eval->images), then the train
 * images, then augmented samples; @xy holds (n, 2). */
void cp_plots_set_tsne      (CpPlotView         *view,
                             const CpEvalResult *eval,
                             const float        *xy,
                             int                 n);

/* The line's yield over time: @buckets (CpYieldBucket) of @width_us. */
void cp_plots_set_yield     (CpPlotView         *view,
                             GArray             *buckets,
                             gint64              width_us);

/* The line's scores over time (the drift chart): @parts (CpPart *,
 * oldest first), the threshold in use, and the median and 90th
 * percentile of the reference good scores (NaN: none). */
void cp_plots_set_scores    (CpPlotView         *view,
                             GPtrArray          *parts,
                             double              threshold,
                             double              reference_median,
                             double              reference_upper);

G_END_DECLS
