/* test-safetensors.c: the safetensors reader and writer. */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>

#include "harness.h"
#include "io-test-util.h"
#include "core/io/safetensors.h"
#include "core/rng.h"

static char *scratch_dir;

/* ------------------------------------------------------------------------ */
/* Building files by hand                                                    */

typedef struct
{
  unsigned char *bytes;
  size_t         size;
  size_t         cap;
} Buf;

static void
buf_put (Buf        *b,
         const void *data,
         size_t      n)
{
  if (b->size + n > b->cap)
    {
      b->cap = (b->size + n) * 2 + 64;
      b->bytes = realloc (b->bytes, b->cap);
    }
  memcpy (b->bytes + b->size, data, n);
  b->size += n;
}

/* Little-endian integers of @width bytes, whatever the host order. */
static void
buf_le (Buf     *b,
        uint64_t v,
        int      width)
{
  unsigned char tmp[8];

  for (int i = 0; i < width; i++)
    tmp[i] = (unsigned char) (v >> (8 * i));
  buf_put (b, tmp, (size_t) width);
}

static void
buf_f32 (Buf  *b,
         float f)
{
  uint32_t bits;

  memcpy (&bits, &f, 4);
  buf_le (b, bits, 4);
}

static void
buf_f64 (Buf   *b,
         double d)
{
  uint64_t bits;

  memcpy (&bits, &d, 8);
  buf_le (b, bits, 8);
}

/* A file image: length prefix, @header padded with spaces to a multiple of
 * 8 as the Python library pads it, then @data. */
static Buf
make_image (const char *header,
            const Buf  *data,
            bool        pad)
{
  Buf b = { 0 };
  size_t n = strlen (header);
  size_t padded = pad ? (n + 7) / 8 * 8 : n;

  buf_le (&b, padded, 8);
  buf_put (&b, header, n);
  for (size_t i = n; i < padded; i++)
    buf_put (&b, " ", 1);
  if (data != NULL && data->size > 0)
    buf_put (&b, data->bytes, data->size);
  return b;
}

/* The header and data as `safetensors.torch.save_file` lays them out:
 * compact JSON, __metadata__ first, tensors sorted by alignment then name,
 * packed without gaps. */
static const char pytorch_header[] =
  "{\"__metadata__\":{\"format\":\"pt\"},"
  "\"w.f64\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,32]},"
  "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]},"
  "\"idx\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[40,56]},"
  "\"w.f32\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[56,72]},"
  "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[72,80]},"
  "\"w.f16\":{\"dtype\":\"F16\",\"shape\":[2,5],\"data_offsets\":[80,100]},"
  "\"w.bf16\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[100,110]},"
  "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[110,114]},"
  "\"u8\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[114,117]},"
  "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[117,119]},"
  "\"mask\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[119,120]},"
  "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[120,120]}}";

static const uint16_t f16_bits[10] = {
  0x3c00, 0xc000, 0x0001, 0x03ff, 0x0400, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000,
};
static const uint16_t bf16_bits[5] = { 0x3f80, 0xc049, 0x7f80, 0x7fc0, 0x0001 };

static Buf
pytorch_data (void)
{
  Buf d = { 0 };

  buf_f64 (&d, 1.5);
  buf_f64 (&d, -2.25);
  buf_f64 (&d, 1e-3);
  buf_f64 (&d, 1e300);
  buf_le (&d, 12345, 8);
  buf_le (&d, (uint64_t) -1, 8);
  buf_le (&d, (uint64_t) 1 << 40, 8);
  buf_f32 (&d, 1.0f);
  buf_f32 (&d, -2.0f);
  buf_f32 (&d, 0.5f);
  buf_f32 (&d, 3.25f);
  buf_le (&d, (uint32_t) -7, 4);
  buf_le (&d, 2147483647u, 4);
  for (int i = 0; i < 10; i++)
    buf_le (&d, f16_bits[i], 2);
  for (int i = 0; i < 5; i++)
    buf_le (&d, bf16_bits[i], 2);
  buf_le (&d, (uint16_t) -300, 2);
  buf_le (&d, 32767, 2);
  buf_le (&d, 0, 1);
  buf_le (&d, 200, 1);
  buf_le (&d, 255, 1);
  buf_le (&d, (uint8_t) -128, 1);
  buf_le (&d, 127, 1);
  buf_le (&d, 1, 1);
  return d;
}

static Buf
pytorch_image (void)
{
  Buf d = pytorch_data ();
  Buf b;

  CHECK (d.size == 120);
  b = make_image (pytorch_header, &d, true);
  free (d.bytes);
  return b;
}

