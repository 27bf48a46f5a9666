/* synth.c: procedural inspection images (woven fabric, toothed washer) with
 * scratches, stains, holes, missing and bent teeth, and their exact masks. */
#include "synth.h"
#include "core/tsan.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "core/rng.h"
#include "image.h"
#include "png-write.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

static const char *const synth_categories[] = { "washer", "weave", NULL };
static const char *const washer_defects[] = { "bent", "missing_tooth", "scratch", "stain", NULL };
static const char *const weave_defects[] = { "hole", "scratch", "stain", NULL };

const char * const *
cp_synth_categories (void)
{
  return synth_categories;
}

const char * const *
cp_synth_defect_types (const char *category)
{
  if (g_strcmp0 (category, "washer") == 0)
    return washer_defects;
  if (g_strcmp0 (category, "weave") == 0)
    return weave_defects;
  return NULL;
}

void
cp_synth_options_init (CpSynthOptions *options)
{
  memset (options, 0, sizeof *options);
  options->seed = 1;
  options->size = 256;
  options->n_train = 80;
  options->n_test_good = 20;
  options->n_test_defect = 10;
}

/* ---- noise ----------------------------------------------------------------
 * Per-pixel randomness comes from hashes of (seed, lattice point), not from
 * the RNG stream: the picture is then a pure function of its parameters. */

static inline uint32_t
hash3 (uint32_t a,
       uint32_t b,
       uint32_t c)
{
  uint32_t h = a * 0x9e3779b1u ^ (b + 0x7f4a7c15u) * 0x85ebca77u ^ (c + 0x165667b1u) * 0xc2b2ae3du;

  h ^= h >> 15;
  h *= 0x2c1b3c6du;
  h ^= h >> 12;
  h *= 0x297a2d39u;
  h ^= h >> 15;
  return h;
}

static inline double
hash_unit (uint32_t seed,
           int      x,
           int      y)
{
  return (hash3 (seed, (uint32_t) x, (uint32_t) y) >> 8) * (1.0 / 16777216.0);
}

