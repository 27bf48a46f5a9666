/* torch-pickle.h: a restricted unpickler for the data.pkl of torch.save.
 *
 * torch.save pickles a state dict (protocol 2): an OrderedDict whose
 * values are tensors rebuilt by torch._utils._rebuild_tensor_v2 from
 * storages named by persistent ids ('storage', torch.FloatStorage, key,
 * location, numel).  Python's unpickler runs whatever callable a pickle
 * names; this one runs nothing.  It knows a fixed allow-list of opcodes
 * and of globals (docs/weights.md lists both), builds plain values for
 * them, and refuses anything else with a message naming the opcode or
 * the global.  Every length is checked against the bytes left before
 * anything is allocated for it, and the memo, the stack and the nesting
 * of marks are bounded.
 *
 * The result describes tensors (name, dtype, storage, offset, shape,
 * strides); the storages' bytes are read by the caller (pth.h).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "safetensors.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct
{
  char     *name;          /* state-dict key */
  CpDtype   dtype;         /* F32, F16, BF16, F64 or I64, from the storage type */
  char     *storage_key;   /* the record data/<key> of the archive */
  uint64_t  storage_numel; /* elements of the whole storage */
  uint64_t  offset;        /* first element of the tensor in its storage */
  int       ndim;
  int64_t   shape[CP_SAFETENSORS_MAX_DIMS];
  int64_t   stride[CP_SAFETENSORS_MAX_DIMS];   /* in elements */
} CpTorchTensorRef;

typedef struct
{
  CpTorchTensorRef *tensors;   /* in the dict's order */
  int               count;
  int               skipped;   /* entries whose value is not a tensor */
} CpTorchStateDict;

/* Unpickles @pkl[0..size) (@label names it in messages) into @out.  The
 * pickle must hold a dict or OrderedDict with string keys; tensors of
 * its values are listed, other values are counted in @out->skipped.
 * Every tensor is checked to lie inside its storage (offset, shape and
 * strides, without overflow).  On failure @out is left empty. */
CpStatus cp_torch_pickle_load_state_dict (const void       *pkl,
                                          size_t            size,
                                          const char       *label,
                                          CpTorchStateDict *out,
                                          CpError          *error);

void     cp_torch_state_dict_clear       (CpTorchStateDict *sd);

#ifdef __cplusplus
}
#endif