static void
check_pytorch_file (CpSafetensors *st)
{
  static const char *const order[] = {
    "w.f64", "bn.num_batches_tracked", "idx", "w.f32", "i32", "w.f16", "w.bf16", "i16", "u8",
    "i8", "mask", "empty",
  };
  CpError error;
  float f[16];
  int64_t i[4];
  const CpTensorInfo *info;

  CHECK (cp_safetensors_count (st) == 12);
  for (int k = 0; k < 12 && k < cp_safetensors_count (st); k++)
    CHECK_MSG (strcmp (cp_safetensors_info (st, k)->name, order[k]) == 0, "%d: %s", k,
               cp_safetensors_info (st, k)->name);
  CHECK (cp_safetensors_info (st, 12) == NULL);
  CHECK (cp_safetensors_info (st, -1) == NULL);
  CHECK (cp_safetensors_metadata_count (st) == 1);
  CHECK (strcmp (cp_safetensors_metadata (st, "format"), "pt") == 0);
  CHECK (cp_safetensors_metadata (st, "missing") == NULL);

  info = cp_safetensors_find (st, "w.f16");
  CHECK (info != NULL && info->dtype == CP_DTYPE_F16 && info->ndim == 2 && info->shape[0] == 2
         && info->shape[1] == 5 && info->offset == 80 && info->nbytes == 20);
  CHECK (cp_safetensors_find (st, "nope") == NULL);

  /* F64 to float, including overflow to infinity. */
  CHECK (cp_safetensors_read_f32 (st, "w.f64", (int64_t[]) { 4 }, 1, f, &error) == CP_OK);
  CHECK (f[0] == 1.5f && f[1] == -2.25f && f[2] == (float) 1e-3 && isinf (f[3]) && f[3] > 0);

  CHECK (cp_safetensors_read_f32 (st, "w.f32", (int64_t[]) { 2, 2 }, 2, f, &error) == CP_OK);
  CHECK (f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.5f && f[3] == 3.25f);

  /* F16: normals, both subnormal extremes, the smallest normal, the
   * largest finite, infinities, NaN and negative zero. */
  CHECK_MSG (cp_safetensors_read_f32 (st, "w.f16", (int64_t[]) { 2, 5 }, 2, f, &error) == CP_OK,
             "%s", error.message);
  CHECK (f[0] == 1.0f);
  CHECK (f[1] == -2.0f);
  CHECK (f[2] == ldexpf (1.0f, -24));
  CHECK (f[3] == ldexpf (1023.0f, -24));
  CHECK (f[4] == ldexpf (1.0f, -14));
  CHECK (f[5] == 65504.0f);
  CHECK (isinf (f[6]) && f[6] > 0);
  CHECK (isinf (f[7]) && f[7] < 0);
  CHECK (isnan (f[8]));
  CHECK (f[9] == 0.0f && signbit (f[9]));

  /* BF16: the top half of a float32. */
  CHECK (cp_safetensors_read_f32 (st, "w.bf16", (int64_t[]) { 5 }, 1, f, &error) == CP_OK);
  CHECK (f[0] == 1.0f);
  CHECK (f[1] == -3.140625f);
  CHECK (isinf (f[2]) && f[2] > 0);
  CHECK (isnan (f[3]));
  CHECK (f[4] == ldexpf (1.0f, -133));

  /* A 0-dimensional int64, as PyTorch stores num_batches_tracked. */
  i[0] = 0;
  CHECK (cp_safetensors_read_i64 (st, "bn.num_batches_tracked", NULL, 0, i, &error) == CP_OK);
  CHECK (i[0] == 12345);
  CHECK (cp_safetensors_read_i64 (st, "idx", (int64_t[]) { 2 }, 1, i, &error) == CP_OK);
  CHECK (i[0] == -1 && i[1] == (int64_t) 1 << 40);
  CHECK (cp_safetensors_read_i64 (st, "i32", (int64_t[]) { 2 }, 1, i, &error) == CP_OK);
  CHECK (i[0] == -7 && i[1] == 2147483647);
  CHECK (cp_safetensors_read_i64 (st, "i16", (int64_t[]) { 2 }, 1, i, &error) == CP_OK);
  CHECK (i[0] == -300 && i[1] == 32767);
  CHECK (cp_safetensors_read_i64 (st, "u8", (int64_t[]) { 3 }, 1, i, &error) == CP_OK);
  CHECK (i[0] == 0 && i[1] == 200 && i[2] == 255);
  CHECK (cp_safetensors_read_i64 (st, "i8", (int64_t[]) { 2 }, 1, i, &error) == CP_OK);
  CHECK (i[0] == -128 && i[1] == 127);

  info = cp_safetensors_find (st, "mask");
  CHECK (info != NULL && info->dtype == CP_DTYPE_BOOL
         && ((const unsigned char *) cp_safetensors_data (st, info))[0] == 1);
  CHECK (cp_safetensors_read_f32 (st, "empty", (int64_t[]) { 0, 3 }, 2, f, &error) == CP_OK);

  /* Mismatches are errors naming the key and both shapes or the dtype. */
  CHECK (cp_safetensors_read_f32 (st, "w.f32", (int64_t[]) { 2, 3 }, 2, f, &error)
         == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, "tensor 'w.f32': expected shape [2, 3], found [2, 2]"),
             "%s", error.message);
  CHECK (cp_safetensors_read_f32 (st, "w.f32", (int64_t[]) { 4 }, 1, f, &error) == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, "expected shape [4], found [2, 2]"), "%s", error.message);
  CHECK (cp_safetensors_read_i64 (st, "bn.num_batches_tracked", (int64_t[]) { 1 }, 1, i, &error)
         == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, "expected shape [1], found []"), "%s", error.message);
  CHECK (cp_safetensors_read_f32 (st, "idx", (int64_t[]) { 2 }, 1, f, &error) == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, "tensor 'idx': dtype I64 is not a floating-point type"), "%s",
             error.message);
  CHECK (cp_safetensors_read_i64 (st, "w.f32", (int64_t[]) { 2, 2 }, 2, i, &error)
         == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, "dtype F32 is not an integer type"), "%s", error.message);
  CHECK (cp_safetensors_read_i64 (st, "mask", (int64_t[]) { 1 }, 1, i, &error) == CP_ERR_FORMAT);
  CHECK (cp_safetensors_read_f32 (st, "head.0.weight", (int64_t[]) { 1 }, 1, f, &error)
         == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, "tensor 'head.0.weight' is missing"), "%s", error.message);
  CHECK_MSG (strstr (error.message, cp_safetensors_path (st)) == error.message, "%s",
             error.message);
}

static void
test_pytorch_layout (void)
{
  Buf image = pytorch_image ();
  CpError error;
  CpSafetensors *st;
  char *path;

  CHECK (image.size == 8 + (sizeof pytorch_header - 1 + 7) / 8 * 8 + 120);
  st = cp_safetensors_from_memory (image.bytes, image.size, "torch.safetensors", &error);
  CHECK_MSG (st != NULL, "%s", st ? "" : error.message);
  if (st != NULL)
    {
      CHECK (strcmp (cp_safetensors_path (st), "torch.safetensors") == 0);
      check_pytorch_file (st);
      cp_safetensors_close (st);
    }

  /* The same bytes through a real file. */
  path = io_test_path (scratch_dir, "torch.safetensors");
  CHECK (io_test_write (path, image.bytes, image.size));
  st = cp_safetensors_open (path, &error);
  CHECK_MSG (st != NULL, "%s", st ? "" : error.message);
  if (st != NULL)
    {
      CHECK (strcmp (cp_safetensors_path (st), path) == 0);
      check_pytorch_file (st);
      cp_safetensors_close (st);
    }
  free (path);

  /* An unpadded header and trailing bytes after the last tensor are
   * accepted too (other writers do both). */
  {
    Buf d = pytorch_data ();
    Buf unpadded;

    buf_put (&d, "trailer", 7);
    unpadded = make_image (pytorch_header, &d, false);
    st = cp_safetensors_from_memory (unpadded.bytes, unpadded.size, "unpadded", &error);
    CHECK_MSG (st != NULL, "%s", st ? "" : error.message);
    if (st != NULL)
      check_pytorch_file (st);
    cp_safetensors_close (st);
    free (unpadded.bytes);
    free (d.bytes);
  }
  free (image.bytes);
}

