/* test-pth.c: the zip reader, the restricted unpickler and torch.save
 * archives as tensors.
 *
 * The .pth fixtures were written by PyTorch itself (make-fixtures.py says
 * how, and what each holds); the refusals are pickles and archives built
 * or damaged here, byte by byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/io/fs.h"
#include "core/io/pth.h"
#include "core/io/tensor-file.h"
#include "core/io/torch-pickle.h"
#include "core/io/zip.h"
#include "harness.h"

static char *
fixture (const char *name)
{
  const char *root = getenv ("CP_SOURCE_ROOT");
  char *path = malloc (strlen (root ? root : ".") + strlen (name) + 64);

  sprintf (path, "%s/tests/core/io/fixtures/%s", root ? root : ".", name);
  return path;
}

static unsigned char *
read_fixture (const char *name, size_t *size)
{
  char *path = fixture (name);
  void *data = NULL;
  CpError error = { 0 };

  if (cp_read_file (path, 1 << 20, &data, size, &error) != CP_OK)
    {
      fprintf (stderr, "%s\n", error.message);
      exit (1);
    }
  free (path);
  return data;
}

static void
check_f32 (const CpSafetensors *st, const char *name, int ndim, const int64_t *shape,
           const float *want, size_t n)
{
  float got[16] = { 0 };
  CpError error = { 0 };

  CHECK_MSG (cp_safetensors_read_f32 (st, name, shape, ndim, got, &error) == CP_OK, "%s: %s", name,
             error.message);
  for (size_t i = 0; i < n; i++)
    CHECK_MSG (got[i] == want[i], "%s[%zu] = %.9g, expected %.9g", name, i, (double) got[i],
               (double) want[i]);
}

/* What make-fixtures.py put in small.pth (and its rewritten copies). */
static void
check_small (const char *name)
{
  static const char *const order[] = {
    "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
    "1.num_batches_tracked", "f64", "f16", "bf16", "view", "lo", "hi",
  };
  char *path = fixture (name);
  CpError error = { 0 };
  CpSafetensors *st = cp_tensor_file_open (path, &error);
  const CpTensorInfo *info;

  CHECK_MSG (st != NULL, "%s: %s", name, error.message);
  if (st == NULL)
    {
      free (path);
      return;
    }
  CHECK (cp_safetensors_count (st) == 13);
  for (int i = 0; i < 13 && i < cp_safetensors_count (st); i++)
    CHECK_MSG (strcmp (cp_safetensors_info (st, i)->name, order[i]) == 0, "%s: tensor %d is %s",
               name, i, cp_safetensors_info (st, i)->name);
  CHECK (strcmp (cp_safetensors_metadata (st, "source"), "torch.save") == 0);
  CHECK (strcmp (cp_safetensors_path (st), path) == 0);

  {
    int64_t s4[4] = { 2, 1, 1, 1 }, s1[1] = { 2 };
    float w[2] = { 0.5f, -1.25f }, b[2] = { 0.125f, 2.0f };
    float mean[2] = { 0.1f, -0.2f }, var[2] = { 0.9f, 1.1f };

    check_f32 (st, "0.weight", 4, s4, w, 2);
    check_f32 (st, "0.bias", 1, s1, b, 2);
    check_f32 (st, "1.running_mean", 1, s1, mean, 2);
    check_f32 (st, "1.running_var", 1, s1, var, 2);
  }
  info = cp_safetensors_find (st, "1.num_batches_tracked");
  CHECK (info != NULL && info->dtype == CP_DTYPE_I64 && info->ndim == 0);
  if (info != NULL)
    {
      int64_t tracked = 0;
      CHECK (cp_safetensors_read_i64 (st, info->name, info->shape, 0, &tracked, &error) == CP_OK);
      CHECK (tracked == 7);
    }
  {
    int64_t s3[1] = { 3 }, s4[1] = { 4 }, s2[1] = { 2 };
    float f64[3] = { 0.0f, (float) (1.0 / 3.0), (float) (2.0 / 3.0) };
    float f16[4] = { 1.0f, -2.5f, 0.099975586f, 65504.0f };
    float bf16[2] = { 1.0f, -3.140625f };

    CHECK (cp_safetensors_find (st, "f64")->dtype == CP_DTYPE_F64);
    CHECK (cp_safetensors_find (st, "f16")->dtype == CP_DTYPE_F16);
    CHECK (cp_safetensors_find (st, "bf16")->dtype == CP_DTYPE_BF16);
    check_f32 (st, "f64", 1, s3, f64, 3);
    check_f32 (st, "f16", 1, s4, f16, 4);
    check_f32 (st, "bf16", 1, s2, bf16, 2);
  }
  {
    /* view = arange(6).reshape(2, 3).t(): row-major (3, 2) values. */
    int64_t sv[2] = { 3, 2 }, slo[1] = { 4 }, shi[2] = { 2, 2 };
    float view[6] = { 0, 3, 1, 4, 2, 5 };
    float lo[4] = { 0, 0.5f, 1, 1.5f }, hi[4] = { 3, 3.5f, 4, 4.5f };

    check_f32 (st, "view", 2, sv, view, 6);
    check_f32 (st, "lo", 1, slo, lo, 4);
    check_f32 (st, "hi", 2, shi, hi, 4);
  }
  cp_safetensors_close (st);
  free (path);
}

