/* serve-token.c: bearer token digest and constant-time check. */
#include "serve-token.h"

#include <string.h>

static void
digest_of (const char *text, gsize length, guint8 *out)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize n = CP_SERVE_TOKEN_DIGEST;

  g_checksum_update (sum, (const guchar *) text, length);
  g_checksum_get_digest (sum, out, &n);
}

void
cp_serve_token_set (CpServeToken *token, const char *text)
{
  digest_of (text, strlen (text), token->digest);
}

gboolean
cp_serve_token_load (CpServeToken *token, const char *path, GError **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;

  if (!g_file_get_contents (path, &contents, &length, error))
    return FALSE;
  if (strlen (contents) != length)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "token file %s holds a NUL byte", path);
      return FALSE;
    }
  g_strstrip (contents);
  if (contents[0] == '\0')
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "token file %s is empty", path);
      return FALSE;
    }
  cp_serve_token_set (token, contents);
  /* The token's text does not stay in memory longer than needed. */
  memset (contents, 0, length);
  return TRUE;
}

gboolean
cp_serve_token_check (const CpServeToken *token, const char *authorization)
{
  guint8 given[CP_SERVE_TOKEN_DIGEST];
  const char *value;
  volatile guint8 diff = 0;

  if (authorization == NULL || g_ascii_strncasecmp (authorization, "Bearer ", 7) != 0)
    return FALSE;
  value = authorization + 7;
  while (*value == ' ')
    value++;
  digest_of (value, strlen (value), given);
  for (int i = 0; i < CP_SERVE_TOKEN_DIGEST; i++)
    diff |= given[i] ^ token->digest[i];
  return diff == 0;
}