static void
test_round_trip (void)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  CpSafetensors *st;
  CpError error;
  float weight[3 * 4], back[3 * 4];
  int64_t steps[5] = { 0, -1, INT64_MAX, INT64_MIN, 42 }, back_i[5];
  int64_t tracked = 7;
  uint16_t half[2] = { 0x3c00, 0x3800 };
  char *path = io_test_path (scratch_dir, "model.safetensors");
  unsigned char *raw;
  size_t raw_size;
  CpRng rng;

  cp_rng_seed (&rng, 5);
  for (int i = 0; i < 12; i++)
    weight[i] = (float) cp_rng_normal (&rng);
  weight[5] = -0.0f;
  weight[6] = 1e-40f;   /* subnormal: bytes are copied, not reformatted */

  CHECK (cp_safetensors_writer_set_metadata (w, "format", "cutpaste", &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "head.0.weight", CP_DTYPE_F32, (int64_t[]) { 3, 4 }, 2,
                                    weight, &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "steps", CP_DTYPE_I64, (int64_t[]) { 5 }, 1, steps,
                                    &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "bn1.num_batches_tracked", CP_DTYPE_I64, NULL, 0,
                                    &tracked, &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "half", CP_DTYPE_F16, (int64_t[]) { 2 }, 1, half, &error)
         == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "none", CP_DTYPE_F32, (int64_t[]) { 0 }, 1, NULL, &error)
         == CP_OK);
  CHECK (cp_safetensors_writer_set_metadata (w, "category", "bottle \"caf\xc3\xa9\"\n\\", &error)
         == CP_OK);
  CHECK (cp_safetensors_writer_set_metadata (w, "auroc", "0.5", &error) == CP_OK);
  /* Setting a key again replaces the value and keeps its place. */
  CHECK (cp_safetensors_writer_set_metadata (w, "auroc", "0.987", &error) == CP_OK);

  /* Bad arguments are refused with the name in the message. */
  CHECK (cp_safetensors_writer_add (w, "steps", CP_DTYPE_I64, (int64_t[]) { 5 }, 1, steps,
                                    &error) == CP_ERR_INVALID);
  CHECK (strstr (error.message, "'steps' added twice") != NULL);
  CHECK (cp_safetensors_writer_add (w, "__metadata__", CP_DTYPE_I64, (int64_t[]) { 1 }, 1, steps,
                                    &error) == CP_ERR_INVALID);
  CHECK (cp_safetensors_writer_add (w, "neg", CP_DTYPE_F32, (int64_t[]) { -1 }, 1, weight,
                                    &error) == CP_ERR_INVALID);
  CHECK (strstr (error.message, "'neg'") != NULL);
  CHECK (cp_safetensors_writer_add (w, "bad\xff", CP_DTYPE_F32, (int64_t[]) { 1 }, 1, weight,
                                    &error) == CP_ERR_INVALID);
  CHECK (cp_safetensors_writer_add (w, "deep", CP_DTYPE_F32, (int64_t[9]) { 1 }, 9, weight,
                                    &error) == CP_ERR_INVALID);
  CHECK (cp_safetensors_writer_add (w, "dt", (CpDtype) 99, (int64_t[]) { 1 }, 1, weight, &error)
         == CP_ERR_INVALID);

  CHECK_MSG (cp_safetensors_writer_save (w, path, &error) == CP_OK, "%s", error.message);
  cp_safetensors_writer_free (w);

  /* The file as the Python library would write it. */
  raw = io_test_read (path, &raw_size);
  CHECK (raw != NULL);
  if (raw != NULL)
    {
      uint64_t n = 0;

      for (int i = 7; i >= 0; i--)
        n = (n << 8) | raw[i];
      CHECK (n % 8 == 0);
      CHECK (raw_size == 8 + n + 48 + 40 + 8 + 4);
      CHECK (raw[8] == '{');
      CHECK (memcmp (raw + 8, "{\"__metadata__\":{\"format\":\"cutpaste\",", 37) == 0);
      /* Padding is spaces after the closing brace. */
      {
        size_t end = 8 + n;

        while (end > 8 && raw[end - 1] == ' ')
          end--;
        CHECK (raw[end - 1] == '}');
        CHECK (8 + n - end < 8);
      }
      CHECK (strstr ((char *) raw + 8, "\"head.0.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],"
                                       "\"data_offsets\":[0,48]}") != NULL);
      CHECK (strstr ((char *) raw + 8, "\"bn1.num_batches_tracked\":{\"dtype\":\"I64\","
                                       "\"shape\":[],\"data_offsets\":[88,96]}") != NULL);
      /* Data: little-endian float32 bits, in insertion order, no gaps. */
      for (int i = 0; i < 12; i++)
        {
          const unsigned char *p = raw + 8 + n + 4 * i;
          uint32_t bits = (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
                          | ((uint32_t) p[3] << 24);
          uint32_t want;

          memcpy (&want, &weight[i], 4);
          CHECK (bits == want);
        }
      CHECK (raw[8 + n + 48] == 0 && raw[8 + n + 48 + 40] == 7);
      free (raw);
    }

  st = cp_safetensors_open (path, &error);
  CHECK_MSG (st != NULL, "%s", st ? "" : error.message);
  if (st == NULL)
    {
      free (path);
      return;
    }
  CHECK (cp_safetensors_count (st) == 5);
  CHECK (strcmp (cp_safetensors_info (st, 0)->name, "head.0.weight") == 0);
  CHECK (strcmp (cp_safetensors_info (st, 1)->name, "steps") == 0);
  CHECK (strcmp (cp_safetensors_info (st, 2)->name, "bn1.num_batches_tracked") == 0);
  CHECK (cp_safetensors_info (st, 2)->ndim == 0);
  CHECK (strcmp (cp_safetensors_info (st, 4)->name, "none") == 0);
  CHECK (cp_safetensors_read_f32 (st, "head.0.weight", (int64_t[]) { 3, 4 }, 2, back, &error)
         == CP_OK);
  CHECK (memcmp (back, weight, sizeof weight) == 0);
  CHECK (cp_safetensors_read_i64 (st, "steps", (int64_t[]) { 5 }, 1, back_i, &error) == CP_OK);
  CHECK (memcmp (back_i, steps, sizeof steps) == 0);
  CHECK (cp_safetensors_read_i64 (st, "bn1.num_batches_tracked", NULL, 0, back_i, &error)
         == CP_OK);
  CHECK (back_i[0] == 7);
  CHECK (cp_safetensors_read_f32 (st, "half", (int64_t[]) { 2 }, 1, back, &error) == CP_OK);
  CHECK (back[0] == 1.0f && back[1] == 0.5f);
  CHECK (cp_safetensors_metadata_count (st) == 3);
  CHECK (strcmp (cp_safetensors_metadata_key (st, 0), "format") == 0);
  CHECK (strcmp (cp_safetensors_metadata_key (st, 1), "category") == 0);
  CHECK (strcmp (cp_safetensors_metadata_value (st, 1), "bottle \"caf\xc3\xa9\"\n\\") == 0);
  CHECK (strcmp (cp_safetensors_metadata_key (st, 2), "auroc") == 0);
  CHECK (strcmp (cp_safetensors_metadata (st, "auroc"), "0.987") == 0);
  cp_safetensors_close (st);

  /* Saving again replaces the file; nothing else is left in the folder. */
  w = cp_safetensors_writer_new ();
  CHECK (cp_safetensors_writer_add (w, "only", CP_DTYPE_U8, (int64_t[]) { 3 }, 1, "abc", &error)
         == CP_OK);
  CHECK (cp_safetensors_writer_save (w, path, &error) == CP_OK);
  cp_safetensors_writer_free (w);
  st = cp_safetensors_open (path, &error);
  CHECK (st != NULL && cp_safetensors_count (st) == 1 && cp_safetensors_metadata_count (st) == 0);
  if (st != NULL)
    CHECK (memcmp (cp_safetensors_data (st, cp_safetensors_info (st, 0)), "abc", 3) == 0);
  cp_safetensors_close (st);

  /* An empty writer makes a valid empty file. */
  w = cp_safetensors_writer_new ();
  CHECK (cp_safetensors_writer_save (w, path, &error) == CP_OK);
  cp_safetensors_writer_free (w);
  st = cp_safetensors_open (path, &error);
  CHECK (st != NULL && cp_safetensors_count (st) == 0);
  cp_safetensors_close (st);
  unlink (path);
  free (path);
}