static void
test_torch_written_files (void)
{
  check_small ("small.pth");
  check_small ("archive.pth");    /* top folder 'archive' */
  check_small ("little.pth");     /* byteorder record 'little' */
  check_small ("big.pth");        /* byteorder 'big', storages byte-swapped */
}

static void
test_parameters (void)
{
  char *path = fixture ("param.pth");
  CpError error = { 0 };
  CpSafetensors *st = cp_tensor_file_open (path, &error);
  int64_t sw[2] = { 2, 2 }, sb[1] = { 1 };
  float w[4] = { 1, 2, 3, 4 }, b[1] = { -1 };

  CHECK_MSG (st != NULL, "%s", error.message);
  if (st != NULL)
    {
      check_f32 (st, "w", 2, sw, w, 4);
      check_f32 (st, "b", 1, sb, b, 1);
    }
  cp_safetensors_close (st);
  free (path);
}

/* Replaces every occurrence of @from (same length as @to) in @bytes. */
static int
replace_all (unsigned char *bytes, size_t size, const char *from, const char *to)
{
  size_t n = strlen (from);
  int count = 0;

  for (size_t i = 0; i + n <= size; i++)
    if (memcmp (bytes + i, from, n) == 0)
      {
        memcpy (bytes + i, to, n);
        count++;
      }
  return count;
}

static int
fails_with (const void *bytes, size_t size, CpStatus code, const char *needle)
{
  CpError error = { 0 };
  CpSafetensors *st = cp_tensor_file_from_memory (bytes, size, "damaged.pth", &error);

  if (st != NULL)
    {
      cp_safetensors_close (st);
      fprintf (stderr, "accepted; expected an error containing '%s'\n", needle);
      return 0;
    }
  if (error.code != code || strstr (error.message, needle) == NULL
      || strncmp (error.message, "damaged.pth", 11) != 0)
    {
      fprintf (stderr, "error %s '%s'; expected %s containing '%s'\n",
               cp_status_to_string (error.code), error.message, cp_status_to_string (code), needle);
      return 0;
    }
  return 1;
}

