/* fuzz-dataset.c: the dataset scanner (engine/data/dataset.h) on folder
 * trees built from the fuzz input.
 *
 * Encoding, one entry per line ('\n'):
 *   d PATH           a folder (parents created)
 *   f PATH\tBYTES    a file holding BYTES (to the end of the line)
 *   f PATH\t@png     a file holding a valid 4x4 PNG (so decoding runs)
 *   l PATH\tTARGET   a symbolic link to TARGET
 * PATH is relative to the dataset root; components are cleaned ("", "."
 * and ".." dropped, at most 8 deep and 64 bytes each) so nothing is ever
 * created outside the scratch folder.  A link target may not start with
 * '/' or hold "..", for the same reason (links to each other, to
 * themselves and to missing paths are all fine, and wanted).
 *
 * Then: scan the root, scan each category found, check what the scan
 * promises (sorted, labels, masks exist), and decode up to 4 training
 * images through the training-image cache.
 */
#include <string.h>
#include <unistd.h>

#include "data/dataset.h"
#include "fuzz-common.h"
#include "fuzz-tmp.h"

/* A 4x4 RGB PNG (written with zlib by hand). */
static const uint8_t tiny_png[] = {
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x02, 0x00, 0x00, 0x00, 0x26, 0x93, 0x09,
  0x29, 0x00, 0x00, 0x00, 0x29, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x0d, 0xc7, 0x31, 0x01, 0x00,
  0x00, 0x0c, 0xc2, 0x30, 0x84, 0x55, 0x18, 0x67, 0x45, 0x21, 0x70, 0xcb, 0x97, 0x24, 0x12, 0x1b,
  0x17, 0x13, 0x04, 0x8b, 0xe3, 0x53, 0xa9, 0xad, 0xeb, 0x67, 0x32, 0x3b, 0x37, 0x0f, 0xa7, 0x63,
  0x13, 0x41, 0x06, 0x1a, 0x2b, 0x55, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42,
  0x60, 0x82,
};

#define MAX_ENTRIES 64

/* The cleaned relative path of @text[0..length), or NULL when nothing is
 * left of it. */
static char *
clean_path (const char *text, size_t length)
{
  GString *out = g_string_new (NULL);
  size_t start = 0;
  int depth = 0;

  for (size_t i = 0; i <= length && depth < 8; i++)
    if (i == length || text[i] == '/')
      {
        size_t n = i - start;
        const char *c = text + start;

        start = i + 1;
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
          continue;
        if (n > 64)
          n = 64;
        if (out->len > 0)
          g_string_append_c (out, '/');
        for (size_t k = 0; k < n; k++)
          g_string_append_c (out, c[k] == '\0' ? '_' : c[k]);
        depth++;
      }
  if (out->len == 0)
    {
      g_string_free (out, TRUE);
      return NULL;
    }
  return g_string_free (out, FALSE);
}

static void
make_parent (const char *path)
{
  char *parent = g_path_get_dirname (path);
  g_mkdir_with_parents (parent, 0700);
  g_free (parent);
}

static void
build_tree (const char *root, const uint8_t *data, size_t size)
{
  size_t pos = 0;
  int entries = 0;

  while (pos < size && entries < MAX_ENTRIES)
    {
      const uint8_t *nl = memchr (data + pos, '\n', size - pos);
      size_t end = nl ? (size_t) (nl - data) : size;
      const char *line = (const char *) data + pos;
      size_t len = end - pos;
      const char *tab;
      size_t path_len;
      char *rel, *full;

      pos = end + 1;
      entries++;
      if (len < 2 || line[1] != ' ')
        continue;
      tab = memchr (line + 2, '\t', len - 2);
      path_len = tab ? (size_t) (tab - (line + 2)) : len - 2;
      rel = clean_path (line + 2, path_len);
      if (rel == NULL)
        continue;
      full = g_build_filename (root, rel, NULL);
      make_parent (full);
      switch (line[0])
        {
        case 'd':
          g_mkdir_with_parents (full, 0700);
          break;
        case 'f':
          {
            const char *content = tab ? tab + 1 : line + len;
            size_t content_len = (size_t) (line + len - content);

            if (content_len == 4 && memcmp (content, "@png", 4) == 0)
              g_file_set_contents (full, (const char *) tiny_png, sizeof tiny_png, NULL);
            else
              g_file_set_contents (full, content, (gssize) content_len, NULL);
          }
          break;
        case 'l':
          if (tab != NULL)
            {
              size_t tlen = (size_t) (line + len - (tab + 1));
              char *target = g_strndup (tab + 1, tlen);

              if (tlen > 0 && strlen (target) == tlen && target[0] != '/' && strstr (target, "..") == NULL)
                if (symlink (target, full) != 0)
                  { /* an existing entry of that name: fine */ }
              g_free (target);
            }
          break;
        default:
          break;
        }
      g_free (full);
      g_free (rel);
    }
}