/* ------------------------------------------------------------------------ */
/* Malformed files                                                          */

typedef struct
{
  const char *what;       /* for failure reports */
  const char *header;     /* NULL: use raw */
  size_t      data_size;  /* zero bytes after the header */
  const char *raw;        /* whole file bytes when header is NULL */
  size_t      raw_size;
  const char *expect1;
  const char *expect2;    /* may be NULL */
} BadCase;

#define T(name, body) "\"" name "\":" body
static const BadCase bad_cases[] = {
  { "empty file", NULL, 0, "", 0, "file is too short (0 bytes)", NULL },
  { "truncated prefix", NULL, 0, "\x10\0\0\0\0", 5, "file is too short (5 bytes)", NULL },
  { "header longer than the file", NULL, 0, "\xc8\0\0\0\0\0\0\0{}", 10,
    "header length 200 exceeds the file size (10 bytes)", NULL },
  { "header length 2^63", NULL, 0, "\0\0\0\0\0\0\0\x80{}", 10, "header length 9223372036854775808",
    "exceeds the limit of 100000000 bytes" },
  { "header over 100 MB", NULL, 0, "\x01\xe1\xf5\x05\0\0\0\0{}", 10, "header length 100000001",
    "exceeds the limit" },
  { "truncated JSON", "{\"a\":{\"dtype\":\"F32\",", 0, NULL, 0, "header is not valid JSON",
    "unexpected end of input" },
  { "garbage after JSON", "{} x", 0, NULL, 0, "header is not valid JSON",
    "unexpected data after the JSON value" },
  { "header is an array", "[1, 2]", 0, NULL, 0, "header is a JSON array, not an object", NULL },
  { "header is empty", "", 0, NULL, 0, "header is not valid JSON", NULL },
  { "entry not an object", "{" T ("a", "5") "}", 0, NULL, 0,
    "tensor 'a': entry is a JSON integer, not an object", NULL },
  { "missing dtype", "{" T ("a", "{\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4, NULL, 0,
    "tensor 'a': missing field 'dtype'", NULL },
  { "dtype not a string", "{" T ("a", "{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4,
    NULL, 0, "tensor 'a': dtype is integer, not a string", NULL },
  { "unknown dtype", "{" T ("a", "{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}") "}", 4,
    NULL, 0, "tensor 'a': unknown dtype 'F17'", NULL },
  { "unsupported dtype", "{" T ("a", "{\"dtype\":\"U32\",\"shape\":[1],\"data_offsets\":[0,4]}")
    "}", 4, NULL, 0, "tensor 'a': unsupported dtype 'U32'", NULL },
  { "shape not an array", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}")
    "}", 8, NULL, 0, "tensor 'a': shape is string, not an array", NULL },
  { "negative dimension", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}")
    "}", 8, NULL, 0, "tensor 'a': shape [2, -1] is not a list of non-negative integers", NULL },
  { "fractional dimension", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}")
    "}", 8, NULL, 0, "tensor 'a': shape [<number>] is not a list of non-negative integers", NULL },
  { "element count overflow",
    "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
           "\"data_offsets\":[0,8]}") "}", 8, NULL, 0,
    "tensor 'a': shape [4294967296, 4294967296, 4294967296] overflows a 64-bit element count",
    NULL },
  { "byte count overflow",
    "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]}") "}",
    8, NULL, 0, "tensor 'a': shape [2305843009213693952] of F32 overflows a 64-bit byte count",
    NULL },
  { "dimension past int64", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[18446744073709551616],"
                                   "\"data_offsets\":[0,8]}") "}", 8, NULL, 0,
    "header is not valid JSON", "does not fit in 64 bits" },
  { "too many dimensions",
    "{" T ("a", "{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}") "}", 1,
    NULL, 0, "tensor 'a': shape has 9 dimensions, at most 8 are supported", NULL },
  { "offsets one number", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}") "}",
    4, NULL, 0, "tensor 'a': data_offsets [0] is not [begin, end]", NULL },
  { "negative offset", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-4,4]}") "}",
    8, NULL, 0, "tensor 'a': data_offsets [-4, 4] is not [begin, end]", NULL },
  { "begin after end", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}") "}",
    8, NULL, 0, "tensor 'a': data_offsets [8, 4] begin is after end", NULL },
  { "end beyond data", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]}") "}",
    16, NULL, 0, "tensor 'a': data_offsets [0, 64] go beyond the end of the data section (16 bytes)",
    NULL },
  { "huge end", "{" T ("a", "{\"dtype\":\"U8\",\"shape\":[1],"
                       "\"data_offsets\":[9223372036854775806,9223372036854775807]}") "}", 8,
    NULL, 0, "tensor 'a': data_offsets [9223372036854775806, 9223372036854775807] go beyond", NULL },
  { "size mismatch",
    "{" T ("head.0.weight", "{\"dtype\":\"F32\",\"shape\":[512,512],\"data_offsets\":[0,100]}") "}",
    100, NULL, 0,
    "tensor 'head.0.weight': data_offsets [0, 100] do not match shape [512, 512] of F32 "
    "(1048576 bytes)", NULL },
  { "overlap", "{" T ("a", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}") ","
               T ("b", "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}") "}", 12, NULL, 0,
    "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]", NULL },
  { "nested overlap", "{" T ("big", "{\"dtype\":\"U8\",\"shape\":[12],\"data_offsets\":[0,12]}") ","
                      T ("x", "{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]}") ","
                      T ("y", "{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[8,10]}") "}", 12,
    NULL, 0, "overlap tensor 'big' [0, 12]", NULL },
  { "duplicate name", "{" T ("a", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}") ","
                      T ("a", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}") "}", 2,
    NULL, 0, "tensor 'a': duplicate name", NULL },
  { "duplicate field", "{" T ("a", "{\"dtype\":\"U8\",\"dtype\":\"F32\",\"shape\":[1],"
                              "\"data_offsets\":[0,1]}") "}", 1, NULL, 0,
    "tensor 'a': field 'dtype' appears twice", NULL },
  { "metadata value not a string", "{\"__metadata__\":{\"format\":\"pt\",\"epochs\":3}}", 0, NULL, 0,
    "__metadata__: value of 'epochs' is integer, not a string", NULL },
  { "metadata not an object", "{\"__metadata__\":[\"a\"]}", 0, NULL, 0,
    "__metadata__ is array, not an object of strings", NULL },
  { "metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, NULL, 0,
    "__metadata__ appears twice", NULL },
  { "metadata with NUL", "{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, NULL, 0,
    "value of 'k' contains a NUL byte", NULL },
  { "name with NUL", "{" T ("a\\u0000b", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}")
    "}", 1, NULL, 0, "the name contains a NUL byte", NULL },
  { "invalid UTF-8 name", "{" T ("a\xff", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}")
    "}", 1, NULL, 0, "header is not valid JSON", "invalid UTF-8" },
  { "nesting bomb", "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0,
    NULL, 0, "header is not valid JSON", "nesting deeper than 16" },
};