/* Smoothly interpolated lattice noise in [-1, 1]. */
static double
value_noise (uint32_t seed,
             double   x,
             double   y)
{
  double fx = floor (x), fy = floor (y);
  int ix = (int) fx, iy = (int) fy;
  double tx = x - fx, ty = y - fy;
  double a, b, c, d;

  tx = tx * tx * (3.0 - 2.0 * tx);
  ty = ty * ty * (3.0 - 2.0 * ty);
  a = hash_unit (seed, ix, iy);
  b = hash_unit (seed, ix + 1, iy);
  c = hash_unit (seed, ix, iy + 1);
  d = hash_unit (seed, ix + 1, iy + 1);
  return 2.0 * ((a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty) - 1.0;
}

static double
fbm (uint32_t seed,
     double   x,
     double   y,
     int      octaves)
{
  double sum = 0.0, amp = 0.5, norm = 0.0;

  for (int o = 0; o < octaves; o++)
    {
      sum += amp * value_noise (seed + (uint32_t) o * 101u, x, y);
      norm += amp;
      amp *= 0.5;
      x *= 2.03;
      y *= 2.03;
    }
  return sum / norm;
}

static inline double
clamp01 (double v)
{
  return v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
}

static inline double
smoothstep (double e0,
            double e1,
            double x)
{
  double t = clamp01 ((x - e0) / (e1 - e0));

  return t * t * (3.0 - 2.0 * t);
}

/* ---- the picture being drawn -------------------------------------------- */

typedef struct
{
  int       size;
  double    k;          /* size / 256: every length below is given at S = 256 */
  float    *rgb;        /* (S, S, 3), linear in [0, 1] */
  uint8_t  *mask;       /* (S, S), 0 or 1 */
  float    *material;   /* (S, S), object coverage (washer) or 1 (weave) */
  uint32_t  noise_seed;
} Canvas;

static inline float *
px (Canvas *c,
    int     x,
    int     y)
{
  return c->rgb + ((size_t) y * c->size + x) * 3;
}

/* A quadratic Bezier stroke: every pixel within its (tapered) half width
 * darkens or brightens, anti-aliased; the mask takes the pixels the stroke
 * covers at least half, restricted to @within_material. */
typedef struct
{
  double p[3][2];
  double half_width;
  gboolean bright;
  double strength;
} Stroke;

static gboolean
draw_stroke (Canvas       *c,
             const Stroke *s,
             gboolean      within_material)
{
  enum { N = 64 };
  double pts[N + 1][2];
  double x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
  gboolean any = FALSE;

  for (int i = 0; i <= N; i++)
    {
      double t = (double) i / N, u = 1.0 - t;

      pts[i][0] = u * u * s->p[0][0] + 2 * u * t * s->p[1][0] + t * t * s->p[2][0];
      pts[i][1] = u * u * s->p[0][1] + 2 * u * t * s->p[1][1] + t * t * s->p[2][1];
      x0 = fmin (x0, pts[i][0]);
      y0 = fmin (y0, pts[i][1]);
      x1 = fmax (x1, pts[i][0]);
      y1 = fmax (y1, pts[i][1]);
    }
  for (int y = MAX (0, (int) (y0 - 4)); y <= MIN (c->size - 1, (int) (y1 + 4)); y++)
    for (int x = MAX (0, (int) (x0 - 4)); x <= MIN (c->size - 1, (int) (x1 + 4)); x++)
      {
        double qx = x + 0.5, qy = y + 0.5, best = 1e9, best_t = 0.0;
        double hw, alpha, grain;
        float *p;

        for (int i = 0; i < N; i++)
          {
            double ex = pts[i + 1][0] - pts[i][0], ey = pts[i + 1][1] - pts[i][1];
            double len2 = ex * ex + ey * ey;
            double t = len2 > 0 ? ((qx - pts[i][0]) * ex + (qy - pts[i][1]) * ey) / len2 : 0.0;
            double dx, dy, d;

            t = clamp01 (t);
            dx = pts[i][0] + t * ex - qx;
            dy = pts[i][1] + t * ey - qy;
            d = dx * dx + dy * dy;
            if (d < best)
              {
                best = d;
                best_t = (i + t) / N;
              }
          }
        best = sqrt (best);
        /* Scratches are deepest in the middle and fade out at both ends. */
        hw = MAX (0.6, s->half_width * (0.35 + 0.65 * sin (M_PI * best_t)));
        alpha = clamp01 (hw + 0.5 - best);
        if (alpha <= 0.0)
          continue;
        if (within_material)
          alpha *= c->material[(size_t) y * c->size + x];
        grain = 0.75 + 0.25 * hash_unit (c->noise_seed + 77u, x, y);
        p = px (c, x, y);
        for (int ch = 0; ch < 3; ch++)
          {
            double v = p[ch];

            if (s->bright)
              v += alpha * s->strength * grain * (1.0 - v);
            else
              v *= 1.0 - alpha * s->strength * grain;
            p[ch] = (float) v;
          }
        if (alpha >= 0.5)
          {
            c->mask[(size_t) y * c->size + x] = 1;
            any = TRUE;
          }
      }
  return any;
}

/* A random gently curved stroke of length @len centred on (cx, cy). */
static void
stroke_random (CpRng  *rng,
               Stroke *s,
               double  cx,
               double  cy,
               double  len)
{
  double a = cp_rng_uniform_range (rng, 0.0, M_PI);
  double bend = cp_rng_uniform_range (rng, -0.3, 0.3);
  double dx = cos (a), dy = sin (a);

  s->p[0][0] = cx - dx * len / 2;
  s->p[0][1] = cy - dy * len / 2;
  s->p[2][0] = cx + dx * len / 2;
  s->p[2][1] = cy + dy * len / 2;
  s->p[1][0] = cx - dy * bend * len;
  s->p[1][1] = cy + dx * bend * len;
}

/* A soft-edged blob with a wavy outline, tinting the surface towards
 * @tint and leaving a darker drying ring at its edge (a coffee or oil
 * stain); the mask is the blob inside its nominal outline. */
typedef struct
{
  double cx, cy, rx, ry, angle;
  double tint[3];
  double strength;
  double softness;
  uint32_t shape_seed;
} Blob;

static gboolean
draw_blob (Canvas     *c,
           const Blob *b,
           gboolean    within_material)
{
  double reach = fmax (b->rx, b->ry) * 1.6 + 3;
  double ca = cos (b->angle), sa = sin (b->angle);
  gboolean any = FALSE;

  for (int y = MAX (0, (int) (b->cy - reach)); y <= MIN (c->size - 1, (int) (b->cy + reach)); y++)
    for (int x = MAX (0, (int) (b->cx - reach)); x <= MIN (c->size - 1, (int) (b->cx + reach)); x++)
      {
        double dx = x + 0.5 - b->cx, dy = y + 0.5 - b->cy;
        double lx = (dx * ca + dy * sa) / b->rx, ly = (-dx * sa + dy * ca) / b->ry;
        double r = hypot (lx, ly);
        double wave, q, alpha, ring, m;
        float *p;

        if (r > 1e-9)
          wave = 1.0 + 0.28 * value_noise (b->shape_seed, lx / r * 1.7 + 9.0, ly / r * 1.7 + 9.0)
                 + 0.10 * value_noise (b->shape_seed + 1u, lx / r * 5.0 + 3.0, ly / r * 5.0 + 3.0);
        else
          wave = 1.0;
        q = r / wave;
        alpha = 1.0 - smoothstep (1.0 - b->softness, 1.0 + b->softness, q);
        ring = exp (-((q - 0.93) * (q - 0.93)) / (2 * 0.06 * 0.06));
        if (alpha <= 0.0 && ring < 1e-3)
          continue;
        m = within_material ? c->material[(size_t) y * c->size + x] : 1.0;
        /* Uneven pigment inside the stain. */
        alpha *= 0.85 + 0.15 * value_noise (b->shape_seed + 2u, x / (4.0 * c->k), y / (4.0 * c->k));
        p = px (c, x, y);
        for (int ch = 0; ch < 3; ch++)
          {
            double f = 1.0 - m * alpha * b->strength * (1.0 - b->tint[ch]);

            f *= 1.0 - m * 0.22 * b->strength * ring;
            p[ch] = (float) (p[ch] * f);
          }
        if (q <= 1.0 && m >= 0.5)
          {
            c->mask[(size_t) y * c->size + x] = 1;
            any = TRUE;
          }
      }
  return any;
}

/* ---- weave: plain-woven fabric ------------------------------------------- */

typedef struct
{
  double period, angle, ox, oy;
  double gain, light_angle, light_strength, vignette;
  double warp[3], weft[3];
  uint32_t seed;
} Weave;

static void
weave_params (CpRng  *rng,
              Weave  *w,
              double  k)
{
  double tint = cp_rng_uniform_range (rng, -0.025, 0.025);

  /* Threads stay at least 3 pixels apart in small images (below that the
   * weave would alias into noise). */
  w->period = MAX (3.0, 9.0 * k) * cp_rng_uniform_range (rng, 0.97, 1.03);
  w->angle = cp_rng_uniform_range (rng, -2.0, 2.0) * M_PI / 180.0;
  w->ox = cp_rng_uniform_range (rng, 0.0, 2.0 * w->period);
  w->oy = cp_rng_uniform_range (rng, 0.0, 2.0 * w->period);
  w->gain = cp_rng_uniform_range (rng, 0.92, 1.06);
  w->light_angle = cp_rng_uniform_range (rng, 0.0, 2.0 * M_PI);
  w->light_strength = cp_rng_uniform_range (rng, 0.03, 0.12);
  w->vignette = cp_rng_uniform_range (rng, 0.05, 0.18);
  /* Undyed linen: warp slightly lighter and cooler than weft. */
  w->warp[0] = 0.80 + tint;
  w->warp[1] = 0.73 + tint;
  w->warp[2] = 0.60 + tint * 0.5;
  w->weft[0] = 0.74 + tint;
  w->weft[1] = 0.64 + tint;
  w->weft[2] = 0.50 + tint * 0.5;
  w->seed = cp_rng_next_u32 (rng);
}

static void
weave_render (Canvas      *c,
              const Weave *w)
{
  double half = c->size / 2.0;
  double ca = cos (w->angle), sa = sin (w->angle);
  double lc = cos (w->light_angle), ls = sin (w->light_angle);

  for (int y = 0; y < c->size; y++)
    for (int x = 0; x < c->size; x++)
      {
        double qx = x + 0.5 - half, qy = y + 0.5 - half;
        double cu = (ca * qx + sa * qy + w->ox) / w->period;
        double cv = (-sa * qx + ca * qy + w->oy) / w->period;
        double fi = floor (cu), fj = floor (cv);
        int i = (int) fi, j = (int) fj;
        gboolean warp_top = ((i + j) & 1) == 0;
        double across = warp_top ? cu - fi : cv - fj;
        double along = warp_top ? cv - fj : cu - fi;
        double along_abs = warp_top ? cv : cu;
        int thread = warp_top ? i : j;
        uint32_t tseed = w->seed + (warp_top ? 0u : 0x51ed27u);
        double width = 0.80 + 0.12 * hash_unit (tseed, thread, 1);
        double tone = 1.0 + 0.07 * (2.0 * hash_unit (tseed, thread, 2) - 1.0);
        double wobble = 0.07 * value_noise (tseed + 5u, thread * 3.7, along_abs * 0.6);
        double t = fabs (across - 0.5 - wobble) * 2.0 / width;
        const double *col = warp_top ? w->warp : w->weft;
        double shade, light, slub;
        float *p = px (c, x, y);

        if (t < 1.0)
          {
            double h = sqrt (1.0 - t * t);
            double arch = sin (M_PI * along);
            /* Plied yarn: faint diagonal twist lines plus fibre noise. */
            double twist = 0.05 * sin (2.0 * M_PI * (along * 2.0 + across * 1.2));
            double fibre = 0.07 * value_noise (tseed + 9u, across * 7.0 + thread * 17.0, along_abs * 2.5);

            shade = (0.42 + 0.58 * h) * (0.70 + 0.30 * arch) * (1.0 + twist + fibre);
          }
        else
          shade = 0.30 + 0.04 * value_noise (w->seed + 3u, cu * 3.0, cv * 3.0);

        light = w->gain * (1.0 + w->light_strength * (qx * lc + qy * ls) / half)
                * (1.0 - w->vignette * (qx * qx + qy * qy) / (2.0 * half * half));
        slub = 1.0 + 0.05 * fbm (w->seed + 11u, x / (40.0 * c->k), y / (40.0 * c->k), 3);
        for (int ch = 0; ch < 3; ch++)
          p[ch] = (float) (col[ch] * shade * tone * light * slub);
      }
}

/* A torn hole: dark where the fabric is gone, frayed bright fibres around. */
static gboolean
weave_hole (Canvas *c,
            CpRng  *rng)
{
  double k = c->k, margin = 24.0 * k;
  double cx = cp_rng_uniform_range (rng, margin, c->size - margin);
  double cy = cp_rng_uniform_range (rng, margin, c->size - margin);
  double rx = cp_rng_uniform_range (rng, 6.0, 13.0) * k;
  double ry = rx * cp_rng_uniform_range (rng, 0.55, 1.0);
  double angle = cp_rng_uniform_range (rng, 0.0, M_PI);
  double rim = cp_rng_uniform_range (rng, 2.0, 3.5) * k;
  uint32_t seed = cp_rng_next_u32 (rng);
  double ca = cos (angle), sa = sin (angle), reach = rx + rim + 4;
  gboolean any = FALSE;

  for (int y = MAX (0, (int) (cy - reach)); y <= MIN (c->size - 1, (int) (cy + reach)); y++)
    for (int x = MAX (0, (int) (cx - reach)); x <= MIN (c->size - 1, (int) (cx + reach)); x++)
      {
        double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        double lx = (dx * ca + dy * sa) / rx, ly = (-dx * sa + dy * ca) / ry;
        double r = hypot (lx, ly);
        double jag = r > 1e-9 ? 1.0 + 0.18 * value_noise (seed, lx / r * 3.0 + 4.0, ly / r * 3.0 + 4.0)
                                  + 0.08 * hash_unit (seed, x, y) : 1.0;
        double q = r / jag;                       /* 1 at the torn edge */
        double rim_q = 1.0 + rim / fmin (rx, ry); /* outer edge of the fraying */
        float *p = px (c, x, y);

        if (q < 1.0)
          {
            /* The dark table under the cloth, in the hole's own shadow. */
            double v = 0.05 + 0.05 * q + 0.02 * value_noise (seed + 1u, x * 0.5, y * 0.5);

            p[0] = (float) v;
            p[1] = (float) (v * 0.95);
            p[2] = (float) (v * 0.9);
          }
        else if (q < rim_q)
          {
            double f = (q - 1.0) / (rim_q - 1.0);
            double fray = 1.3 + 0.35 * hash_unit (seed + 2u, x, y) - 0.25 * f;

            for (int ch = 0; ch < 3; ch++)
              p[ch] = (float) fmin (1.0, p[ch] * fray);
          }
        if (q < rim_q)
          {
            c->mask[(size_t) y * c->size + x] = 1;
            any = TRUE;
          }
      }
  return any;
}

static gboolean
weave_defect (Canvas     *c,
              CpRng      *rng,
              const char *defect)
{
  double k = c->k, margin = 30.0 * k;

  if (strcmp (defect, "hole") == 0)
    return weave_hole (c, rng);
  if (strcmp (defect, "scratch") == 0)
    {
      Stroke s;

      stroke_random (rng, &s, cp_rng_uniform_range (rng, margin, c->size - margin),
                     cp_rng_uniform_range (rng, margin, c->size - margin),
                     MAX (12.0, cp_rng_uniform_range (rng, 50.0, 100.0) * k));
      s.half_width = MAX (0.7, cp_rng_uniform_range (rng, 1.0, 1.6) * k);
      s.bright = cp_rng_uniform (rng) < 0.5;
      s.strength = s.bright ? 0.8 : 0.75;
      return draw_stroke (c, &s, FALSE);
    }
  if (strcmp (defect, "stain") == 0)
    {
      static const double tints[3][3] = {
        { 0.55, 0.38, 0.20 },  /* coffee */
        { 0.35, 0.35, 0.38 },  /* grease */
        { 0.70, 0.30, 0.28 },  /* wine */
      };
      Blob b;
      int t = (int) cp_rng_int_range (rng, 0, 2);

      b.cx = cp_rng_uniform_range (rng, margin, c->size - margin);
      b.cy = cp_rng_uniform_range (rng, margin, c->size - margin);
      b.rx = MAX (3.0, cp_rng_uniform_range (rng, 12.0, 24.0) * k);
      b.ry = b.rx * cp_rng_uniform_range (rng, 0.6, 1.0);
      b.angle = cp_rng_uniform_range (rng, 0.0, M_PI);
      memcpy (b.tint, tints[t], sizeof b.tint);
      b.strength = cp_rng_uniform_range (rng, 0.65, 0.9);
      b.softness = 0.22;
      b.shape_seed = cp_rng_next_u32 (rng);
      return draw_blob (c, &b, FALSE);
    }
  return FALSE;
}

/* ---- washer: a toothed lock washer of brushed steel -------------------- */

typedef struct
{
  double cx, cy, rot, scale;
  double r_in, r_ring, r_tip;
  int    n_teeth;
  double base_half, tip_half;       /* tooth half widths at the ring and the tip */
  double gain, light_angle, light_strength;
  double brush_phase;
  double bg[3];
  int    missing;                   /* tooth broken off, or -1 */
  double stub;                      /* length left of the broken tooth */
  int    bent;                      /* tooth bent aside, or -1 */
  double bend;                      /* its bend angle (radians) */
  uint32_t seed;
  /* Cached trigonometry: the renderer asks for these per sample. */
  double cos_rot, sin_rot;
  double tooth_cos[16], tooth_sin[16];
} Washer;

typedef enum
{
  MAT_NONE = 0,
  MAT_BODY,
  MAT_TOOTH,
} Material;

typedef struct
{
  Material kind;
  int      tooth;
  double   across;   /* -1..1 across the tooth */
  double   along;    /* 0 at the ring, 1 at the tip */
} Hit;

/* Whether the tooth-frame point (tx, ty) lies in a tooth (a trapezoid from
 * just inside the ring to the tip). */
static gboolean
in_tooth (const Washer *w,
          double        tx,
          double        ty,
          Hit          *hit)
{
  double start = w->r_ring - 3.0, f, half;

  if (tx < start || tx > w->r_tip)
    return FALSE;
  f = (tx - w->r_ring) / (w->r_tip - w->r_ring);
  half = w->base_half + (w->tip_half - w->base_half) * clamp01 (f);
  if (fabs (ty) > half)
    return FALSE;
  hit->kind = MAT_TOOTH;
  hit->across = ty / half;
  hit->along = clamp01 (f);
  return TRUE;
}

/* Tooth @t as intended, in the washer's own frame (lx, ly). */
static gboolean
tooth_nominal (const Washer *w,
               int           t,
               double        lx,
               double        ly,
               Hit          *hit)
{
  double c = w->tooth_cos[t], s = w->tooth_sin[t];
  double tx = lx * c + ly * s, ty = -lx * s + ly * c;

  hit->tooth = t;
  return in_tooth (w, tx, ty, hit);
}

static gboolean
tooth_actual (const Washer *w,
              int           t,
              double        lx,
              double        ly,
              Hit          *hit)
{
  double c = w->tooth_cos[t], s = w->tooth_sin[t];
  double tx = lx * c + ly * s, ty = -lx * s + ly * c;

  hit->tooth = t;
  if (t == w->missing)
    {
      /* A jagged fracture a little beyond the ring. */
      double edge = w->r_ring + w->stub + 1.5 * value_noise (w->seed + 31u, ty * 0.6, 0.0);

      return tx < edge && in_tooth (w, tx, ty, hit);
    }
  if (t == w->bent)
    {
      /* Rotate about the tooth's root on the ring. */
      double rx = tx - w->r_ring, c = cos (-w->bend), s = sin (-w->bend);

      return in_tooth (w, w->r_ring + rx * c - ty * s, rx * s + ty * c, hit);
    }
  return in_tooth (w, tx, ty, hit);
}

/* Washer frame of an image point. */
static inline void
washer_local (const Washer *w,
              double        x,
              double        y,
              double       *lx,
              double       *ly)
{
  double dx = (x - w->cx) / w->scale, dy = (y - w->cy) / w->scale;

  /* Rotation by -rot. */
  *lx = dx * w->cos_rot + dy * w->sin_rot;
  *ly = -dx * w->sin_rot + dy * w->cos_rot;
}

static Hit
washer_hit (const Washer *w,
            double        x,
            double        y)
{
  Hit hit = { MAT_NONE, -1, 0.0, 0.0 };
  double lx, ly, r, theta;
  int nearest;

  washer_local (w, x, y, &lx, &ly);
  r = hypot (lx, ly);
  if (r < w->r_in || r > w->r_tip + 2.0)
    return hit;
  if (r <= w->r_ring)
    {
      hit.kind = MAT_BODY;
      return hit;
    }
  theta = atan2 (ly, lx);
  nearest = ((int) lround (theta / (2.0 * M_PI / w->n_teeth)) + w->n_teeth) % w->n_teeth;
  if (nearest != w->bent && tooth_actual (w, nearest, lx, ly, &hit))
    return hit;
  if (w->bent >= 0 && tooth_actual (w, w->bent, lx, ly, &hit))
    return hit;
  hit.kind = MAT_NONE;
  return hit;
}

static void
washer_params (CpRng  *rng,
               Washer *w,
               double  k,
               int     size)
{
  double tone = cp_rng_uniform_range (rng, -0.015, 0.015);

  w->cx = size / 2.0 + cp_rng_uniform_range (rng, -3.0, 3.0) * k;
  w->cy = size / 2.0 + cp_rng_uniform_range (rng, -3.0, 3.0) * k;
  w->rot = cp_rng_uniform_range (rng, -4.0, 4.0) * M_PI / 180.0;
  w->scale = cp_rng_uniform_range (rng, 0.98, 1.02);
  w->r_in = 27.0 * k;
  w->r_ring = 58.0 * k;
  w->r_tip = 88.0 * k;
  w->n_teeth = 10;
  w->base_half = 10.5 * k;
  w->tip_half = 6.5 * k;
  w->gain = cp_rng_uniform_range (rng, 0.9, 1.08);
  w->light_angle = (45.0 + cp_rng_uniform_range (rng, -25.0, 25.0)) * M_PI / 180.0;
  w->light_strength = cp_rng_uniform_range (rng, 0.05, 0.15);
  w->brush_phase = cp_rng_uniform_range (rng, 0.0, 2.0 * M_PI);
  w->bg[0] = 0.17 + tone;
  w->bg[1] = 0.18 + tone;
  w->bg[2] = 0.20 + tone;
  w->missing = -1;
  w->bent = -1;
  w->stub = 0.0;
  w->bend = 0.0;
  w->seed = cp_rng_next_u32 (rng);
  w->cos_rot = cos (w->rot);
  w->sin_rot = sin (w->rot);
  for (int t = 0; t < w->n_teeth; t++)
    {
      w->tooth_cos[t] = cos (2.0 * M_PI * t / w->n_teeth);
      w->tooth_sin[t] = sin (2.0 * M_PI * t / w->n_teeth);
    }
}

/* Brushed steel: concentric lathe marks on the body, straight grinding
 * along the teeth, a bow-tie highlight facing the light, a bevel on the
 * inner edge, and each tooth twisted so one flank catches the light. */
static void
washer_shade (const Washer *w,
              const Hit    *hit,
              double        x,
              double        y,
              double        k,
              double        out[3])
{
  double lx, ly, r, theta, v;

  washer_local (w, x, y, &lx, &ly);
  r = hypot (lx, ly);
  theta = atan2 (ly, lx);
  if (hit->kind == MAT_BODY)
    {
      double rings = 0.035 * sin (r / k * 1.9 + w->brush_phase)
                     + 0.06 * value_noise (w->seed + 41u, r / k * 2.5, theta * 3.0);
      double h2 = cos (theta - w->light_angle - M_PI / 2), h4, highlight;
      double bevel = smoothstep (3.0 * k, 0.0, r - w->r_in);

      h2 *= h2;
      h4 = h2 * h2;
      highlight = 0.30 * h4 * h4;  /* |cos|^8 */

      v = 0.55 + rings + highlight;
      v += bevel * 0.25 * cos (theta - w->light_angle + M_PI);
      v -= 0.10 * smoothstep (w->r_ring - 4.0 * k, w->r_ring, r);
    }
  else
    {
      double twist = (hit->tooth % 2 == 0 ? 1.0 : 0.85) * hit->across;
      double grind = 0.05 * value_noise (w->seed + 43u + (uint32_t) hit->tooth, hit->across * 6.0,
                                         hit->along * 40.0);

      v = 0.50 + 0.16 * twist + grind - 0.06 * hit->along;
      if (hit->tooth == w->bent)
        v -= 0.16;  /* tilted out of the light */
    }
  v *= w->gain * (1.0 + w->light_strength * ((x - w->cx) * cos (w->light_angle)
                                             - (y - w->cy) * sin (w->light_angle)) / (w->r_tip));
  out[0] = v * 0.95;
  out[1] = v * 0.97;
  out[2] = v * 1.0;
}

static void
box_blur (float *buf,
          float *tmp,
          int    n,
          int    radius)
{
  for (int pass = 0; pass < 2; pass++)
    {
      float *src = pass == 0 ? buf : tmp, *dst = pass == 0 ? tmp : buf;

      for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
          {
            double sum = 0.0;
            int count = 0;

            for (int d = -radius; d <= radius; d++)
              {
                int xx = pass == 0 ? x + d : x, yy = pass == 0 ? y : y + d;

                if (xx < 0 || yy < 0 || xx >= n || yy >= n)
                  continue;
                sum += src[(size_t) yy * n + xx];
                count++;
              }
            dst[(size_t) y * n + x] = (float) (sum / count);
          }
    }
}

static void
washer_render (Canvas       *c,
               const Washer *w)
{
  int n = c->size;
  double k = c->k;
  g_autofree Hit *hits = g_new (Hit, (size_t) n * n);
  g_autofree float *shadow = g_new0 (float, (size_t) n * n);
  g_autofree float *tmp = g_new (float, (size_t) n * n);
  int sx = (int) lround (3.0 * k), sy = (int) lround (4.0 * k);

  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      hits[(size_t) y * n + x] = washer_hit (w, x + 0.5, y + 0.5);

  /* Coverage: 4 x 4 supersampling where the material changes nearby. */
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      {
        gboolean in = hits[(size_t) y * n + x].kind != MAT_NONE, edge = FALSE;
        float cov = in ? 1.0f : 0.0f;

        for (int d = 0; d < 4 && !edge; d++)
          {
            int xx = x + (d == 0) - (d == 1), yy = y + (d == 2) - (d == 3);

            if (xx >= 0 && yy >= 0 && xx < n && yy < n
                && (hits[(size_t) yy * n + xx].kind != MAT_NONE) != in)
              edge = TRUE;
          }
        if (edge)
          {
            int count = 0;

            for (int j = 0; j < 4; j++)
              for (int i = 0; i < 4; i++)
                count += washer_hit (w, x + (i + 0.5) / 4.0, y + (j + 0.5) / 4.0).kind != MAT_NONE;
            cov = count / 16.0f;
          }
        c->material[(size_t) y * n + x] = cov;
      }

  /* A soft shadow cast down and right by the light from the upper left. */
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      if (x - sx >= 0 && y - sy >= 0)
        shadow[(size_t) y * n + x] = c->material[(size_t) (y - sy) * n + (x - sx)];
  box_blur (shadow, tmp, n, MAX (1, (int) lround (3.0 * k)));
  box_blur (shadow, tmp, n, MAX (1, (int) lround (3.0 * k)));

  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      {
        size_t i = (size_t) y * n + x;
        double cov = c->material[i], bg[3], metal[3] = { 0, 0, 0 };
        double mottle = 1.0 + 0.08 * fbm (w->seed + 51u, x / (30.0 * k), y / (30.0 * k), 3);
        double light = w->gain * (1.0 - 0.25 * ((double) (x + y) / (2.0 * n) - 0.5));
        float *p = px (c, x, y);

        for (int ch = 0; ch < 3; ch++)
          bg[ch] = w->bg[ch] * mottle * light * (1.0 - 0.55 * shadow[i]);
        if (cov > 0.0)
          {
            Hit hit = hits[i];

            if (hit.kind == MAT_NONE)
              {
                /* An edge pixel whose centre missed: shade as the ring. */
                hit.kind = MAT_BODY;
              }
            washer_shade (w, &hit, x + 0.5, y + 0.5, k, metal);
          }
        for (int ch = 0; ch < 3; ch++)
          p[ch] = (float) (cov * metal[ch] + (1.0 - cov) * bg[ch]);
      }
}

/* Mask of a geometric defect: the nominal tooth and/or its actual shape,
 * outside the ring (the ring itself is not changed by either defect). */
static gboolean
washer_tooth_mask (Canvas       *c,
                   const Washer *w,
                   int           tooth)
{
  gboolean any = FALSE;

  for (int y = 0; y < c->size; y++)
    for (int x = 0; x < c->size; x++)
      {
        double lx, ly;
        Hit nominal, actual;
        gboolean hit_nominal, hit_actual;

        washer_local (w, x + 0.5, y + 0.5, &lx, &ly);
        if (hypot (lx, ly) <= w->r_ring)
          continue;
        hit_nominal = tooth_nominal (w, tooth, lx, ly, &nominal);
        hit_actual = tooth_actual (w, tooth, lx, ly, &actual);
        /* Missing: what was tooth and is no more.  Bent: both shapes. */
        if ((w->missing == tooth && hit_nominal && !hit_actual)
            || (w->bent == tooth && (hit_nominal || hit_actual)))
          {
            c->mask[(size_t) y * c->size + x] = 1;
            any = TRUE;
          }
      }
  return any;
}

/* A point on the steel ring, where surface defects go. */
static void
washer_surface_point (CpRng        *rng,
                      const Washer *w,
                      double       *x,
                      double       *y)
{
  /* Away from both edges of the ring, also in small images. */
  double margin = MIN (9.0 * w->r_in / 27.0, (w->r_ring - w->r_in) / 3.0);
  double r = cp_rng_uniform_range (rng, w->r_in + margin, w->r_ring - margin);
  double a = cp_rng_uniform_range (rng, 0.0, 2.0 * M_PI);

  *x = w->cx + r * w->scale * cos (a);
  *y = w->cy + r * w->scale * sin (a);
}

/* ---- one image ----------------------------------------------------------- */

/* FNV-1a: our own string hash, so that the files of a seed do not depend
 * on the hash function of the GLib version. */
static uint64_t
name_hash (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ULL;

  for (; *s != '\0'; s++)
    h = (h ^ (uint8_t) *s) * 0x100000001b3ULL;
  return h;
}

static uint64_t
image_seed (guint64     seed,
            const char *category,
            int         split_id,
            const char *defect,
            int         index)
{
  /* Mix every coordinate of the image into one 64-bit seed. */
  uint64_t h = seed * 0x9e3779b97f4a7c15ULL + 0x243f6a8885a308d3ULL;

  h ^= name_hash (category) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 31)) * 0x94d049bb133111ebULL;
  h ^= name_hash (defect ? defect : "good") * 0x9e3779b97f4a7c15ULL;
  h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
  h ^= ((uint64_t) split_id << 32) ^ (uint64_t) (uint32_t) index;
  h = (h ^ (h >> 32)) * 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 32);
}