static void
check_samples (const CpSample *samples, size_t n, gboolean train)
{
  for (size_t i = 0; i < n; i++)
    {
      const CpSample *s = &samples[i];

      FUZZ_ASSERT (s->path != NULL && s->name != NULL && s->defect != NULL);
      FUZZ_ASSERT (cp_dataset_is_image_name (s->name));
      FUZZ_ASSERT (g_str_has_suffix (s->path, s->name));
      if (train)
        FUZZ_ASSERT (s->label == CP_LABEL_GOOD && strcmp (s->defect, "good") == 0);
      if (s->label == CP_LABEL_GOOD)
        FUZZ_ASSERT (s->mask_path == NULL);
      if (s->mask_path != NULL)
        FUZZ_ASSERT (g_file_test (s->mask_path, G_FILE_TEST_IS_REGULAR));
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *root = g_build_filename (fuzz_tmp_get (), "root", NULL);
  GError *error = NULL;
  char **categories;

  cp_test_remove_tree (root);
  g_mkdir (root, 0700);
  build_tree (root, data, size);

  categories = cp_dataset_scan_root (root, &error);
  if (categories == NULL)
    {
      FUZZ_ASSERT (error != NULL && error->domain == CP_DATA_ERROR);
      g_clear_error (&error);
    }
  for (int c = 0; categories != NULL && categories[c] != NULL; c++)
    {
      CpCategory *cat = cp_dataset_scan_category (root, categories[c], &error);

      if (c > 0)
        FUZZ_ASSERT (strcmp (categories[c - 1], categories[c]) < 0);
      if (cat == NULL)
        {
          FUZZ_ASSERT (error != NULL);
          g_clear_error (&error);
          continue;
        }
      FUZZ_ASSERT (cat->n_train > 0);
      FUZZ_ASSERT (cat->n_test == cat->n_test_good + cat->n_test_defect);
      check_samples (cat->train, cat->n_train, TRUE);
      check_samples (cat->test, cat->n_test, FALSE);
      for (size_t i = 1; i < cat->n_train; i++)
        FUZZ_ASSERT (strcmp (cat->train[i - 1].name, cat->train[i].name) < 0);
      for (size_t i = 0; cat->defect_types != NULL && cat->defect_types[i] != NULL; i++)
        FUZZ_ASSERT (strcmp (cat->defect_types[i], "good") != 0);

      {
        const char *paths[4];
        size_t n = MIN (cat->n_train, G_N_ELEMENTS (paths));
        CpImageCache *cache;

        for (size_t i = 0; i < n; i++)
          paths[i] = cat->train[i].path;
        cache = cp_image_cache_new (paths, n, 32, 1, NULL, NULL, NULL, &error);
        if (cache != NULL)
          {
            FUZZ_ASSERT (cache->n + cache->n_failed == n);
            FUZZ_ASSERT (cache->n > 0);
            cp_image_cache_free (cache);
          }
        else
          {
            FUZZ_ASSERT (error != NULL);
            g_clear_error (&error);
          }
      }
      cp_category_free (cat);
    }
  g_strfreev (categories);
  cp_test_remove_tree (root);
  g_free (root);
  return 0;
}