static void
test_damaged_archives (void)
{
  size_t size;
  unsigned char *orig = read_fixture ("small.pth", &size);
  unsigned char *b = malloc (size);
  const CpZipEntry *e;
  CpZip *zip;
  CpError error = { 0 };

  /* Truncated: the end-of-central-directory record is gone. */
  CHECK (fails_with (orig, size - 30, CP_ERR_FORMAT, "truncated"));
  CHECK (fails_with (orig, 3, CP_ERR_FORMAT, "too short"));

  /* One flipped byte inside a storage: the CRC-32 catches it. */
  memcpy (b, orig, size);
  zip = cp_zip_open_memory (b, size, "small.pth", &error);
  CHECK (zip != NULL);
  e = zip ? cp_zip_find (zip, "small/data/0") : NULL;
  CHECK (e != NULL);
  if (e != NULL)
    {
      const void *data;
      size_t n;
      CHECK (cp_zip_entry_data (zip, e, &data, &n, &error) == CP_OK);
      CHECK (n == 8);     /* 0.weight: two floats */
      b[(const unsigned char *) data - b] ^= 0x40;
      CHECK (fails_with (b, size, CP_ERR_FORMAT, "CRC-32 mismatch"));
    }
  cp_zip_free (zip);

  /* An entry marked deflate in both headers: refused, saying so. */
  memcpy (b, orig, size);
  zip = cp_zip_open_memory (b, size, "small.pth", &error);
  e = zip ? cp_zip_find (zip, "small/data.pkl") : NULL;
  if (e != NULL)
    {
      uint64_t local = e->local_offset;
      /* The central entry of data.pkl: find it by its signature and name. */
      for (size_t i = 0; i + 46 + 14 <= size; i++)
        if (memcmp (b + i, "PK\x01\x02", 4) == 0 && memcmp (b + i + 46, "small/data.pkl", 14) == 0)
          b[i + 10] = 8;
      b[local + 8] = 8;
      CHECK (fails_with (b, size, CP_ERR_UNSUPPORTED, "is compressed (deflate"));
    }
  cp_zip_free (zip);

  /* No data.pkl: a zip of something else. */
  memcpy (b, orig, size);
  CHECK (replace_all (b, size, "small/data.pkl", "small/data.pkX") == 2);
  CHECK (fails_with (b, size, CP_ERR_FORMAT, "not a torch.save archive (no small/data.pkl)"));

  /* A record named twice. */
  memcpy (b, orig, size);
  CHECK (replace_all (b, size, "small/data/2", "small/data/3") == 2);
  CHECK (fails_with (b, size, CP_ERR_FORMAT, "appears twice"));

  /* Legacy format and bare pickles are refused by their first bytes. */
  {
    static const unsigned char legacy[] = {
      0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.',
    };
    static const unsigned char bare[] = { 0x80, 0x02, '}', '.' };
    CHECK (fails_with (legacy, sizeof legacy, CP_ERR_UNSUPPORTED, "legacy format"));
    CHECK (fails_with (bare, sizeof bare, CP_ERR_UNSUPPORTED, "bare Python pickle"));
    CHECK (fails_with ("<html>not weights</html>", 24, CP_ERR_FORMAT,
                       "neither a torch.save (.pth) archive nor a safetensors file"));
  }
  free (b);
  free (orig);
}

/* ---- pickles built by hand --------------------------------------------- */

typedef struct
{
  unsigned char bytes[4096];
  size_t        n;
} Pk;

static void
put (Pk *p, const void *bytes, size_t n)
{
  memcpy (p->bytes + p->n, bytes, n);
  p->n += n;
}

static void
op (Pk *p, unsigned char code)
{
  put (p, &code, 1);
}

static void
str (Pk *p, const char *s)
{
  uint32_t n = (uint32_t) strlen (s);
  unsigned char len[4] = { (unsigned char) n, (unsigned char) (n >> 8), (unsigned char) (n >> 16),
                           (unsigned char) (n >> 24) };
  op (p, 'X');
  put (p, len, 4);
  put (p, s, n);
}

static void
global (Pk *p, const char *module, const char *name)
{
  op (p, 'c');
  put (p, module, strlen (module));
  op (p, '\n');
  put (p, name, strlen (name));
  op (p, '\n');
}

static void
int1 (Pk *p, int v)
{
  op (p, 'K');
  op (p, (unsigned char) v);
}

