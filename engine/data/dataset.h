/* dataset.h: finding the images of an MVTec AD style dataset, knowing what
 * kind of category each one is, and caching decoded training images.
 *
 * Layout (SPEC section 1):
 *   <root>/<category>/train/good/<name>.<ext>
 *   <root>/<category>/test/good/<name>.<ext>
 *   <root>/<category>/test/<defect>/<name>.<ext>
 *   <root>/<category>/ground_truth/<defect>/<name>_mask.png  (or <name>.png)
 * with <ext> one of png jpg jpeg bmp tif tiff, in any case.  Hidden files
 * and files with other extensions are ignored; everything is sorted by name
 * (byte order) so every run sees the same order.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <gio/gio.h>

#include "image.h"

G_BEGIN_DECLS

/* Most images we accept in one folder: a guard against pointing the tool at
 * the wrong folder (a whole disk), checked while the folder is read. */
#define CP_DATASET_MAX_IMAGES_PER_FOLDER 1000000

typedef enum
{
  CP_LABEL_GOOD = 0,
  CP_LABEL_DEFECT = 1,
} CpLabel;

typedef struct
{
  char    *path;       /* full path of the image */
  char    *name;       /* file name without folder */
  CpLabel  label;
  char    *defect;     /* "good" or the defect folder name */
  char    *mask_path;  /* ground-truth mask, NULL for good images or when none exists */
} CpSample;

typedef struct
{
  char     *root;
  char     *name;
  CpSample *train;          /* (n_train) train/good, sorted */
  size_t    n_train;
  CpSample *test;           /* (n_test) test/good first, then each defect folder in name order */
  size_t    n_test;
  char    **defect_types;   /* NULL-terminated, sorted, without "good" */
  size_t    n_test_good;
  size_t    n_test_defect;
  size_t    n_missing_masks; /* defect images without a ground-truth mask */
} CpCategory;

/* Whether @name ends in one of the accepted image extensions (any case). */
gboolean    cp_dataset_is_image_name   (const char *name);

/* The categories under @root: the sub-folders that contain train/good,
 * sorted.  Fails when @root is missing or holds no category. */
char      **cp_dataset_scan_root       (const char *root,
                                        GError    **error);

/* Scans one category.  train/good must exist and hold at least one image;
 * test/ is optional (a category can be trained without it). */
CpCategory *cp_dataset_scan_category   (const char *root,
                                        const char *category,
                                        GError    **error);

void        cp_category_free           (CpCategory *category);

/* The ground-truth mask of the test image @image_path
 * (<category>/test/<defect>/<name>.<ext>): ground_truth/<defect>/<name>_mask.png,
 * else <name>.png; NULL for a good image, an image outside test/, or when
 * neither file exists.  The one rule the scan (CpSample.mask_path) and the
 * application's inspector both follow. */
char       *cp_dataset_find_mask       (const char *image_path);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpCategory, cp_category_free)

/* ---- what kind of category ------------------------------------------- */

typedef enum
{
  CP_CATEGORY_UNKNOWN = 0,
  CP_CATEGORY_TEXTURE,         /* carpet grid leather tile wood (and synthetic weave) */
  CP_CATEGORY_OBJECT_ALIGNED,  /* one Gaussian per patch location for localisation */
  CP_CATEGORY_OBJECT_FREE,     /* hazelnut, screw: objects in varying pose */
} CpCategoryKind;

/* The kind of an MVTec AD category (or one of our synthetic ones); unknown
 * names give CP_CATEGORY_UNKNOWN. */
CpCategoryKind cp_category_kind             (const char *name);
gboolean       cp_category_is_texture       (const char *name);

/* Whether patch-level localisation should use one Gaussian shared by all
 * grid locations (SPEC section 7): textures, hazelnut and screw.  Unknown
 * categories also share one: without knowing the parts are aligned, a
 * per-location model would treat a shifted part as a defect. */
gboolean       cp_category_uses_shared_gaussian (const char *name);

/* ---- decoded training images ------------------------------------------ */

/* Called on the calling thread after each image; return FALSE to cancel. */
typedef gboolean (*CpDataProgressFunc) (size_t   done,
                                        size_t   total,
                                        gpointer user_data);

typedef struct
{
  int       size;           /* S */
  size_t    n;              /* images loaded */
  uint8_t  *pixels;         /* (N, S, S, 3) */
  char    **paths;          /* (n) the loaded images, in input order */
  size_t    n_failed;
  char    **failed_paths;   /* (n_failed) images that did not load */
  char    **failed_reasons; /* (n_failed) the error message of each */
} CpImageCache;

/* Decodes and resizes @paths to @size x @size on @n_threads threads (0 = 2),
 * keeping them as one 8-bit buffer.  Images that fail to load are listed in
 * failed_paths / failed_reasons and left out; loading goes on.  Fails only
 * when nothing loads, on a bad argument, or when cancelled. */
CpImageCache *cp_image_cache_new  (const char * const *paths,
                                   size_t              n_paths,
                                   int                 size,
                                   int                 n_threads,
                                   CpDataProgressFunc  progress,
                                   gpointer            user_data,
                                   GCancellable       *cancellable,
                                   GError            **error);

/* The (S, S, 3) pixels of image @i. */
static inline uint8_t *
cp_image_cache_image (const CpImageCache *cache,
                      size_t              i)
{
  return cache->pixels + i * (size_t) cache->size * (size_t) cache->size * 3;
}

void          cp_image_cache_free (CpImageCache *cache);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CpImageCache, cp_image_cache_free)

G_END_DECLS
