/* patch-density.c: Gaussians over the patch grid (SPEC 7). */
#include "localize.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct CpPatchDensity
{
  CpPatchDensityKind kind;
  int     grid_h, grid_w;
  int     cells;            /* blocks per side (1 for shared) */
  int     count;            /* Gaussians: cells * cells */
  CpGdeInput input;         /* L2-normalised embeddings (patch model) or raw features */
  CpGde **gdes;
};

const char *
cp_patch_density_kind_to_string (CpPatchDensityKind kind)
{
  switch (kind)
    {
    case CP_PATCH_DENSITY_SHARED:
      return "shared";
    case CP_PATCH_DENSITY_PER_LOCATION:
      return "per-location";
    default:
      return NULL;
    }
}

int
cp_patch_density_kind_from_string (const char *name, CpPatchDensityKind *kind)
{
  if (name == NULL)
    return 0;
  if (strcasecmp (name, "shared") == 0)
    *kind = CP_PATCH_DENSITY_SHARED;
  else if (strcasecmp (name, "per-location") == 0)
    *kind = CP_PATCH_DENSITY_PER_LOCATION;
  else
    return 0;
  return 1;
}

CpPatchDensity *
cp_patch_density_new (CpPatchDensityKind kind, int grid_h, int grid_w, int cells, CpError *error)
{
  CpPatchDensity *d;

  if (grid_h < 1 || grid_w < 1 || cp_patch_density_kind_to_string (kind) == NULL)
    {
      cp_error_set (error, CP_ERR_INVALID, "patch density: bad grid %d x %d or kind %d", grid_h,
                    grid_w, (int) kind);
      return NULL;
    }
  if (kind == CP_PATCH_DENSITY_SHARED || cells < 1)
    cells = 1;
  if (cells > grid_h)
    cells = grid_h;
  if (cells > grid_w)
    cells = grid_w;
  d = calloc (1, sizeof *d);
  if (d == NULL)
    {
      cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory");
      return NULL;
    }
  d->kind = kind;
  d->grid_h = grid_h;
  d->grid_w = grid_w;
  d->cells = cells;
  d->count = cells * cells;
  d->gdes = calloc ((size_t) d->count, sizeof *d->gdes);
  if (d->gdes == NULL)
    {
      free (d);
      cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory");
      return NULL;
    }
  return d;
}

void
cp_patch_density_free (CpPatchDensity *d)
{
  if (d == NULL)
    return;
  for (int g = 0; g < d->count; g++)
    cp_gde_free (d->gdes[g]);
  free (d->gdes);
  free (d);
}

CpPatchDensityKind cp_patch_density_kind (const CpPatchDensity *d) { return d->kind; }
int cp_patch_density_grid_h (const CpPatchDensity *d) { return d->grid_h; }
int cp_patch_density_grid_w (const CpPatchDensity *d) { return d->grid_w; }
int cp_patch_density_cells (const CpPatchDensity *d) { return d->cells; }
int cp_patch_density_count (const CpPatchDensity *d) { return d->count; }
CpGdeInput cp_patch_density_input (const CpPatchDensity *d) { return d->input; }

void
cp_patch_density_set_input (CpPatchDensity *d, CpGdeInput input)
{
  d->input = input;
}

int
cp_patch_density_index (const CpPatchDensity *d, int i, int j)
{
  int ci = (int) ((long) i * d->cells / d->grid_h);
  int cj = (int) ((long) j * d->cells / d->grid_w);

  return ci * d->cells + cj;
}

const CpGde *
cp_patch_density_gde (const CpPatchDensity *d, int g)
{
  return g >= 0 && g < d->count ? d->gdes[g] : NULL;
}

CpStatus
cp_patch_density_fit (CpPatchDensity *d, const float *x, int n_images, int m, const int *loc_i,
                      const int *loc_j, int dim, CpError *error)
{
  int *group = malloc ((size_t) m * sizeof *group);
  int *rows = calloc ((size_t) d->count, sizeof *rows);
  float *buf = NULL;
  CpStatus status = CP_OK;
  int most = 0;

  if (group == NULL || rows == NULL)
    {
      status = cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory");
      goto out;
    }
  for (int k = 0; k < m; k++)
    {
      if (loc_i[k] < 0 || loc_i[k] >= d->grid_h || loc_j[k] < 0 || loc_j[k] >= d->grid_w)
        {
          status = cp_error_set (error, CP_ERR_INVALID,
                                 "patch density: location (%d, %d) is outside the %d x %d grid",
                                 loc_i[k], loc_j[k], d->grid_h, d->grid_w);
          goto out;
        }
      group[k] = cp_patch_density_index (d, loc_i[k], loc_j[k]);
      rows[group[k]] += n_images;
    }
  for (int g = 0; g < d->count; g++)
    {
      if (rows[g] < 2)
        {
          status = cp_error_set (error, CP_ERR_INVALID,
                                 "patch density: Gaussian %d of %d has %d embeddings; at least 2 "
                                 "are needed (more images or a denser fitting grid)",
                                 g, d->count, rows[g]);
          goto out;
        }
      if (rows[g] > most)
        most = rows[g];
    }
  if (d->count > 1)
    {
      buf = malloc ((size_t) most * dim * sizeof *buf);
      if (buf == NULL)
        {
          status = cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory for %d rows", most);
          goto out;
        }
    }
  for (int g = 0; g < d->count; g++)
    {
      const float *rows_of_g = x;
      int n = n_images * m;

      if (d->count > 1)
        {
          /* Gather the rows of this Gaussian's block from every image. */
          n = 0;
          for (int im = 0; im < n_images; im++)
            for (int k = 0; k < m; k++)
              if (group[k] == g)
                memcpy (buf + (size_t) n++ * dim, x + ((size_t) im * m + k) * dim,
                        (size_t) dim * sizeof *buf);
          rows_of_g = buf;
        }
      cp_gde_free (d->gdes[g]);
      d->gdes[g] = cp_gde_fit_input (rows_of_g, n, dim, d->input, error);
      if (d->gdes[g] == NULL)
        {
          status = error ? error->code : CP_ERR_NUMERIC;
          if (error)
            cp_error_prefix (error, "patch Gaussian %d of %d", g, d->count);
          goto out;
        }
    }
out:
  free (group);
  free (rows);
  free (buf);
  return status;
}