/* ('storage', torch.<type>, key, 'cpu', numel) as BINPERSID. */
static void
storage (Pk *p, const char *type, const char *key, int numel)
{
  op (p, '(');
  str (p, "storage");
  global (p, "torch", type);
  str (p, key);
  str (p, "cpu");
  int1 (p, numel);
  op (p, 't');
  op (p, 'Q');
}

/* _rebuild_tensor_v2 (storage, offset, (n,), (1,), False, OrderedDict ()) */
static void
tensor_1d (Pk *p, const char *type, const char *key, int numel, int offset, int n)
{
  global (p, "torch._utils", "_rebuild_tensor_v2");
  op (p, '(');
  storage (p, type, key, numel);
  int1 (p, offset);
  int1 (p, n);
  op (p, 0x85);
  int1 (p, 1);
  op (p, 0x85);
  op (p, 0x89);
  global (p, "collections", "OrderedDict");
  op (p, ')');
  op (p, 'R');
  op (p, 't');
  op (p, 'R');
}

/* PROTO 2, OrderedDict (), MARK: the start of a state dict. */
static void
begin_dict (Pk *p)
{
  p->n = 0;
  op (p, 0x80);
  op (p, 2);
  global (p, "collections", "OrderedDict");
  op (p, ')');
  op (p, 'R');
  op (p, 'q');
  op (p, 0);
  op (p, '(');
}

static void
end_dict (Pk *p)
{
  op (p, 'u');
  op (p, '.');
}

static int
pickle_fails (const Pk *p, const char *needle)
{
  CpTorchStateDict sd;
  CpError error = { 0 };
  CpStatus st = cp_torch_pickle_load_state_dict (p->bytes, p->n, "x/data.pkl", &sd, &error);

  if (st == CP_OK)
    {
      fprintf (stderr, "accepted; expected an error containing '%s'\n", needle);
      cp_torch_state_dict_clear (&sd);
      return 0;
    }
  if (strstr (error.message, needle) == NULL || sd.count != 0 || sd.tensors != NULL)
    {
      fprintf (stderr, "error '%s'; expected one containing '%s'\n", error.message, needle);
      return 0;
    }
  return 1;
}

static void
test_pickle_accepts (void)
{
  Pk p;
  CpTorchStateDict sd;
  CpError error = { 0 };

  begin_dict (&p);
  str (&p, "a");
  tensor_1d (&p, "FloatStorage", "0", 8, 2, 5);
  str (&p, "b");
  tensor_1d (&p, "LongStorage", "k_1", 1, 0, 1);
  str (&p, "not a tensor");
  int1 (&p, 3);
  end_dict (&p);
  CHECK_MSG (cp_torch_pickle_load_state_dict (p.bytes, p.n, "x", &sd, &error) == CP_OK, "%s",
             error.message);
  CHECK (sd.count == 2 && sd.skipped == 1);
  if (sd.count == 2)
    {
      CHECK (strcmp (sd.tensors[0].name, "a") == 0);
      CHECK (strcmp (sd.tensors[0].storage_key, "0") == 0);
      CHECK (sd.tensors[0].dtype == CP_DTYPE_F32 && sd.tensors[0].storage_numel == 8);
      CHECK (sd.tensors[0].offset == 2 && sd.tensors[0].ndim == 1 && sd.tensors[0].shape[0] == 5);
      CHECK (sd.tensors[1].dtype == CP_DTYPE_I64);
      CHECK (strcmp (sd.tensors[1].storage_key, "k_1") == 0);
    }
  cp_torch_state_dict_clear (&sd);
}