static void
sensor_finish (Canvas  *c,
               uint8_t *rgb,
               uint32_t seed)
{
  /* Photon and read noise: partly shared by the channels, as on a Bayer
   * sensor after demosaicing. */
  for (int y = 0; y < c->size; y++)
    for (int x = 0; x < c->size; x++)
      {
        float *p = px (c, x, y);
        double luma = hash_unit (seed, x, y) + hash_unit (seed + 1u, x, y) - 1.0;

        for (int ch = 0; ch < 3; ch++)
          {
            double chroma = hash_unit (seed + 2u + (uint32_t) ch, x, y) - 0.5;
            double v = p[ch] + 0.022 * luma + 0.012 * chroma;

            rgb[((size_t) y * c->size + x) * 3 + ch] = (uint8_t) lround (clamp01 (v) * 255.0);
          }
      }
}

gboolean
cp_synth_render (const char *category,
                 guint64     seed,
                 int         split_id,
                 const char *defect,
                 int         index,
                 int         size,
                 uint8_t    *rgb,
                 uint8_t    *mask,
                 GError    **error)
{
  const char *const *defects = cp_synth_defect_types (category);
  gboolean is_good = defect == NULL || strcmp (defect, "good") == 0;
  g_autofree float *pixels = NULL;
  g_autofree uint8_t *mask01 = NULL;
  g_autofree float *material = NULL;
  Canvas c;
  CpRng rng;
  gboolean marked = TRUE;

  if (defects == NULL)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "unknown synthetic category '%s' (known: washer, weave)", category);
      return FALSE;
    }
  if (!is_good && !g_strv_contains (defects, defect))
    {
      g_autofree char *known = g_strjoinv (", ", (char **) defects);

      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "unknown defect '%s' for '%s' (known: %s)", defect, category, known);
      return FALSE;
    }
  if (size < CP_SYNTH_MIN_SIZE || size > CP_SYNTH_MAX_SIZE)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "image size %d is outside %d..%d", size, CP_SYNTH_MIN_SIZE, CP_SYNTH_MAX_SIZE);
      return FALSE;
    }

  cp_rng_seed (&rng, image_seed (seed, category, split_id, is_good ? NULL : defect, index));
  pixels = g_new0 (float, (size_t) size * size * 3);
  mask01 = g_new0 (uint8_t, (size_t) size * size);
  material = g_new (float, (size_t) size * size);
  for (size_t i = 0; i < (size_t) size * size; i++)
    material[i] = 1.0f;
  c.size = size;
  c.k = size / 256.0;
  c.rgb = pixels;
  c.mask = mask01;
  c.material = material;

  if (strcmp (category, "weave") == 0)
    {
      Weave w;

      weave_params (&rng, &w, c.k);
      c.noise_seed = w.seed;
      weave_render (&c, &w);
      if (!is_good)
        marked = weave_defect (&c, &rng, defect);
    }
  else
    {
      Washer w;

      washer_params (&rng, &w, c.k, size);
      c.noise_seed = w.seed;
      if (!is_good && strcmp (defect, "missing_tooth") == 0)
        {
          w.missing = (int) cp_rng_int_range (&rng, 0, w.n_teeth - 1);
          w.stub = cp_rng_uniform_range (&rng, 2.0, 6.0) * c.k;
        }
      else if (!is_good && strcmp (defect, "bent") == 0)
        {
          w.bent = (int) cp_rng_int_range (&rng, 0, w.n_teeth - 1);
          w.bend = (cp_rng_uniform (&rng) < 0.5 ? -1.0 : 1.0)
                   * cp_rng_uniform_range (&rng, 20.0, 32.0) * M_PI / 180.0;
        }
      washer_render (&c, &w);
      if (!is_good)
        {
          if (w.missing >= 0)
            marked = washer_tooth_mask (&c, &w, w.missing);
          else if (w.bent >= 0)
            marked = washer_tooth_mask (&c, &w, w.bent);
          else if (strcmp (defect, "scratch") == 0)
            {
              Stroke s;
              double x, y;

              washer_surface_point (&rng, &w, &x, &y);
              stroke_random (&rng, &s, x, y, MAX (8.0, cp_rng_uniform_range (&rng, 22.0, 40.0) * c.k));
              s.half_width = MAX (0.6, cp_rng_uniform_range (&rng, 0.7, 1.2) * c.k);
              s.bright = cp_rng_uniform (&rng) < 0.5;
              s.strength = s.bright ? 0.8 : 0.65;
              marked = draw_stroke (&c, &s, TRUE);
            }
          else
            {
              Blob b;

              washer_surface_point (&rng, &w, &b.cx, &b.cy);
              b.rx = MAX (2.5, cp_rng_uniform_range (&rng, 6.0, 11.0) * c.k);
              b.ry = b.rx * cp_rng_uniform_range (&rng, 0.6, 1.0);
              b.angle = cp_rng_uniform_range (&rng, 0.0, M_PI);
              /* Rust: brown-orange, dull. */
              b.tint[0] = 0.62;
              b.tint[1] = 0.36;
              b.tint[2] = 0.18;
              b.strength = cp_rng_uniform_range (&rng, 0.6, 0.8);
              b.softness = 0.25;
              b.shape_seed = cp_rng_next_u32 (&rng);
              marked = draw_blob (&c, &b, TRUE);
            }
        }
    }

  if (!marked)
    {
      /* Every defect is placed where it must show; this is a bug guard. */
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "%s/%s #%d: the defect left no mark (generator bug)", category, defect, index);
      return FALSE;
    }
  sensor_finish (&c, rgb, (uint32_t) cp_rng_next_u32 (&rng));
  if (mask != NULL)
    for (size_t i = 0; i < (size_t) size * size; i++)
      mask[i] = mask01[i] ? 255 : 0;
  return TRUE;
}

