/* serve-token.h: the bearer token of the scoring service.
 *
 * The token is kept as its SHA-256 digest, and a presented token is
 * compared digest to digest over all 32 bytes whatever they hold, so the
 * time a check takes says nothing about how much of a guess was right,
 * nor about the token's length.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define CP_SERVE_TOKEN_DIGEST 32

typedef struct
{
  guint8 digest[CP_SERVE_TOKEN_DIGEST];
} CpServeToken;

/* Reads the token from @path: the file's text without surrounding white
 * space (a trailing newline is usual).  Fails on an empty token. */
gboolean cp_serve_token_load   (CpServeToken *token,
                                const char   *path,
                                GError      **error);
void     cp_serve_token_set    (CpServeToken *token,
                                const char   *text);
/* Whether the value of an Authorization header, "Bearer TOKEN" (scheme
 * case-insensitive), carries @token. */
gboolean cp_serve_token_check  (const CpServeToken *token,
                                const char         *authorization);

G_END_DECLS
