/* torch-pickle.c: the restricted unpickler of torch.save's data.pkl (see
 * torch-pickle.h and docs/weights.md).
 *
 * A pickle is a program for a stack machine.  Each allowed opcode builds a
 * plain value (None, bool, int, float, str, tuple, list, dict) or one of
 * the few objects a state dict needs: an OrderedDict, a reference to a
 * storage (from a persistent id) and a tensor description (from a REDUCE
 * of torch._utils._rebuild_tensor_v2).  Values live until the end of the
 * run and are freed together, so sharing them through the memo (and even
 * a dict that holds itself) needs no reference counts; nothing walks them
 * recursively.
 */
#include "torch-pickle.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what a pickle may make us allocate: a ResNet-18 state dict
 * needs about 1 100 values and memo slots. */
#define MAX_PICKLE_BYTES ((size_t) 64 << 20)
#define MAX_VALUES       ((size_t) 1 << 21)
#define MAX_MEMO         ((size_t) 1 << 20)
#define MAX_MARKS        ((size_t) 1 << 16)
#define MAX_GLOBAL_LINE  256
#define MAX_STORAGE_KEY  64

typedef enum
{
  V_NONE,
  V_BOOL,
  V_INT,
  V_FLOAT,
  V_STR,
  V_TUPLE,
  V_LIST,
  V_DICT,
  V_ODICT,
  V_GLOBAL,
  V_STORAGE,
  V_TENSOR,
} Kind;

typedef enum
{
  G_ORDERED_DICT,
  G_REBUILD_TENSOR_V2,
  G_REBUILD_PARAMETER,
  G_FLOAT_STORAGE,
  G_HALF_STORAGE,
  G_BFLOAT16_STORAGE,
  G_DOUBLE_STORAGE,
  G_LONG_STORAGE,
} GlobalId;

typedef struct
{
  const char *module;
  const char *name;
  GlobalId    id;
  CpDtype     dtype;     /* storages only */
} AllowedGlobal;