static void
test_pickle_refuses (void)
{
  Pk p;

  /* The classic exploit: os.system via REDUCE.  Refused at the GLOBAL,
   * before anything could be called. */
  p.n = 0;
  op (&p, 0x80);
  op (&p, 2);
  global (&p, "os", "system");
  CHECK (pickle_fails (&p, "global 'os.system' is not allowed"));
  begin_dict (&p);
  global (&p, "builtins", "eval");
  CHECK (pickle_fails (&p, "global 'builtins.eval' is not allowed"));
  begin_dict (&p);
  global (&p, "torch._utils", "_rebuild_qtensor");
  CHECK (pickle_fails (&p, "global 'torch._utils._rebuild_qtensor' is not allowed"));

  /* Opcodes outside the allow-list are named. */
  begin_dict (&p);
  op (&p, 'i');
  CHECK (pickle_fails (&p, "opcode 0x69 (INST) is not allowed"));
  begin_dict (&p);
  op (&p, 0x81);
  CHECK (pickle_fails (&p, "opcode 0x81 (NEWOBJ) is not allowed"));
  begin_dict (&p);
  op (&p, 'P');
  CHECK (pickle_fails (&p, "(PERSID) is not allowed"));
  begin_dict (&p);
  op (&p, 'S');
  CHECK (pickle_fails (&p, "(STRING) is not allowed"));

  /* Storage types are types, not callables. */
  begin_dict (&p);
  global (&p, "torch", "FloatStorage");
  op (&p, ')');
  op (&p, 'R');
  CHECK (pickle_fails (&p, "may only name the type of a storage"));
  /* OrderedDict with arguments. */
  begin_dict (&p);
  global (&p, "collections", "OrderedDict");
  int1 (&p, 1);
  op (&p, 0x85);
  op (&p, 'R');
  CHECK (pickle_fails (&p, "only allowed without arguments"));

  /* A persistent id of another form. */
  begin_dict (&p);
  op (&p, '(');
  str (&p, "module");
  str (&p, "x");
  op (&p, 0x86);
  op (&p, 'Q');
  CHECK (pickle_fails (&p, "persistent id is not ('storage'"));
  begin_dict (&p);
  storage (&p, "FloatStorage", "../0", 1);
  CHECK (pickle_fails (&p, "storage key holds a character"));

  /* A tensor that reaches past its storage. */
  begin_dict (&p);
  str (&p, "a");
  tensor_1d (&p, "FloatStorage", "0", 4, 1, 4);
  end_dict (&p);
  CHECK (pickle_fails (&p, "reaches element 4 of a storage of 4 elements"));

  /* Structure: no STOP, an unknown memo slot, a string past the end, a
   * list as the state dict, a protocol we do not speak. */
  begin_dict (&p);
  CHECK (pickle_fails (&p, "ends without STOP"));
  begin_dict (&p);
  op (&p, 'h');
  op (&p, 9);
  CHECK (pickle_fails (&p, "memo index 9 was never stored"));
  begin_dict (&p);
  op (&p, 'X');
  put (&p, "\xff\xff\xff\x7f", 4);
  CHECK (pickle_fails (&p, "longer than the rest of the pickle"));
  p.n = 0;
  op (&p, 0x80);
  op (&p, 2);
  op (&p, ']');
  op (&p, '.');
  CHECK (pickle_fails (&p, "holds a list, not a state dict"));
  p.n = 0;
  op (&p, 0x80);
  op (&p, 5);
  CHECK (pickle_fails (&p, "protocol 5 is not supported"));
  begin_dict (&p);
  int1 (&p, 1);
  op (&p, 'r');
  put (&p, "\xff\xff\xff\x0f", 4);
  CHECK (pickle_fails (&p, "beyond the limit"));
  begin_dict (&p);
  op (&p, 0x8a);
  op (&p, 9);
  CHECK (pickle_fails (&p, "does not fit 64 bits"));
  /* Values under a MARK are out of reach until it closes. */
  begin_dict (&p);
  op (&p, 's');
  CHECK (pickle_fails (&p, "stack is empty"));
}

int
main (void)
{
  RUN_TEST (test_torch_written_files);
  RUN_TEST (test_parameters);
  RUN_TEST (test_damaged_archives);
  RUN_TEST (test_pickle_accepts);
  RUN_TEST (test_pickle_refuses);
  return harness_exit ();
}
