/* pth.h: the files torch.save writes (PyTorch 1.6 and later), read with no
 * Python and nothing executed.
 *
 * Such a file is a zip archive (zip.h) whose entries sit in one top folder
 * of any name: <top>/data.pkl, the pickled state dict (read by the
 * restricted unpickler of torch-pickle.h); <top>/data/<key>, the raw bytes
 * of each storage; and the optional <top>/byteorder ("little" or "big")
 * and <top>/version records.  The tensors are copied out of their storages
 * (following offsets and strides, swapping bytes when the file was written
 * on a big-endian machine) into a safetensors image in memory, so that the
 * result is an ordinary CpSafetensors: everything that reads tensors by
 * name (cp_network_load, the ImageNet weights check) reads .pth files too.
 *
 * Sizes are checked before anything is allocated: each storage record
 * must hold exactly the elements its persistent id declares, and all the
 * tensors together may not take more than twice the archive (views that
 * repeat a storage are legal but rare in a state dict).
 */
#pragma once

#include <stddef.h>

#include "core/status.h"
#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads the torch.save archive @bytes[0..size) (copied from; the caller
 * keeps its buffer).  @label (a path) names it in messages.  The tensors
 * keep their state-dict names and order; __metadata__ holds "format":
 * "pt" and "source": "torch.save". */
CpSafetensors *cp_pth_from_memory (const void *bytes,
                                   size_t      size,
                                   const char *label,
                                   CpError    *error);

/* Whether @bytes begin as a zip archive does. */
int            cp_pth_is_zip      (const void *bytes,
                                   size_t      size);

/* Whether @bytes begin with the magic number of PyTorch's legacy
 * serialisation (before 1.6, or _use_new_zipfile_serialization=False),
 * which this program refuses: reading it needs a full unpickler. */
int            cp_pth_is_legacy   (const void *bytes,
                                   size_t      size);

#ifdef __cplusplus
}
#endif