static void
check_bad (const BadCase *c,
           CpSafetensors *st,
           const CpError *error,
           const char    *label)
{
  CHECK_MSG (st == NULL, "%s: accepted", c->what);
  cp_safetensors_close (st);
  CHECK_MSG (error->code == CP_ERR_FORMAT, "%s: code %s (%s)", c->what,
             cp_status_to_string (error->code), error->message);
  CHECK_MSG (strncmp (error->message, label, strlen (label)) == 0, "%s: '%s' does not name %s",
             c->what, error->message, label);
  CHECK_MSG (strstr (error->message, c->expect1) != NULL, "%s: '%s' lacks '%s'", c->what,
             error->message, c->expect1);
  if (c->expect2 != NULL)
    CHECK_MSG (strstr (error->message, c->expect2) != NULL, "%s: '%s' lacks '%s'", c->what,
               error->message, c->expect2);
}

static void
test_malformed (void)
{
  char *path = io_test_path (scratch_dir, "bad.safetensors");
  size_t n = sizeof bad_cases / sizeof bad_cases[0];

  printf ("# %zu malformed files\n", n);
  CHECK (n >= 15);
  for (size_t i = 0; i < n; i++)
    {
      const BadCase *c = &bad_cases[i];
      CpError error;
      CpSafetensors *st;
      Buf image = { 0 };

      if (c->header != NULL)
        {
          Buf data = { 0 };

          for (size_t k = 0; k < c->data_size; k++)
            buf_put (&data, "\x5a", 1);
          image = make_image (c->header, &data, true);
          free (data.bytes);
        }
      else if (c->raw_size > 0)
        buf_put (&image, c->raw, c->raw_size);

      cp_error_clear (&error);
      st = cp_safetensors_from_memory (image.bytes, image.size, "bad.safetensors", &error);
      check_bad (c, st, &error, "bad.safetensors: ");

      /* The same through a file: the message starts with its path. */
      CHECK (io_test_write (path, image.bytes, image.size));
      cp_error_clear (&error);
      st = cp_safetensors_open (path, &error);
      check_bad (c, st, &error, path);
      if (i == 0)
        printf ("# e.g. %s\n", error.message);
      free (image.bytes);
    }
  unlink (path);

  /* Missing files are I/O errors, not format errors. */
  {
    CpError error;
    CpSafetensors *st = cp_safetensors_open (path, &error);

    CHECK (st == NULL && error.code == CP_ERR_IO);
    CHECK (strstr (error.message, path) != NULL);
    CHECK (strstr (error.message, "No such file or directory") != NULL);
    st = cp_safetensors_open (scratch_dir, &error);
    CHECK (st == NULL && error.code == CP_ERR_IO);
  }
  free (path);
}

/* Random damage to a valid file: opening may fail or succeed, but it never
 * crashes, and every tensor of an accepted file is fully readable (ASan
 * checks the reads stay inside the image). */
