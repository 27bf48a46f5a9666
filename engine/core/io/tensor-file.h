/* tensor-file.h: opening a file of named tensors whatever its format.
 *
 * Weights reach us as safetensors files (our models and checkpoints, the
 * reference's, timm's model.safetensors) or as torch.save archives
 * (torchvision's resnet18-f37072fd.pth).  The format is told by the first
 * bytes, never by the file name; both come back as a CpSafetensors.
 * PyTorch's legacy (non-zip) format and bare pickles are refused with a
 * message that says what to do instead.
 */
#pragma once

#include <stddef.h>

#include "core/status.h"
#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest file cp_tensor_file_open reads (the whole file is read). */
#define CP_TENSOR_FILE_MAX_BYTES ((size_t) 2 << 30)

CpSafetensors *cp_tensor_file_open        (const char *path,
                                           CpError    *error);
/* The same on bytes already in memory (not kept). */
CpSafetensors *cp_tensor_file_from_memory (const void *bytes,
                                           size_t      size,
                                           const char *label,
                                           CpError    *error);

#ifdef __cplusplus
}
#endif