CpStatus
cp_patch_density_set (CpPatchDensity *d, int g, const float *mean, const float *precision, int dim,
                      CpError *error)
{
  CpGde *gde;

  if (g < 0 || g >= d->count)
    return cp_error_set (error, CP_ERR_INVALID, "patch density: no Gaussian %d", g);
  gde = cp_gde_new_from_f32_input (mean, precision, dim, d->input, error);
  if (gde == NULL)
    return error ? error->code : CP_ERR_INVALID;
  cp_gde_free (d->gdes[g]);
  d->gdes[g] = gde;
  return CP_OK;
}

CpStatus
cp_patch_density_score_at (const CpPatchDensity *d, const float *x, int n, const int *loc_i,
                           const int *loc_j, int dim, float *scores, CpError *error)
{
  double *out = malloc ((size_t) (n > 0 ? n : 1) * sizeof *out);
  float *buf = NULL;
  int *where = NULL, *group = NULL;
  CpStatus status = CP_OK;

  if (out == NULL)
    return cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory");
  for (int g = 0; g < d->count; g++)
    if (d->gdes[g] == NULL || cp_gde_dim (d->gdes[g]) != dim)
      {
        free (out);
        return cp_error_set (error, CP_ERR_INVALID, "patch density: Gaussian %d is missing or not %d-d",
                             g, dim);
      }
  if (d->count == 1)
    {
      status = cp_gde_score (d->gdes[0], x, n, out, error);
      for (int k = 0; status == CP_OK && k < n; k++)
        scores[k] = (float) out[k];
      free (out);
      return status;
    }
  buf = malloc ((size_t) (n > 0 ? n : 1) * dim * sizeof *buf);
  where = malloc ((size_t) (n > 0 ? n : 1) * sizeof *where);
  group = malloc ((size_t) (n > 0 ? n : 1) * sizeof *group);
  if (buf == NULL || where == NULL || group == NULL)
    status = cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory");
  for (int k = 0; status == CP_OK && k < n; k++)
    {
      if (loc_i[k] < 0 || loc_i[k] >= d->grid_h || loc_j[k] < 0 || loc_j[k] >= d->grid_w)
        status = cp_error_set (error, CP_ERR_INVALID,
                               "patch density: location (%d, %d) is outside the %d x %d grid",
                               loc_i[k], loc_j[k], d->grid_h, d->grid_w);
      else
        group[k] = cp_patch_density_index (d, loc_i[k], loc_j[k]);
    }
  /* Rows of one Gaussian are gathered so that it scores them with one
   * blocked call; @out is scratch for that block's scores. */
  for (int g = 0; g < d->count && status == CP_OK; g++)
    {
      int m = 0;
      for (int k = 0; k < n; k++)
        if (group[k] == g)
          {
            memcpy (buf + (size_t) m * dim, x + (size_t) k * dim, (size_t) dim * sizeof *buf);
            where[m++] = k;
          }
      if (m == 0)
        continue;
      status = cp_gde_score (d->gdes[g], buf, m, out, error);
      for (int k = 0; status == CP_OK && k < m; k++)
        scores[where[k]] = (float) out[k];
    }
  free (out);
  free (buf);
  free (where);
  free (group);
  return status;
}

CpStatus
cp_patch_density_score (const CpPatchDensity *d, const float *x, int dim, float *scores,
                        CpError *error)
{
  int total = d->grid_h * d->grid_w;
  int *li = malloc ((size_t) total * sizeof *li), *lj = malloc ((size_t) total * sizeof *lj);
  CpStatus status;

  if (li == NULL || lj == NULL)
    {
      free (li);
      free (lj);
      return cp_error_set (error, CP_ERR_NOMEM, "patch density: out of memory");
    }
  for (int k = 0; k < total; k++)
    {
      li[k] = k / d->grid_w;
      lj[k] = k % d->grid_w;
    }
  status = cp_patch_density_score_at (d, x, total, li, lj, dim, scores, error);
  free (li);
  free (lj);
  return status;
}
