/* pipeline.h: everything the app and the command line use from the
 * pipeline: training, models and prediction, evaluation. */
#pragma once

#include "pipeline-error.h"
#include "train.h"
#include "model.h"
#include "evaluate.h"
