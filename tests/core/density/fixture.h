/* fixture.h: reads the named-array files written by make-fixtures.py. */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  char     name[33];
  int      dtype;          /* 0 f64, 1 f32, 2 u8 */
  int      ndim;
  size_t   shape[4];
  size_t   count;
  void    *data;
} FixtureArray;

typedef struct
{
  int          count;
  FixtureArray arrays[64];
} Fixture;

static inline void
fixture_free (Fixture *fx)
{
  for (int i = 0; i < fx->count; i++)
    free (fx->arrays[i].data);
  fx->count = 0;
}

/* Opens $CP_SOURCE_ROOT/tests/core/density/fixtures/@name; returns 0 when it
 * is missing or malformed. */
static inline int
fixture_load (Fixture *fx, const char *name)
{
  const char *root = getenv ("CP_SOURCE_ROOT");
  char path[4096];
  FILE *f;
  char magic[8];
  uint32_t count;

  memset (fx, 0, sizeof *fx);
  snprintf (path, sizeof path, "%s/tests/core/density/fixtures/%s", root ? root : ".", name);
  f = fopen (path, "rb");
  if (f == NULL)
    {
      fprintf (stderr, "cannot open fixture %s\n", path);
      return 0;
    }
  if (fread (magic, 1, 8, f) != 8 || memcmp (magic, "CPFX0001", 8) != 0
      || fread (&count, 4, 1, f) != 1 || count > 64)
    goto bad;
  for (uint32_t i = 0; i < count; i++)
    {
      FixtureArray *a = &fx->arrays[i];
      uint32_t header[2], dim;
      size_t elem;

      if (fread (a->name, 1, 32, f) != 32 || fread (header, 4, 2, f) != 2 || header[0] > 2 || header[1] > 4)
        goto bad;
      a->name[32] = '\0';
      a->dtype = (int) header[0];
      a->ndim = (int) header[1];
      a->count = 1;
      for (int d = 0; d < a->ndim; d++)
        {
          if (fread (&dim, 4, 1, f) != 1)
            goto bad;
          a->shape[d] = dim;
          a->count *= dim;
        }
      elem = a->dtype == 0 ? 8 : a->dtype == 1 ? 4 : 1;
      a->data = malloc (a->count * elem + 1);
      fx->count++;
      if (a->data == NULL || fread (a->data, elem, a->count, f) != a->count)
        goto bad;
    }
  fclose (f);
  return 1;

bad:
  fprintf (stderr, "malformed fixture %s\n", path);
  fclose (f);
  fixture_free (fx);
  return 0;
}

static inline const FixtureArray *
fixture_get (const Fixture *fx, const char *name, int dtype)
{
  for (int i = 0; i < fx->count; i++)
    if (strcmp (fx->arrays[i].name, name) == 0 && fx->arrays[i].dtype == dtype)
      return &fx->arrays[i];
  fprintf (stderr, "fixture array %s (dtype %d) missing\n", name, dtype);
  abort ();
}

#define FIXTURE_F64(fx, name) ((const double *) fixture_get ((fx), (name), 0)->data)
#define FIXTURE_F32(fx, name) ((const float *) fixture_get ((fx), (name), 1)->data)
#define FIXTURE_U8(fx, name) ((const uint8_t *) fixture_get ((fx), (name), 2)->data)