static const AllowedGlobal allowed_globals[] = {
  { "collections", "OrderedDict", G_ORDERED_DICT, CP_DTYPE_F32 },
  { "torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, CP_DTYPE_F32 },
  { "torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, CP_DTYPE_F32 },
  { "torch", "FloatStorage", G_FLOAT_STORAGE, CP_DTYPE_F32 },
  { "torch", "HalfStorage", G_HALF_STORAGE, CP_DTYPE_F16 },
  { "torch", "BFloat16Storage", G_BFLOAT16_STORAGE, CP_DTYPE_BF16 },
  { "torch", "DoubleStorage", G_DOUBLE_STORAGE, CP_DTYPE_F64 },
  { "torch", "LongStorage", G_LONG_STORAGE, CP_DTYPE_I64 },
};

#define N_ALLOWED ((int) (sizeof allowed_globals / sizeof allowed_globals[0]))

typedef struct Value Value;

typedef struct
{
  CpDtype     dtype;
  const char *key;           /* borrowed from the pickle, key_len bytes */
  size_t      key_len;
  uint64_t    numel;
} StorageRef;

typedef struct
{
  const Value *storage;
  uint64_t     offset;
  int          ndim;
  int64_t      shape[CP_SAFETENSORS_MAX_DIMS];
  int64_t      stride[CP_SAFETENSORS_MAX_DIMS];
} TensorDesc;

struct Value
{
  Kind kind;
  union
  {
    int64_t i;                                       /* V_BOOL, V_INT */
    double  f;                                       /* V_FLOAT */
    struct { const char *p; size_t len; } s;         /* V_STR, borrowed */
    struct { Value **items; size_t n, cap; } seq;    /* tuple, list; dicts: key, value, ... */
    int global;                                      /* V_GLOBAL: index in allowed_globals */
    StorageRef *storage;                             /* V_STORAGE */
    TensorDesc *tensor;                              /* V_TENSOR */
  } u;
};

typedef struct
{
  const unsigned char *p;
  size_t               size;
  size_t               pos;
  size_t               op_pos;       /* offset of the opcode being run */
  const char          *label;
  CpError             *error;

  Value              **values;       /* every value made, freed together */
  size_t               n_values, cap_values;
  Value              **stack;
  size_t               depth, cap_stack;
  size_t              *marks;
  size_t               n_marks, cap_marks;
  Value              **memo;
  size_t               cap_memo;
  size_t               memo_len;     /* highest index stored + 1 */
} Unpickler;

static const char *
kind_name (Kind kind)
{
  static const char *const names[] = {
    "None", "bool", "int", "float", "str", "tuple", "list", "dict", "OrderedDict", "global",
    "storage", "tensor",
  };
  return names[kind];
}

/* The names pickletools gives the opcodes, for messages about refused
 * ones. */
static const char *
opcode_name (unsigned char op)
{
  switch (op)
    {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return "not a pickle opcode";
    }
}

static CpStatus fail (Unpickler *u, const char *format, ...)
  __attribute__ ((format (printf, 2, 3)));

static CpStatus
fail (Unpickler  *u,
      const char *format,
      ...)
{
  char what[CP_ERROR_MESSAGE_SIZE];
  va_list args;

  va_start (args, format);
  vsnprintf (what, sizeof what, format, args);
  va_end (args);
  return cp_error_set (u->error, CP_ERR_FORMAT, "%s: offset %zu: %s", u->label, u->op_pos, what);
}

static CpStatus
nomem (Unpickler *u)
{
  return cp_error_set (u->error, CP_ERR_NOMEM, "%s: out of memory", u->label);
}

static void
value_free (Value *v)
{
  if (v->kind == V_TUPLE || v->kind == V_LIST || v->kind == V_DICT || v->kind == V_ODICT)
    free (v->u.seq.items);
  else if (v->kind == V_STORAGE)
    free (v->u.storage);
  else if (v->kind == V_TENSOR)
    free (v->u.tensor);
  free (v);
}

static void
unpickler_clear (Unpickler *u)
{
  for (size_t i = 0; i < u->n_values; i++)
    value_free (u->values[i]);
  free (u->values);
  free (u->stack);
  free (u->marks);
  free (u->memo);
}

/* Grows *array (of @elem bytes) to hold at least @need elements. */
static bool
grow (void   **array,
      size_t  *cap,
      size_t   need,
      size_t   elem)
{
  size_t next;
  void *grown;

  if (need <= *cap)
    return true;
  next = *cap ? *cap : 16;
  while (next < need)
    next *= 2;
  grown = realloc (*array, next * elem);
  if (grown == NULL)
    return false;
  memset ((char *) grown + *cap * elem, 0, (next - *cap) * elem);
  *array = grown;
  *cap = next;
  return true;
}

static Value *
new_value (Unpickler *u,
           Kind       kind)
{
  Value *v;

  if (u->n_values >= MAX_VALUES)
    {
      fail (u, "more than %zu values: not a state dict", MAX_VALUES);
      return NULL;
    }
  if (!grow ((void **) &u->values, &u->cap_values, u->n_values + 1, sizeof *u->values)
      || (v = calloc (1, sizeof *v)) == NULL)
    {
      nomem (u);
      return NULL;
    }
  v->kind = kind;
  u->values[u->n_values++] = v;
  return v;
}

static CpStatus
push (Unpickler *u,
      Value     *v)
{
  if (v == NULL)
    return u->error != NULL && u->error->code != CP_OK ? u->error->code : CP_ERR_NOMEM;
  if (!grow ((void **) &u->stack, &u->cap_stack, u->depth + 1, sizeof *u->stack))
    return nomem (u);
  u->stack[u->depth++] = v;
  return CP_OK;
}

/* The lowest stack slot the current opcode may touch: values under the
 * innermost mark belong to an enclosing construct. */
static size_t
stack_floor (const Unpickler *u)
{
  return u->n_marks > 0 ? u->marks[u->n_marks - 1] : 0;
}

static Value *
pop (Unpickler *u)
{
  if (u->depth <= stack_floor (u))
    {
      fail (u, "%s needs a value but the stack is empty", opcode_name (u->p[u->op_pos]));
      return NULL;
    }
  return u->stack[--u->depth];
}

static Value *
top (Unpickler *u)
{
  if (u->depth <= stack_floor (u))
    {
      fail (u, "%s needs a value but the stack is empty", opcode_name (u->p[u->op_pos]));
      return NULL;
    }
  return u->stack[u->depth - 1];
}

static bool
need_bytes (Unpickler *u,
            size_t     n)
{
  if (u->size - u->pos < n)
    {
      fail (u, "%s needs %zu more bytes but the pickle ends", opcode_name (u->p[u->op_pos]), n);
      return false;
    }
  return true;
}

static uint64_t
read_le (Unpickler *u,
         int        n)
{
  uint64_t v = 0;

  for (int i = n - 1; i >= 0; i--)
    v = (v << 8) | u->p[u->pos + (size_t) i];
  u->pos += (size_t) n;
  return v;
}

static Value *
make_int (Unpickler *u,
          int64_t    value)
{
  Value *v = new_value (u, V_INT);

  if (v != NULL)
    v->u.i = value;
  return v;
}

static Value *
make_str (Unpickler  *u,
          const char *p,
          size_t      len)
{
  Value *v = new_value (u, V_STR);

  if (v != NULL)
    {
      v->u.s.p = p;
      v->u.s.len = len;
    }
  return v;
}

/* A tuple of the @n values on top of the stack (popped). */
static CpStatus
push_tuple_of_top (Unpickler *u,
                   size_t     n)
{
  Value *t;

  if (u->depth - stack_floor (u) < n)
    return fail (u, "%s needs %zu values but the stack holds %zu", opcode_name (u->p[u->op_pos]),
                 n, u->depth - stack_floor (u));
  t = new_value (u, V_TUPLE);
  if (t == NULL)
    return u->error ? u->error->code : CP_ERR_NOMEM;
  if (n > 0)
    {
      t->u.seq.items = malloc (n * sizeof *t->u.seq.items);
      if (t->u.seq.items == NULL)
        return nomem (u);
      memcpy (t->u.seq.items, u->stack + u->depth - n, n * sizeof *t->u.seq.items);
    }
  t->u.seq.n = t->u.seq.cap = n;
  u->depth -= n;
  return push (u, t);
}

/* Pops the innermost mark; returns the stack depth it recorded. */
static bool
pop_mark (Unpickler *u,
          size_t    *at)
{
  if (u->n_marks == 0)
    {
      fail (u, "%s without a MARK", opcode_name (u->p[u->op_pos]));
      return false;
    }
  *at = u->marks[--u->n_marks];
  return true;
}

static CpStatus
append_items (Unpickler *u,
              Value     *target,
              Value    **items,
              size_t     n)
{
  if (n == 0)
    return CP_OK;
  if (!grow ((void **) &target->u.seq.items, &target->u.seq.cap, target->u.seq.n + n,
             sizeof *target->u.seq.items))
    return nomem (u);
  memcpy (target->u.seq.items + target->u.seq.n, items, n * sizeof *items);
  target->u.seq.n += n;
  return CP_OK;
}

static bool
str_is (const Value *v,
        const char  *text)
{
  return v->kind == V_STR && v->u.s.len == strlen (text) && memcmp (v->u.s.p, text, v->u.s.len) == 0;
}

/* GLOBAL and STACK_GLOBAL: only the allow-list resolves. */
static CpStatus
push_global (Unpickler  *u,
             const char *module,
             size_t      module_len,
             const char *name,
             size_t      name_len)
{
  Value *v;

  for (int i = 0; i < N_ALLOWED; i++)
    if (strlen (allowed_globals[i].module) == module_len
        && memcmp (allowed_globals[i].module, module, module_len) == 0
        && strlen (allowed_globals[i].name) == name_len
        && memcmp (allowed_globals[i].name, name, name_len) == 0)
      {
        v = new_value (u, V_GLOBAL);
        if (v == NULL)
          return u->error ? u->error->code : CP_ERR_NOMEM;
        v->u.global = i;
        return push (u, v);
      }
  {
    char shown[2 * MAX_GLOBAL_LINE + 2];
    size_t k = 0;

    /* Printable characters only: the name comes from the file. */
    for (size_t i = 0; i < module_len + 1 + name_len && k + 1 < sizeof shown; i++)
      {
        char c = i < module_len ? module[i] : i == module_len ? '.' : name[i - module_len - 1];
        shown[k++] = (c >= 0x20 && c < 0x7f) ? c : '?';
      }
    shown[k] = '\0';
    return fail (u, "global '%s' is not allowed (a weights file needs only "
                 "collections.OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter "
                 "and the Float/Half/BFloat16/Double/Long storages)", shown);
  }
}

static bool
read_line (Unpickler   *u,
           const char **start,
           size_t      *len)
{
  const unsigned char *nl;
  size_t limit = u->size - u->pos < MAX_GLOBAL_LINE + 1 ? u->size - u->pos : MAX_GLOBAL_LINE + 1;

  nl = memchr (u->p + u->pos, '\n', limit);
  if (nl == NULL)
    {
      fail (u, "GLOBAL: a name is not terminated by a newline within %d bytes", MAX_GLOBAL_LINE);
      return false;
    }
  *start = (const char *) u->p + u->pos;
  *len = (size_t) (nl - (u->p + u->pos));
  u->pos += *len + 1;
  return true;
}

static bool
is_empty_mapping (const Value *v)
{
  return (v->kind == V_DICT || v->kind == V_ODICT) && v->u.seq.n == 0;
}

static bool
tuple_of_ints (const Value *v,
               int64_t     *out,
               int         *n)
{
  if (v->kind != V_TUPLE || v->u.seq.n > CP_SAFETENSORS_MAX_DIMS)
    return false;
  for (size_t i = 0; i < v->u.seq.n; i++)
    {
      if (v->u.seq.items[i]->kind != V_INT || v->u.seq.items[i]->u.i < 0)
        return false;
      out[i] = v->u.seq.items[i]->u.i;
    }
  *n = (int) v->u.seq.n;
  return true;
}

/* torch._utils._rebuild_tensor_v2 (storage, storage_offset, size, stride,
 * requires_grad, backward_hooks[, metadata]). */
static CpStatus
rebuild_tensor (Unpickler   *u,
                const Value *args)
{
  Value *const *a = args->u.seq.items;
  size_t n = args->u.seq.n;
  TensorDesc t = { 0 };
  const StorageRef *s;
  int n_stride;
  uint64_t numel = 1, last = 0, elem;
  Value *v;

  if (n != 6 && n != 7)
    return fail (u, "_rebuild_tensor_v2 takes 6 or 7 arguments, not %zu", n);
  if (a[0]->kind != V_STORAGE)
    return fail (u, "_rebuild_tensor_v2: the first argument is a %s, not a storage",
                 kind_name (a[0]->kind));
  s = a[0]->u.storage;
  if (a[1]->kind != V_INT || a[1]->u.i < 0)
    return fail (u, "_rebuild_tensor_v2: the storage offset is not a non-negative int");
  if (!tuple_of_ints (a[2], t.shape, &t.ndim))
    return fail (u, "_rebuild_tensor_v2: the size is not a tuple of at most %d non-negative ints",
                 CP_SAFETENSORS_MAX_DIMS);
  if (!tuple_of_ints (a[3], t.stride, &n_stride) || n_stride != t.ndim)
    return fail (u, "_rebuild_tensor_v2: the stride is not a tuple of %d non-negative ints",
                 t.ndim);
  if (a[4]->kind != V_BOOL)
    return fail (u, "_rebuild_tensor_v2: requires_grad is a %s, not a bool", kind_name (a[4]->kind));
  if (!is_empty_mapping (a[5]))
    return fail (u, "_rebuild_tensor_v2: backward hooks are not allowed");
  if (n == 7 && a[6]->kind != V_NONE && a[6]->kind != V_DICT && a[6]->kind != V_ODICT)
    return fail (u, "_rebuild_tensor_v2: the metadata is a %s, not a dict", kind_name (a[6]->kind));
  t.storage = a[0];
  t.offset = (uint64_t) a[1]->u.i;

  /* The tensor must lie inside its storage: offset + sum (size-1) *
   * stride < numel, computed without overflow. */
  elem = cp_dtype_size (s->dtype);
  for (int d = 0; d < t.ndim; d++)
    {
      uint64_t dim = (uint64_t) t.shape[d];

      if (dim == 0)
        numel = 0;
      else if (numel != 0)
        {
          if (numel > (uint64_t) INT64_MAX / elem / dim)
            return fail (u, "_rebuild_tensor_v2: the size overflows a 64-bit byte count");
          numel *= dim;
        }
    }
  if (numel == 0)
    {
      if (t.offset > s->numel)
        return fail (u, "_rebuild_tensor_v2: offset %" PRIu64 " is beyond the storage's %" PRIu64
                     " elements", t.offset, s->numel);
    }
  else
    {
      last = t.offset;
      for (int d = 0; d < t.ndim; d++)
        {
          uint64_t span = (uint64_t) t.shape[d] - 1, stride = (uint64_t) t.stride[d];

          if (span != 0 && stride > (UINT64_MAX - last) / span)
            return fail (u, "_rebuild_tensor_v2: size and stride overflow");
          last += span * stride;
        }
      if (last >= s->numel)
        return fail (u, "_rebuild_tensor_v2: the tensor reaches element %" PRIu64
                     " of a storage of %" PRIu64 " elements", last, s->numel);
    }

  v = new_value (u, V_TENSOR);
  if (v == NULL)
    return u->error ? u->error->code : CP_ERR_NOMEM;
  v->u.tensor = malloc (sizeof t);
  if (v->u.tensor == NULL)
    return nomem (u);
  *v->u.tensor = t;
  return push (u, v);
}

static CpStatus
op_reduce (Unpickler *u)
{
  Value *args = pop (u), *callable;
  const AllowedGlobal *g;

  if (args == NULL || (callable = pop (u)) == NULL)
    return u->error ? u->error->code : CP_ERR_FORMAT;
  if (callable->kind != V_GLOBAL)
    return fail (u, "REDUCE: the callable is a %s, not an allowed global", kind_name (callable->kind));
  if (args->kind != V_TUPLE)
    return fail (u, "REDUCE: the arguments are a %s, not a tuple", kind_name (args->kind));
  g = &allowed_globals[callable->u.global];
  switch (g->id)
    {
    case G_ORDERED_DICT:
      if (args->u.seq.n != 0)
        return fail (u, "collections.OrderedDict is only allowed without arguments");
      return push (u, new_value (u, V_ODICT));
    case G_REBUILD_TENSOR_V2:
      return rebuild_tensor (u, args);
    case G_REBUILD_PARAMETER:
      if (args->u.seq.n != 3 || args->u.seq.items[0]->kind != V_TENSOR
          || args->u.seq.items[1]->kind != V_BOOL || !is_empty_mapping (args->u.seq.items[2]))
        return fail (u, "_rebuild_parameter takes (tensor, requires_grad, no backward hooks)");
      return push (u, args->u.seq.items[0]);
    default:
      return fail (u, "global '%s.%s' may only name the type of a storage, not be called",
                   g->module, g->name);
    }
}

/* BINPERSID: ('storage', storage type, key, location, numel). */
static CpStatus
op_persid (Unpickler *u)
{
  Value *pid = pop (u), *v;
  Value *const *a;
  StorageRef *s;
  const AllowedGlobal *g;

  if (pid == NULL)
    return u->error ? u->error->code : CP_ERR_FORMAT;
  if (pid->kind != V_TUPLE || pid->u.seq.n != 5 || !str_is (pid->u.seq.items[0], "storage"))
    return fail (u, "persistent id is not ('storage', type, key, location, numel)");
  a = pid->u.seq.items;
  if (a[1]->kind != V_GLOBAL)
    return fail (u, "persistent id: the storage type is a %s, not a storage global",
                 kind_name (a[1]->kind));
  g = &allowed_globals[a[1]->u.global];
  if (g->id < G_FLOAT_STORAGE)
    return fail (u, "persistent id: '%s.%s' is not a storage type", g->module, g->name);
  if (a[2]->kind != V_STR || a[2]->u.s.len == 0 || a[2]->u.s.len > MAX_STORAGE_KEY)
    return fail (u, "persistent id: the storage key is not a short string");
  for (size_t i = 0; i < a[2]->u.s.len; i++)
    {
      char c = a[2]->u.s.p[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || c == '_' || c == '-'))
        return fail (u, "persistent id: the storage key holds a character other than letters, "
                     "digits, '_' and '-'");
    }
  if (a[3]->kind != V_STR)
    return fail (u, "persistent id: the location is a %s, not a str", kind_name (a[3]->kind));
  if (a[4]->kind != V_INT || a[4]->u.i < 0
      || (uint64_t) a[4]->u.i > (uint64_t) INT64_MAX / cp_dtype_size (g->dtype))
    return fail (u, "persistent id: the element count is not a non-negative int that fits "
                 "64-bit byte counts");
  v = new_value (u, V_STORAGE);
  if (v == NULL)
    return u->error ? u->error->code : CP_ERR_NOMEM;
  s = v->u.storage = malloc (sizeof *s);
  if (s == NULL)
    return nomem (u);
  s->dtype = g->dtype;
  s->key = a[2]->u.s.p;
  s->key_len = a[2]->u.s.len;
  s->numel = (uint64_t) a[4]->u.i;
  return push (u, v);
}

static CpStatus
memo_put (Unpickler *u,
          uint64_t   index)
{
  Value *v = top (u);

  if (v == NULL)
    return u->error ? u->error->code : CP_ERR_FORMAT;
  if (index >= MAX_MEMO)
    return fail (u, "memo index %" PRIu64 " is beyond the limit of %zu", index, MAX_MEMO);
  if (!grow ((void **) &u->memo, &u->cap_memo, (size_t) index + 1, sizeof *u->memo))
    return nomem (u);
  u->memo[index] = v;
  if (index >= u->memo_len)
    u->memo_len = (size_t) index + 1;
  return CP_OK;
}

static CpStatus
memo_get (Unpickler *u,
          uint64_t   index)
{
  if (index >= u->cap_memo || u->memo[index] == NULL)
    return fail (u, "memo index %" PRIu64 " was never stored", index);
  return push (u, u->memo[index]);
}

/* Runs the pickle to its STOP; *result is the value it returns. */
static CpStatus
run (Unpickler *u,
     Value    **result)
{
  CpStatus st = CP_OK;

  while (st == CP_OK)
    {
      unsigned char op;

      if (u->pos >= u->size)
        return fail (u, "the pickle ends without STOP");
      u->op_pos = u->pos;
      op = u->p[u->pos++];
      switch (op)
        {
        case 0x80:   /* PROTO */
          {
            unsigned proto;
            if (!need_bytes (u, 1))
              return CP_ERR_FORMAT;
            proto = u->p[u->pos++];
            if (proto < 2 || proto > 4)
              return fail (u, "pickle protocol %u is not supported (torch.save writes 2)", proto);
            break;
          }
        case 0x95:   /* FRAME: a hint about buffering, nothing to build */
          if (!need_bytes (u, 8))
            return CP_ERR_FORMAT;
          if (read_le (u, 8) > u->size - u->pos)
            return fail (u, "FRAME is longer than the rest of the pickle");
          break;
        case '.':    /* STOP */
          *result = pop (u);
          return *result != NULL ? CP_OK : CP_ERR_FORMAT;
        case '(':    /* MARK */
          if (u->n_marks >= MAX_MARKS)
            return fail (u, "more than %zu nested MARKs", MAX_MARKS);
          if (!grow ((void **) &u->marks, &u->cap_marks, u->n_marks + 1, sizeof *u->marks))
            return nomem (u);
          u->marks[u->n_marks++] = u->depth;
          break;
        case ')':    /* EMPTY_TUPLE */
          st = push_tuple_of_top (u, 0);
          break;
        case 0x85: case 0x86: case 0x87:   /* TUPLE1..3 */
          st = push_tuple_of_top (u, (size_t) (op - 0x84));
          break;
        case 't':    /* TUPLE */
          {
            size_t at;
            if (!pop_mark (u, &at))
              return CP_ERR_FORMAT;
            st = push_tuple_of_top (u, u->depth - at);
            break;
          }
        case ']':    /* EMPTY_LIST */
          st = push (u, new_value (u, V_LIST));
          break;
        case '}':    /* EMPTY_DICT */
          st = push (u, new_value (u, V_DICT));
          break;
        case 'a':    /* APPEND */
          {
            Value *item = pop (u), *list;
            if (item == NULL || (list = top (u)) == NULL)
              return CP_ERR_FORMAT;
            if (list->kind != V_LIST)
              return fail (u, "APPEND to a %s", kind_name (list->kind));
            st = append_items (u, list, &item, 1);
            break;
          }
        case 'e':    /* APPENDS */
        case 'u':    /* SETITEMS */
          {
            size_t at, n;
            Value *target;
            if (!pop_mark (u, &at))
              return CP_ERR_FORMAT;
            n = u->depth - at;
            if (at <= stack_floor (u))
              return fail (u, "%s without a target under its MARK", opcode_name (op));
            target = u->stack[at - 1];
            if (op == 'e' && target->kind != V_LIST)
              return fail (u, "APPENDS to a %s", kind_name (target->kind));
            if (op == 'u' && target->kind != V_DICT && target->kind != V_ODICT)
              return fail (u, "SETITEMS on a %s", kind_name (target->kind));
            if (op == 'u' && n % 2 != 0)
              return fail (u, "SETITEMS with an odd number of values (%zu)", n);
            st = append_items (u, target, u->stack + at, n);
            u->depth = at;
            break;
          }
        case 's':    /* SETITEM */
          {
            Value *pair[2], *dict;
            pair[1] = pop (u);
            pair[0] = pair[1] ? pop (u) : NULL;
            if (pair[0] == NULL || (dict = top (u)) == NULL)
              return CP_ERR_FORMAT;
            if (dict->kind != V_DICT && dict->kind != V_ODICT)
              return fail (u, "SETITEM on a %s", kind_name (dict->kind));
            st = append_items (u, dict, pair, 2);
            break;
          }
        case 'N':
          st = push (u, new_value (u, V_NONE));
          break;
        case 0x88: case 0x89:   /* NEWTRUE, NEWFALSE */
          {
            Value *v = new_value (u, V_BOOL);
            if (v != NULL)
              v->u.i = op == 0x88;
            st = push (u, v);
            break;
          }
        case 'J':    /* BININT: signed 32-bit */
          if (!need_bytes (u, 4))
            return CP_ERR_FORMAT;
          st = push (u, make_int (u, (int32_t) (uint32_t) read_le (u, 4)));
          break;
        case 'K':    /* BININT1 */
          if (!need_bytes (u, 1))
            return CP_ERR_FORMAT;
          st = push (u, make_int (u, (int64_t) read_le (u, 1)));
          break;
        case 'M':    /* BININT2 */
          if (!need_bytes (u, 2))
            return CP_ERR_FORMAT;
          st = push (u, make_int (u, (int64_t) read_le (u, 2)));
          break;
        case 0x8a:   /* LONG1: little-endian two's complement of n bytes */
          {
            unsigned n;
            uint64_t raw;
            int64_t value;
            if (!need_bytes (u, 1))
              return CP_ERR_FORMAT;
            n = u->p[u->pos++];
            if (n > 8)
              return fail (u, "LONG1 of %u bytes does not fit 64 bits", n);
            if (!need_bytes (u, n))
              return CP_ERR_FORMAT;
            raw = n > 0 ? read_le (u, (int) n) : 0;
            if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1)
              raw |= ~(uint64_t) 0 << (8 * n);
            memcpy (&value, &raw, sizeof value);
            st = push (u, make_int (u, value));
            break;
          }
        case 'G':    /* BINFLOAT: big-endian double */
          {
            uint64_t bits = 0;
            Value *v;
            if (!need_bytes (u, 8))
              return CP_ERR_FORMAT;
            for (int i = 0; i < 8; i++)
              bits = (bits << 8) | u->p[u->pos++];
            v = new_value (u, V_FLOAT);
            if (v != NULL)
              memcpy (&v->u.f, &bits, sizeof v->u.f);
            st = push (u, v);
            break;
          }
        case 'X': case 0x8c: case 0x8d:   /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
          {
            int width = op == 'X' ? 4 : op == 0x8c ? 1 : 8;
            uint64_t len;
            if (!need_bytes (u, (size_t) width))
              return CP_ERR_FORMAT;
            len = read_le (u, width);
            if (len > u->size - u->pos)
              return fail (u, "a string of %" PRIu64 " bytes is longer than the rest of the pickle",
                           len);
            st = push (u, make_str (u, (const char *) u->p + u->pos, (size_t) len));
            u->pos += (size_t) len;
            break;
          }
        case 'c':    /* GLOBAL "module\nname\n" */
          {
            const char *module, *name;
            size_t module_len, name_len;
            if (!read_line (u, &module, &module_len) || !read_line (u, &name, &name_len))
              return CP_ERR_FORMAT;
            st = push_global (u, module, module_len, name, name_len);
            break;
          }
        case 0x93:   /* STACK_GLOBAL */
          {
            Value *name = pop (u), *module;
            if (name == NULL || (module = pop (u)) == NULL)
              return CP_ERR_FORMAT;
            if (module->kind != V_STR || name->kind != V_STR)
              return fail (u, "STACK_GLOBAL needs two strings");
            st = push_global (u, module->u.s.p, module->u.s.len, name->u.s.p, name->u.s.len);
            break;
          }
        case 'R':
          st = op_reduce (u);
          break;
        case 'b':    /* BUILD: only an OrderedDict's attributes (its _metadata), ignored */
          {
            Value *state = pop (u), *obj;
            if (state == NULL || (obj = top (u)) == NULL)
              return CP_ERR_FORMAT;
            if (obj->kind != V_ODICT)
              return fail (u, "BUILD on a %s is not allowed", kind_name (obj->kind));
            if (state->kind != V_DICT && state->kind != V_ODICT && state->kind != V_NONE)
              return fail (u, "BUILD with a %s as state is not allowed", kind_name (state->kind));
            break;
          }
        case 'Q':
          st = op_persid (u);
          break;
        case 'q':    /* BINPUT */
          if (!need_bytes (u, 1))
            return CP_ERR_FORMAT;
          st = memo_put (u, read_le (u, 1));
          break;
        case 'r':    /* LONG_BINPUT */
          if (!need_bytes (u, 4))
            return CP_ERR_FORMAT;
          st = memo_put (u, read_le (u, 4));
          break;
        case 0x94:   /* MEMOIZE */
          st = memo_put (u, u->memo_len);   /* at len (memo) */
          break;
        case 'h':    /* BINGET */
          if (!need_bytes (u, 1))
            return CP_ERR_FORMAT;
          st = memo_get (u, read_le (u, 1));
          break;
        case 'j':    /* LONG_BINGET */
          if (!need_bytes (u, 4))
            return CP_ERR_FORMAT;
          st = memo_get (u, read_le (u, 4));
          break;
        default:
          return fail (u, "opcode 0x%02x (%s) is not allowed", op, opcode_name (op));
        }
    }
  return st;
}

