/* fault-inspect.c: what the fault tests need to know about model and
 * checkpoint files, with the project's own safetensors reader.
 *
 *   fault-inspect finite FILE        exit 0 when FILE opens and every float
 *                                    tensor is finite; prints its "step"
 *   fault-inspect same-tensors A B   exit 0 when A and B hold the same
 *                                    tensors (names, dtypes, shapes and
 *                                    bytes); prints how many
 *   fault-inspect meta FILE KEY      prints the metadata value of KEY
 *   fault-inspect poison IN OUT TENSOR VALUE
 *                                    writes a copy of IN (tensors and
 *                                    metadata) whose F32 tensor TENSOR holds
 *                                    VALUE everywhere: weights that have
 *                                    diverged, for the fault tests
 * Exit 1 on a difference (told on stderr), 2 on a usage or read error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/safetensors.h"

static CpSafetensors *
open_or_die (const char *path)
{
  CpError error = { 0 };
  CpSafetensors *st = cp_safetensors_open (path, &error);

  if (st == NULL)
    fprintf (stderr, "fault-inspect: %s\n", error.message);
  return st;
}

static int
cmd_finite (const char *path)
{
  CpSafetensors *st = open_or_die (path);
  long bad = 0;

  if (st == NULL)
    return 2;
  for (int i = 0; i < cp_safetensors_count (st); i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      size_t n = info->nbytes / cp_dtype_size (info->dtype);
      float *values;

      if (info->dtype != CP_DTYPE_F32 && info->dtype != CP_DTYPE_F16
          && info->dtype != CP_DTYPE_BF16 && info->dtype != CP_DTYPE_F64)
        continue;
      values = malloc ((n ? n : 1) * sizeof *values);
      if (values == NULL
          || cp_safetensors_read_f32 (st, info->name, info->shape, info->ndim, values, NULL) != CP_OK)
        {
          fprintf (stderr, "fault-inspect: %s: cannot read %s\n", path, info->name);
          free (values);
          cp_safetensors_close (st);
          return 2;
        }
      for (size_t k = 0; k < n; k++)
        if (!isfinite (values[k]))
          {
            if (bad == 0)
              fprintf (stderr, "fault-inspect: %s: %s[%zu] = %g\n", path, info->name, k, values[k]);
            bad++;
          }
      free (values);
    }
  printf ("%s\n", cp_safetensors_metadata (st, "step") ? cp_safetensors_metadata (st, "step") : "-");
  cp_safetensors_close (st);
  if (bad > 0)
    fprintf (stderr, "fault-inspect: %s: %ld values are not finite\n", path, bad);
  return bad > 0;
}

static int
cmd_same (const char *path_a, const char *path_b)
{
  CpSafetensors *a = open_or_die (path_a);
  CpSafetensors *b = a ? open_or_die (path_b) : NULL;
  int differ = 0;

  if (a == NULL || b == NULL)
    {
      cp_safetensors_close (a);
      return 2;
    }
  if (cp_safetensors_count (a) != cp_safetensors_count (b))
    {
      fprintf (stderr, "fault-inspect: %d tensors in %s, %d in %s\n", cp_safetensors_count (a),
               path_a, cp_safetensors_count (b), path_b);
      differ = 1;
    }
  for (int i = 0; i < cp_safetensors_count (a); i++)
    {
      const CpTensorInfo *ia = cp_safetensors_info (a, i);
      const CpTensorInfo *ib = cp_safetensors_find (b, ia->name);

      if (ib == NULL || ia->dtype != ib->dtype || ia->ndim != ib->ndim
          || memcmp (ia->shape, ib->shape, sizeof ia->shape) != 0 || ia->nbytes != ib->nbytes)
        {
          fprintf (stderr, "fault-inspect: tensor %s: missing or of another dtype/shape in %s\n",
                   ia->name, path_b);
          differ = 1;
          continue;
        }
      if (memcmp (cp_safetensors_data (a, ia), cp_safetensors_data (b, ib), ia->nbytes) != 0)
        {
          const unsigned char *pa = cp_safetensors_data (a, ia), *pb = cp_safetensors_data (b, ib);
          size_t k = 0;

          while (pa[k] == pb[k])
            k++;
          fprintf (stderr, "fault-inspect: tensor %s differs (first at byte %zu)\n", ia->name, k);
          differ = 1;
        }
    }
  if (!differ)
    printf ("%d tensors identical\n", cp_safetensors_count (a));
  cp_safetensors_close (a);
  cp_safetensors_close (b);
  return differ;
}

static int
cmd_poison (const char *in, const char *out, const char *target, const char *value_text)
{
  CpSafetensors *st = open_or_die (in);
  CpSafetensorsWriter *w;
  CpError error = { 0 };
  float value = strtof (value_text, NULL);
  int found = 0, rc = 2;

  if (st == NULL)
    return 2;
  w = cp_safetensors_writer_new ();
  for (int i = 0; i < cp_safetensors_count (st); i++)
    {
      const CpTensorInfo *info = cp_safetensors_info (st, i);
      unsigned char *copy = malloc (info->nbytes ? info->nbytes : 1);

      memcpy (copy, cp_safetensors_data (st, info), info->nbytes);
      if (strcmp (info->name, target) == 0 && info->dtype == CP_DTYPE_F32)
        {
          for (size_t k = 0; k < info->nbytes / 4; k++)
            memcpy (copy + 4 * k, &value, 4);
          found = 1;
        }
      if (cp_safetensors_writer_add (w, info->name, info->dtype, info->shape, info->ndim, copy, &error) != CP_OK)
        {
          free (copy);
          goto out;
        }
      free (copy);
    }
  for (int i = 0; i < cp_safetensors_metadata_count (st); i++)
    if (cp_safetensors_writer_set_metadata (w, cp_safetensors_metadata_key (st, i),
                                            cp_safetensors_metadata_value (st, i), &error) != CP_OK)
      goto out;
  if (!found)
    {
      fprintf (stderr, "fault-inspect: %s: no F32 tensor %s\n", in, target);
      goto out;
    }
  if (cp_safetensors_writer_save (w, out, &error) != CP_OK)
    goto out;
  rc = 0;
out:
  if (rc != 0 && error.message[0])
    fprintf (stderr, "fault-inspect: %s\n", error.message);
  cp_safetensors_writer_free (w);
  cp_safetensors_close (st);
  return rc;
}

int
main (int argc, char **argv)
{
  if (argc == 6 && strcmp (argv[1], "poison") == 0)
    return cmd_poison (argv[2], argv[3], argv[4], argv[5]);
  if (argc == 3 && strcmp (argv[1], "finite") == 0)
    return cmd_finite (argv[2]);
  if (argc == 4 && strcmp (argv[1], "same-tensors") == 0)
    return cmd_same (argv[2], argv[3]);
  if (argc == 4 && strcmp (argv[1], "meta") == 0)
    {
      CpSafetensors *st = open_or_die (argv[2]);
      const char *v;

      if (st == NULL)
        return 2;
      v = cp_safetensors_metadata (st, argv[3]);
      printf ("%s\n", v ? v : "");
      cp_safetensors_close (st);
      return v ? 0 : 1;
    }
  fprintf (stderr, "usage: fault-inspect finite FILE | same-tensors A B | meta FILE KEY"
           " | poison IN OUT TENSOR VALUE\n");
  return 2;
}
