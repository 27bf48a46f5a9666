/* onnx-export.h: writes a trained CutPaste model as a standard ONNX file.
 *
 * The ONNX graph (opset 13, IR version 7) takes `image` [N, 3, S, S] (N
 * dynamic; RGB resized to S x S, scaled to [0,1] and normalised with the
 * ImageNet mean and std, SPEC section 1) and gives
 *   - `embedding` [N, 512]: the global-average-pooled feature, raw (before
 *     L2 normalisation), the same numbers as cp_network_embedding;
 *   - `logits` [N, C]: the classifier's output (C = 2 or 3);
 *   - `score` [N]: the anomaly score sqrt ((x - mu)' P (x - mu)) of the
 *     L2-normalised embedding x, with the model's stored mean and precision,
 *     so the file scores images on its own.
 * Batch norm is folded into the convolutions (which gain a bias) and the
 * head's BatchNorm1d into its Gemm.  metadata_props carry the category,
 * image size, threshold and the preprocessing.  The protobuf encoding is
 * written by hand (protobuf.h).
 */
#pragma once

#include <stddef.h>

#include "core/status.h"
#include "core/io/safetensors.h"
#include "protobuf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CP_ONNX_OPSET       13
#define CP_ONNX_IR_VERSION  7   /* the IR version that introduced opset 13 */

typedef struct
{
  const char *producer_version;   /* ModelProto.producer_version, may be NULL */
} CpOnnxExportOptions;

typedef struct
{
  int    image_size;
  int    head_layers;
  int    num_classes;
  int    nodes;          /* NodeProtos in the graph */
  int    initializers;   /* TensorProtos in the graph */
  size_t bytes;          /* size of the serialised ModelProto */
  int    global_only;    /* the model also has a region (local) part that
                          * the graph does not compute; see write_metadata */
} CpOnnxExportInfo;

/* Builds the ModelProto of the trained model @st into @out (appended; @out
 * must be initialised).  A file that is not one of our trained models (no
 * __metadata__, another format, no gde.mean / gde.precision), a missing or
 * mis-shaped tensor, or non-finite weights fail with a message that starts
 * with the file's path.  @opts and @info may be NULL. */
CpStatus cp_onnx_build_model (const CpSafetensors      *st,
                              const CpOnnxExportOptions *opts,
                              CpPbBuf                  *out,
                              CpOnnxExportInfo         *info,
                              CpError                  *error);

/* Reads @model_path and writes the ONNX file @onnx_path atomically; on any
 * failure nothing is written and an existing @onnx_path is untouched.
 * Writing over the model file itself is refused. */
CpStatus cp_onnx_export_file (const char               *model_path,
                              const char               *onnx_path,
                              const CpOnnxExportOptions *opts,
                              CpOnnxExportInfo         *info,
                              CpError                  *error);

#ifdef __cplusplus
}
#endif