static void
test_fuzz (void)
{
  Buf image = pytorch_image ();
  CpRng rng;
  int accepted = 0;
  unsigned char *buf = malloc (image.size + 64);
  size_t header_end = image.size - 120;

  cp_rng_seed (&rng, 99);
  for (int iter = 0; iter < 6000; iter++)
    {
      size_t n = image.size;
      int edits = (int) cp_rng_int_range (&rng, 1, 3);
      CpSafetensors *st;
      CpError error;

      memcpy (buf, image.bytes, n);
      for (int e = 0; e < edits; e++)
        {
          size_t at = (size_t) cp_rng_int_range (&rng, 0, (int64_t) header_end - 1);

          switch (cp_rng_int_range (&rng, 0, 5))
            {
            case 0:
              buf[at] = (unsigned char) cp_rng_int_range (&rng, 0, 255);
              break;
            case 1:
              n = (size_t) cp_rng_int_range (&rng, 0, (int64_t) n);
              break;
            case 2:
              buf[cp_rng_int_range (&rng, 0, 7)] = (unsigned char) cp_rng_int_range (&rng, 0, 255);
              break;
            default:
              /* Digits keep the JSON valid and move offsets and shapes. */
              if (buf[at] >= '0' && buf[at] <= '9')
                buf[at] = (unsigned char) ('0' + cp_rng_int_range (&rng, 0, 9));
              else
                buf[at] = (unsigned char) "0123456789,[]"[cp_rng_int_range (&rng, 0, 12)];
              break;
            }
        }
      st = cp_safetensors_from_memory (buf, n, "fuzz", &error);
      if (st == NULL)
        {
          CHECK_MSG (error.code == CP_ERR_FORMAT, "%s", error.message);
          continue;
        }
      accepted++;
      for (int k = 0; k < cp_safetensors_count (st); k++)
        {
          const CpTensorInfo *info = cp_safetensors_info (st, k);
          const unsigned char *p = cp_safetensors_data (st, info);
          unsigned sum = 0;
          size_t count = (size_t) (info->nbytes / cp_dtype_size (info->dtype));

          for (uint64_t b = 0; b < info->nbytes; b++)
            sum += p[b];
          (void) sum;
          if (count <= 64)
            {
              float f[64];
              int64_t v[64];

              if (cp_safetensors_read_f32 (st, info->name, info->shape, info->ndim, f, &error)
                  != CP_OK)
                CHECK (cp_safetensors_read_i64 (st, info->name, info->shape, info->ndim, v,
                                                &error) == CP_OK
                       || info->dtype == CP_DTYPE_BOOL);
            }
          CHECK (cp_safetensors_find (st, info->name) == info);
        }
      cp_safetensors_close (st);
    }
  printf ("# %d of 6000 damaged files were still valid\n", accepted);
  free (buf);
  free (image.bytes);
}

/* ------------------------------------------------------------------------ */
/* Atomic saves                                                             */

static CpSafetensorsWriter *
writer_with_bytes (size_t n)
{
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  unsigned char *data = malloc (n);
  CpError error;

  for (size_t i = 0; i < n; i++)
    data[i] = (unsigned char) (i * 31 + 7);
  CHECK (cp_safetensors_writer_add (w, "blob", CP_DTYPE_U8, (int64_t[]) { (int64_t) n }, 1, data,
                                    &error) == CP_OK);
  free (data);
  return w;
}

