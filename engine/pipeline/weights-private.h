/* weights-private.h: what weights.c shares with weights-fetch.c. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "resnet18-*.pth" or "resnet18-*.safetensors": a name our cache uses. */
gboolean cp_weights_is_candidate_name (const char *name);
/* The hash torch.hub reads in a file name ("resnet18-f37072fd.pth" gives
 * "f37072fd"), or NULL when the name carries none. */
char    *cp_weights_hash_prefix       (const char *path);
char    *cp_weights_sha256_hex        (const void *bytes, gsize size);
/* The checks of a weights file already in memory: SHA-256 @sha256 against
 * the hash in @name_for_hash (may be NULL), then the content. */
gboolean cp_weights_check_bytes       (const char *label, const void *bytes, gsize size,
                                       const char *sha256, const char *name_for_hash,
                                       GError **error);
/* "resnet18-<8 hex>.pth" or ".safetensors", by content. */
char    *cp_weights_cache_name        (const char *sha256, const void *bytes, gsize size);
/* Creates the cache folder when missing. */
gboolean cp_weights_ensure_cache_dir  (char **dir, GError **error);

G_END_DECLS