/* ---- writing a dataset --------------------------------------------------- */

/* Removes @path and everything below it without following symbolic links. */
static gboolean
remove_tree (const char *path,
             GError    **error)
{
  GStatBuf st;

  if (g_lstat (path, &st) != 0)
    return TRUE;
  if (S_ISDIR (st.st_mode))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, error);
      const char *name;

      if (dir == NULL)
        return FALSE;
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);

          if (!remove_tree (child, error))
            return FALSE;
        }
      if (g_rmdir (path) != 0)
        {
          int saved = errno;
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "cannot remove %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      return TRUE;
    }
  if (g_unlink (path) != 0)
    {
      int saved = errno;
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "cannot remove %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
make_dir (const char *path,
          GError    **error)
{
  if (g_mkdir_with_parents (path, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "cannot create folder %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
dir_is_empty (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);

  return dir != NULL && g_dir_read_name (dir) == NULL;
}

/* One image to write: rendered, encoded and written by a pool thread. */
typedef struct
{
  const char *folder;   /* "train" or "test" */
  const char *defect;   /* "good" or a defect type */
  int         index;
  char       *error;    /* message when it failed */
} SynthJob;

typedef struct
{
  const char           *tmp;
  const char           *category;
  const CpSynthOptions *options;
  GAsyncQueue          *done;
  gint                  cancelled;
} SynthRun;

static gboolean
write_image (const SynthRun *run,
             const SynthJob *job,
             GError        **error)
{
  int size = run->options->size;
  gboolean is_good = strcmp (job->defect, "good") == 0;
  g_autofree uint8_t *rgb = g_malloc ((size_t) size * size * 3);
  g_autofree uint8_t *mask = g_malloc ((size_t) size * size);
  g_autofree char *name = g_strdup_printf ("%03d.png", job->index);
  g_autofree char *path = g_build_filename (run->tmp, job->folder, job->defect, name, NULL);

  if (!cp_synth_render (run->category, run->options->seed, strcmp (job->folder, "train") == 0 ? 0 : 1,
                        job->defect, job->index, size, rgb, mask, error)
      || !cp_png_write (path, rgb, size, size, size * 3, 3, error))
    return FALSE;
  if (!is_good)
    {
      g_autofree char *mask_name = g_strdup_printf ("%03d_mask.png", job->index);
      g_autofree char *mask_path = g_build_filename (run->tmp, "ground_truth", job->defect,
                                                     mask_name, NULL);

      if (!cp_png_write (mask_path, mask, size, size, size, 1, error))
        return FALSE;
    }
  return TRUE;
}

static void
synth_worker (gpointer data,
              gpointer user_data)
{
  SynthJob *job = data;
  SynthRun *run = user_data;
  GAsyncQueue *done;
  g_autoptr (GError) error = NULL;

  /* GLib's pool and queue hand-offs are invisible to TSan (core/tsan.h). */
  CP_TSAN_ACQUIRE (run);
  done = run->done;  /* not read after the release below */
  if (g_atomic_int_get (&run->cancelled))
    job->error = g_strdup ("cancelled");
  else if (!write_image (run, job, &error))
    job->error = g_strdup (error->message);
  CP_TSAN_RELEASE (job);
  g_async_queue_push (done, job);
}

/* Renders every image of the category into @tmp on two threads (each image
 * depends only on its own seed, so the files do not depend on the order). */
static gboolean
write_images (const char           *tmp,
              const char           *category,
              const CpSynthOptions *options,
              CpSynthProgressFunc   progress,
              gpointer              user_data,
              GError              **error)
{
  const char *const *defects = cp_synth_defect_types (category);
  g_autoptr (GArray) jobs = g_array_new (FALSE, TRUE, sizeof (SynthJob));
  SynthRun run = { .tmp = tmp, .category = category, .options = options };
  GThreadPool *pool;
  char *first_error = NULL;
  gboolean cancelled = FALSE;

  for (int d = -1; defects[d < 0 ? 0 : d] != NULL; d++)
    {
      const char *defect = d < 0 ? "good" : defects[d];
      int passes = d < 0 ? 2 : 1;

      for (int pass = 0; pass < passes; pass++)
        {
          const char *folder = d < 0 && pass == 0 ? "train" : "test";
          int count = d >= 0 ? options->n_test_defect
                      : pass == 0 ? options->n_train : options->n_test_good;
          g_autofree char *dir = g_build_filename (tmp, folder, defect, NULL);

          if (!make_dir (dir, error))
            return FALSE;
          if (d >= 0)
            {
              g_autofree char *gt_dir = g_build_filename (tmp, "ground_truth", defect, NULL);

              if (!make_dir (gt_dir, error))
                return FALSE;
            }
          for (int i = 0; i < count; i++)
            {
              SynthJob job = { .folder = folder, .defect = defect, .index = i };

              g_array_append_val (jobs, job);
            }
        }
    }

  run.done = g_async_queue_new ();
  pool = g_thread_pool_new (synth_worker, &run, 2, TRUE, NULL);
  CP_TSAN_RELEASE (&run);  /* GLib may hand these jobs to reused threads */
  for (guint i = 0; i < jobs->len; i++)
    g_thread_pool_push (pool, &g_array_index (jobs, SynthJob, i), NULL);
  for (guint done = 0; done < jobs->len; done++)
    {
      SynthJob *job = g_async_queue_pop (run.done);
      CP_TSAN_ACQUIRE (job);

      if (job->error != NULL && first_error == NULL && !cancelled)
        {
          first_error = job->error;
          job->error = NULL;
          g_atomic_int_set (&run.cancelled, 1);
        }
      if (first_error == NULL && !cancelled && progress != NULL
          && !progress (category, (int) done + 1, (int) jobs->len, user_data))
        {
          cancelled = TRUE;
          g_atomic_int_set (&run.cancelled, 1);
        }
    }
  g_thread_pool_free (pool, FALSE, TRUE);
  g_async_queue_unref (run.done);
  for (guint i = 0; i < jobs->len; i++)
    g_free (g_array_index (jobs, SynthJob, i).error);

  if (first_error != NULL)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "%s", first_error);
      g_free (first_error);
      return FALSE;
    }
  if (cancelled)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_CANCELLED,
                   "writing the synthetic dataset was cancelled");
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_category (const char           *out_dir,
                const char           *category,
                const CpSynthOptions *options,
                CpSynthProgressFunc   progress_func,
                gpointer              user_data,
                GError              **error)
{
  g_autofree char *final = g_build_filename (out_dir, category, NULL);
  g_autofree char *tmp_template = g_strdup_printf ("%s/.%s.tmp-XXXXXX", out_dir, category);
  g_autofree char *old = NULL;
  gboolean ok;

  if (g_file_test (final, G_FILE_TEST_EXISTS))
    {
      if (!g_file_test (final, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EXISTS,
                       "%s exists and is not a folder; not replacing it", final);
          return FALSE;
        }
      if (!options->force && !dir_is_empty (final))
        {
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_EXISTS,
                       "%s already exists and is not empty; use --force to replace it", final);
          return FALSE;
        }
    }

  if (g_mkdtemp (tmp_template) == NULL)
    {
      int saved = errno;
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "cannot create a folder in %s: %s",
                   out_dir, g_strerror (saved));
      return FALSE;
    }

  ok = write_images (tmp_template, category, options, progress_func, user_data, error);
  if (!ok)
    {
      remove_tree (tmp_template, NULL);
      return FALSE;
    }
  /* mkdtemp makes 0700 folders; a dataset is meant to be shared. */
  g_chmod (tmp_template, 0755);

  /* Swap the complete folder in: the old one (if any) moves aside first,
   * so a crash leaves either the old or the new category, never a mix. */
  if (g_file_test (final, G_FILE_TEST_IS_DIR))
    {
      old = g_strdup_printf ("%s/.%s.old-XXXXXX", out_dir, category);
      if (g_mkdtemp (old) == NULL || g_rmdir (old) != 0 || g_rename (final, old) != 0)
        {
          int saved = errno;
          g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "cannot move %s aside: %s", final,
                       g_strerror (saved));
          remove_tree (tmp_template, NULL);
          return FALSE;
        }
    }
  if (g_rename (tmp_template, final) != 0)
    {
      int saved = errno;
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_IO, "cannot rename %s to %s: %s",
                   tmp_template, final, g_strerror (saved));
      if (old != NULL)
        g_rename (old, final);
      remove_tree (tmp_template, NULL);
      return FALSE;
    }
  if (old != NULL)
    return remove_tree (old, error);
  return TRUE;
}