static void
test_atomic_save (void)
{
  char *dir = io_test_path (scratch_dir, "atomic");
  char *target, *missing, *file_parent, *bad_parent, *folder_target;
  unsigned char *before, *after;
  size_t before_size, after_size;
  CpSafetensorsWriter *w;
  CpError error;
  int entries;

  mkdir (dir, 0755);
  target = io_test_path (dir, "model.safetensors");
  missing = io_test_path (dir, "no/such/folder/model.safetensors");
  file_parent = io_test_path (dir, "plain.txt");
  bad_parent = io_test_path (dir, "plain.txt/model.safetensors");
  folder_target = io_test_path (dir, "sub");

  w = writer_with_bytes (100);
  CHECK (cp_safetensors_writer_save (w, target, &error) == CP_OK);
  cp_safetensors_writer_free (w);
  CHECK (io_test_write (file_parent, "text", 4));
  mkdir (folder_target, 0755);
  before = io_test_read (target, &before_size);
  entries = io_test_count_entries (dir);

  w = writer_with_bytes (1 << 18);

  /* A missing folder. */
  CHECK (cp_safetensors_writer_save (w, missing, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, missing) != NULL, "%s", error.message);
  CHECK_MSG (strstr (error.message, "No such file or directory") != NULL, "%s", error.message);

  /* A "folder" that is a regular file. */
  CHECK (cp_safetensors_writer_save (w, bad_parent, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, bad_parent) != NULL, "%s", error.message);
  CHECK_MSG (strstr (error.message, "Not a directory") != NULL, "%s", error.message);

  /* A target that is a folder: the temporary file is written, the rename
   * fails, and the temporary file must not be left behind. */
  CHECK (cp_safetensors_writer_save (w, folder_target, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, folder_target) != NULL, "%s", error.message);
  CHECK_MSG (strstr (error.message, "Is a directory") != NULL, "%s", error.message);
  CHECK (io_test_count_entries (dir) == entries);

  /* A write that fails halfway (file size limit, which binds root too):
   * the old file stays byte-identical and no temporary file remains. */
  {
    struct rlimit old, small;

    signal (SIGXFSZ, SIG_IGN);
    CHECK (getrlimit (RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 65536;
    CHECK (setrlimit (RLIMIT_FSIZE, &small) == 0);
    CHECK (cp_safetensors_writer_save (w, target, &error) == CP_ERR_IO);
    CHECK (setrlimit (RLIMIT_FSIZE, &old) == 0);
    CHECK_MSG (strstr (error.message, target) != NULL, "%s", error.message);
    CHECK_MSG (strstr (error.message, "File too large") != NULL, "%s", error.message);
    CHECK (io_test_count_entries (dir) == entries);
  }

  /* A read-only folder (root ignores permissions, so only as a user). */
  if (geteuid () != 0)
    {
      chmod (dir, 0555);
      CHECK (cp_safetensors_writer_save (w, target, &error) == CP_ERR_IO);
      CHECK_MSG (strstr (error.message, "Permission denied") != NULL, "%s", error.message);
      chmod (dir, 0755);
    }
  else
    printf ("# running as root: the read-only folder case is covered by the cases above\n");

  after = io_test_read (target, &after_size);
  CHECK (before != NULL && after != NULL && before_size == after_size
         && memcmp (before, after, before_size) == 0);
  free (after);

  /* And a good save still works, replacing the file. */
  CHECK (cp_safetensors_writer_save (w, target, &error) == CP_OK);
  after = io_test_read (target, &after_size);
  CHECK (after != NULL && after_size > 1 << 18);
  CHECK (io_test_count_entries (dir) == entries);
  cp_safetensors_writer_free (w);

  free (before);
  free (after);
  free (target);
  free (missing);
  free (file_parent);
  free (bad_parent);
  free (folder_target);
  free (dir);
}

/* ------------------------------------------------------------------------ */
/* Rewriting metadata                                                       */

/* True when every tensor of @a is in @b with the same dtype, shape,
 * data_offsets and bytes, and the counts agree. */
static bool
same_tensors (const CpSafetensors *a,
              const CpSafetensors *b)
{
  if (cp_safetensors_count (a) != cp_safetensors_count (b))
    return false;
  for (int i = 0; i < cp_safetensors_count (a); i++)
    {
      const CpTensorInfo *x = cp_safetensors_info (a, i);
      const CpTensorInfo *y = cp_safetensors_find (b, x->name);

      if (y == NULL || x->dtype != y->dtype || x->ndim != y->ndim || x->offset != y->offset
          || x->nbytes != y->nbytes
          || memcmp (x->shape, y->shape, (size_t) x->ndim * sizeof x->shape[0]) != 0
          || (x->nbytes > 0
              && memcmp (cp_safetensors_data (a, x), cp_safetensors_data (b, y), x->nbytes) != 0))
        {
          fprintf (stderr, "tensor '%s' differs\n", x->name);
          return false;
        }
    }
  return true;
}

static bool
file_is (const char          *path,
         const unsigned char *bytes,
         size_t               size)
{
  size_t now_size;
  unsigned char *now = io_test_read (path, &now_size);
  bool same = now != NULL && now_size == size && memcmp (now, bytes, size) == 0;

  free (now);
  return same;
}

static void
test_rewrite_metadata (void)
{
  char *dir = io_test_path (scratch_dir, "rewrite");
  char *path, *missing, *corrupt, *pt_path, *gap_path;
  const char *const pairs[] = { "threshold", "2.5", "added", "new", NULL };
  CpSafetensorsWriter *w = cp_safetensors_writer_new ();
  float weights[6] = { 1.0f, -2.5f, 3.25f, 0.0f, -0.0f, 1e-30f };
  int64_t steps[4] = { 0, -1, INT64_MAX, 1234567890123 };
  uint8_t mask[5] = { 0, 1, 200, 255, 7 };
  CpSafetensors *before, *after;
  unsigned char *before_bytes, *now;
  size_t before_size, now_size;
  uint64_t header_len;
  CpError error;
  int entries;

  mkdir (dir, 0755);
  path = io_test_path (dir, "model.safetensors");
  missing = io_test_path (dir, "missing.safetensors");
  corrupt = io_test_path (dir, "corrupt.safetensors");
  pt_path = io_test_path (dir, "pt.safetensors");
  gap_path = io_test_path (dir, "gap.safetensors");

  /* F32, I64 and U8, the U8 last with an odd size so that the data section
   * does not end on a multiple of 8. */
  CHECK (cp_safetensors_writer_add (w, "weights", CP_DTYPE_F32, (int64_t[]) { 2, 3 }, 2, weights,
                                    &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "steps", CP_DTYPE_I64, (int64_t[]) { 4 }, 1, steps,
                                    &error) == CP_OK);
  CHECK (cp_safetensors_writer_add (w, "mask", CP_DTYPE_U8, (int64_t[]) { 5 }, 1, mask,
                                    &error) == CP_OK);
  CHECK (cp_safetensors_writer_set_metadata (w, "format", "test", &error) == CP_OK);
  CHECK (cp_safetensors_writer_set_metadata (w, "threshold", "1.5", &error) == CP_OK);
  CHECK (cp_safetensors_writer_set_metadata (w, "note", "kept \"as\" is", &error) == CP_OK);
  CHECK (cp_safetensors_writer_save (w, path, &error) == CP_OK);
  cp_safetensors_writer_free (w);

  before = cp_safetensors_open (path, &error);
  CHECK (before != NULL);
  CHECK (cp_safetensors_rewrite_metadata (path, pairs, &error) == CP_OK);
  after = cp_safetensors_open (path, &error);
  CHECK_MSG (after != NULL, "%s", error.message);
  if (before != NULL && after != NULL)
    {
      CHECK (same_tensors (before, after));
      /* One key changed in place, one added after the others, the rest as
       * they were. */
      CHECK (cp_safetensors_metadata_count (after) == 4);
      CHECK (strcmp (cp_safetensors_metadata_key (after, 0), "format") == 0);
      CHECK (strcmp (cp_safetensors_metadata_value (after, 0), "test") == 0);
      CHECK (strcmp (cp_safetensors_metadata_key (after, 1), "threshold") == 0);
      CHECK (strcmp (cp_safetensors_metadata_value (after, 1), "2.5") == 0);
      CHECK (strcmp (cp_safetensors_metadata_key (after, 2), "note") == 0);
      CHECK (strcmp (cp_safetensors_metadata_value (after, 2), "kept \"as\" is") == 0);
      CHECK (strcmp (cp_safetensors_metadata_key (after, 3), "added") == 0);
      CHECK (strcmp (cp_safetensors_metadata_value (after, 3), "new") == 0);
    }
  cp_safetensors_close (before);
  cp_safetensors_close (after);

  /* Laid out as the writer lays it out: the same file written with the
   * writer and the new metadata is the same bytes, padding included. */
  now = io_test_read (path, &now_size);
  CHECK (now != NULL && now_size >= 8);
  header_len = 0;
  for (int i = 7; now != NULL && i >= 0; i--)
    header_len = (header_len << 8) | now[i];
  CHECK (header_len % 8 == 0);
  {
    char *again = io_test_path (dir, "again.safetensors");

    w = cp_safetensors_writer_new ();
    cp_safetensors_writer_add (w, "weights", CP_DTYPE_F32, (int64_t[]) { 2, 3 }, 2, weights, &error);
    cp_safetensors_writer_add (w, "steps", CP_DTYPE_I64, (int64_t[]) { 4 }, 1, steps, &error);
    cp_safetensors_writer_add (w, "mask", CP_DTYPE_U8, (int64_t[]) { 5 }, 1, mask, &error);
    cp_safetensors_writer_set_metadata (w, "format", "test", &error);
    cp_safetensors_writer_set_metadata (w, "threshold", "2.5", &error);
    cp_safetensors_writer_set_metadata (w, "note", "kept \"as\" is", &error);
    cp_safetensors_writer_set_metadata (w, "added", "new", &error);
    CHECK (cp_safetensors_writer_save (w, again, &error) == CP_OK);
    cp_safetensors_writer_free (w);
    CHECK (now != NULL && file_is (again, now, now_size));
    unlink (again);
    free (again);
  }
  free (now);

  /* A file laid out by another writer (every dtype, its own tensor order)
   * keeps its tensors and their offsets; a NULL list changes nothing but
   * the header's layout. */
  {
    Buf image = pytorch_image ();

    CHECK (io_test_write (pt_path, image.bytes, image.size));
    before = cp_safetensors_open (pt_path, &error);
    CHECK (cp_safetensors_rewrite_metadata (pt_path, (const char *const[]) { "format", "cp", NULL },
                                            &error) == CP_OK);
    after = cp_safetensors_open (pt_path, &error);
    CHECK (before != NULL && after != NULL && same_tensors (before, after));
    CHECK (after != NULL && cp_safetensors_metadata_count (after) == 1
           && strcmp (cp_safetensors_metadata (after, "format"), "cp") == 0);
    /* The data section is copied whole: the file ends in the same bytes. */
    now = io_test_read (pt_path, &now_size);
    CHECK (now != NULL && now_size >= 120
           && memcmp (now + now_size - 120, image.bytes + image.size - 120, 120) == 0);
    free (now);
    cp_safetensors_close (before);
    cp_safetensors_close (after);
    CHECK (cp_safetensors_rewrite_metadata (pt_path, NULL, &error) == CP_OK);
    after = cp_safetensors_open (pt_path, &error);
    CHECK (after != NULL && cp_safetensors_count (after) == 12
           && strcmp (cp_safetensors_metadata (after, "format"), "cp") == 0);
    cp_safetensors_close (after);
    free (image.bytes);
  }

  /* Gaps and a header order that is not the data order: every offset
   * stays where it was, no tensor is moved. */
  {
    Buf data = { 0 };
    Buf image;

    buf_le (&data, 0x1122334455667788ull, 8);
    buf_le (&data, 0xdeadbeef, 4);          /* unused bytes */
    buf_f32 (&data, 42.0f);
    image = make_image ("{\"late\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
                        "\"early\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                        &data, false);
    CHECK (io_test_write (gap_path, image.bytes, image.size));
    before = cp_safetensors_open (gap_path, &error);
    CHECK (cp_safetensors_rewrite_metadata (gap_path, (const char *const[]) { "k", "v", NULL },
                                            &error) == CP_OK);
    after = cp_safetensors_open (gap_path, &error);
    CHECK (before != NULL && after != NULL && same_tensors (before, after));
    CHECK (after != NULL && strcmp (cp_safetensors_info (after, 0)->name, "late") == 0);
    now = io_test_read (gap_path, &now_size);
    CHECK (now != NULL && now_size >= 16 && memcmp (now + now_size - 16, data.bytes, 16) == 0);
    free (now);
    cp_safetensors_close (before);
    cp_safetensors_close (after);
    free (image.bytes);
    free (data.bytes);
  }

  before_bytes = io_test_read (path, &before_size);
  entries = io_test_count_entries (dir);

  /* A missing file: named, and not created. */
  CHECK (cp_safetensors_rewrite_metadata (missing, pairs, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, missing) != NULL, "%s", error.message);
  CHECK (access (missing, F_OK) != 0);

  /* A damaged file: named, and left as it was. */
  CHECK (io_test_write (corrupt, before_bytes, before_size / 2));
  entries = io_test_count_entries (dir);
  CHECK (cp_safetensors_rewrite_metadata (corrupt, pairs, &error) == CP_ERR_FORMAT);
  CHECK_MSG (strstr (error.message, corrupt) != NULL, "%s", error.message);
  CHECK (file_is (corrupt, before_bytes, before_size / 2));

  /* Text JSON cannot carry: refused before anything is written. */
  CHECK (cp_safetensors_rewrite_metadata (path, (const char *const[]) { "bad", "\xff", NULL },
                                          &error) == CP_ERR_INVALID);
  CHECK_MSG (strstr (error.message, path) != NULL, "%s", error.message);
  CHECK (file_is (path, before_bytes, before_size));
  CHECK (io_test_count_entries (dir) == entries);

  /* A write that fails halfway (file size limit, which binds root too):
   * the file stays byte-identical and no temporary file remains. */
  {
    unsigned char *big = malloc (1 << 18);
    char *big_path = io_test_path (dir, "big.safetensors");
    unsigned char *big_before;
    size_t big_size;
    struct rlimit old, small;

    for (size_t i = 0; i < 1 << 18; i++)
      big[i] = (unsigned char) (i * 13 + 1);
    w = cp_safetensors_writer_new ();
    CHECK (cp_safetensors_writer_add (w, "blob", CP_DTYPE_U8, (int64_t[]) { 1 << 18 }, 1, big,
                                      &error) == CP_OK);
    CHECK (cp_safetensors_writer_save (w, big_path, &error) == CP_OK);
    cp_safetensors_writer_free (w);
    big_before = io_test_read (big_path, &big_size);
    entries = io_test_count_entries (dir);

    signal (SIGXFSZ, SIG_IGN);
    CHECK (getrlimit (RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 65536;
    CHECK (setrlimit (RLIMIT_FSIZE, &small) == 0);
    CHECK (cp_safetensors_rewrite_metadata (big_path, pairs, &error) == CP_ERR_IO);
    CHECK (setrlimit (RLIMIT_FSIZE, &old) == 0);
    CHECK_MSG (strstr (error.message, big_path) != NULL, "%s", error.message);
    CHECK_MSG (strstr (error.message, "File too large") != NULL, "%s", error.message);
    CHECK (big_before != NULL && file_is (big_path, big_before, big_size));
    CHECK (io_test_count_entries (dir) == entries);
    free (big);
    free (big_before);
    free (big_path);
  }

  /* A read-only folder (root ignores permissions, so only as a user). */
  if (geteuid () != 0)
    {
      chmod (dir, 0555);
      CHECK (cp_safetensors_rewrite_metadata (path, pairs, &error) == CP_ERR_IO);
      CHECK_MSG (strstr (error.message, path) != NULL, "%s", error.message);
      CHECK_MSG (strstr (error.message, "Permission denied") != NULL, "%s", error.message);
      chmod (dir, 0755);
      CHECK (file_is (path, before_bytes, before_size));
      CHECK (io_test_count_entries (dir) == entries);
    }
  else
    printf ("# running as root: the read-only folder case is covered by the file size limit\n");

  free (before_bytes);
  free (path);
  free (missing);
  free (corrupt);
  free (pt_path);
  free (gap_path);
  free (dir);
}

int
main (void)
{
  scratch_dir = io_test_make_dir ("safetensors");
  RUN_TEST (test_pytorch_layout);
  RUN_TEST (test_round_trip);
  RUN_TEST (test_malformed);
  RUN_TEST (test_fuzz);
  RUN_TEST (test_atomic_save);
  RUN_TEST (test_rewrite_metadata);
  io_test_remove_dir (scratch_dir);
  free (scratch_dir);
  return harness_exit ();
}