void
cp_torch_state_dict_clear (CpTorchStateDict *sd)
{
  if (sd == NULL)
    return;
  for (int i = 0; i < sd->count; i++)
    {
      free (sd->tensors[i].name);
      free (sd->tensors[i].storage_key);
    }
  free (sd->tensors);
  memset (sd, 0, sizeof *sd);
}

static char *
dup_bytes (const char *p,
           size_t      len)
{
  char *s = malloc (len + 1);

  if (s != NULL)
    {
      memcpy (s, p, len);
      s[len] = '\0';
    }
  return s;
}

static CpStatus
collect (Unpickler        *u,
         const Value      *root,
         CpTorchStateDict *out)
{
  size_t pairs;

  if (root->kind != V_DICT && root->kind != V_ODICT)
    return cp_error_set (u->error, CP_ERR_FORMAT, "%s: holds a %s, not a state dict", u->label,
                         kind_name (root->kind));
  pairs = root->u.seq.n / 2;
  if (pairs > INT32_MAX)
    return cp_error_set (u->error, CP_ERR_FORMAT, "%s: too many entries", u->label);
  if (pairs > 0)
    {
      out->tensors = calloc (pairs, sizeof *out->tensors);
      if (out->tensors == NULL)
        return nomem (u);
    }
  for (size_t i = 0; i < pairs; i++)
    {
      const Value *key = root->u.seq.items[2 * i], *value = root->u.seq.items[2 * i + 1];
      CpTorchTensorRef *r;
      const TensorDesc *t;
      const StorageRef *s;

      if (key->kind != V_STR)
        return cp_error_set (u->error, CP_ERR_FORMAT, "%s: a key of the state dict is a %s, "
                             "not a string", u->label, kind_name (key->kind));
      if (memchr (key->u.s.p, '\0', key->u.s.len) != NULL)
        return cp_error_set (u->error, CP_ERR_FORMAT, "%s: a key of the state dict contains a "
                             "NUL byte", u->label);
      if (value->kind != V_TENSOR)
        {
          out->skipped++;
          continue;
        }
      t = value->u.tensor;
      s = t->storage->u.storage;
      r = &out->tensors[out->count++];
      r->name = dup_bytes (key->u.s.p, key->u.s.len);
      r->storage_key = dup_bytes (s->key, s->key_len);
      if (r->name == NULL || r->storage_key == NULL)
        return nomem (u);
      r->dtype = s->dtype;
      r->storage_numel = s->numel;
      r->offset = t->offset;
      r->ndim = t->ndim;
      memcpy (r->shape, t->shape, sizeof r->shape);
      memcpy (r->stride, t->stride, sizeof r->stride);
    }
  return CP_OK;
}

CpStatus
cp_torch_pickle_load_state_dict (const void       *pkl,
                                 size_t            size,
                                 const char       *label,
                                 CpTorchStateDict *out,
                                 CpError          *error)
{
  Unpickler u = { 0 };
  Value *root = NULL;
  CpStatus st;

  memset (out, 0, sizeof *out);
  if (label == NULL)
    label = "data.pkl";
  if (pkl == NULL && size > 0)
    return cp_error_set (error, CP_ERR_INVALID, "%s: NULL bytes", label);
  if (size > MAX_PICKLE_BYTES)
    return cp_error_set (error, CP_ERR_NOMEM, "%s: %zu bytes is more than the %zu a state dict's "
                         "pickle may take", label, size, MAX_PICKLE_BYTES);
  u.p = pkl;
  u.size = size;
  u.label = label;
  u.error = error;
  st = run (&u, &root);
  if (st == CP_OK && u.pos != u.size)
    st = cp_error_set (error, CP_ERR_FORMAT, "%s: %zu bytes follow STOP", label, u.size - u.pos);
  if (st == CP_OK)
    st = collect (&u, root, out);
  if (st != CP_OK)
    cp_torch_state_dict_clear (out);
  unpickler_clear (&u);
  return st;
}