gboolean
cp_synth_write (const char           *out_dir,
                const CpSynthOptions *options,
                CpSynthProgressFunc   progress,
                gpointer              user_data,
                GError              **error)
{
  const char *const *categories;

  g_return_val_if_fail (out_dir != NULL && options != NULL, FALSE);

  categories = options->categories != NULL ? options->categories : synth_categories;
  if (categories[0] == NULL)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID, "no category to generate");
      return FALSE;
    }
  for (int i = 0; categories[i] != NULL; i++)
    if (cp_synth_defect_types (categories[i]) == NULL)
      {
        g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                     "unknown synthetic category '%s' (known: washer, weave)", categories[i]);
        return FALSE;
      }
  if (options->size < CP_SYNTH_MIN_SIZE || options->size > CP_SYNTH_MAX_SIZE)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "image size %d is outside %d..%d", options->size, CP_SYNTH_MIN_SIZE,
                   CP_SYNTH_MAX_SIZE);
      return FALSE;
    }
  if (options->n_train < 1 || options->n_train > CP_SYNTH_MAX_COUNT
      || options->n_test_good < 0 || options->n_test_good > CP_SYNTH_MAX_COUNT
      || options->n_test_defect < 0 || options->n_test_defect > CP_SYNTH_MAX_COUNT)
    {
      g_set_error (error, CP_DATA_ERROR, CP_DATA_ERROR_INVALID,
                   "image counts out of range: train %d (1..%d), test good %d and test defect %d "
                   "(0..%d)", options->n_train, CP_SYNTH_MAX_COUNT, options->n_test_good,
                   options->n_test_defect, CP_SYNTH_MAX_COUNT);
      return FALSE;
    }
  if (!make_dir (out_dir, error))
    return FALSE;
  for (int i = 0; categories[i] != NULL; i++)
    if (!write_category (out_dir, categories[i], options, progress, user_data, error))
      return FALSE;
  return TRUE;
}
