/* protobuf.h: the few pieces of the protocol buffer wire format that an
 * ONNX file needs, written by hand (no generated code).
 *
 * Writing: a CpPbBuf is a growable byte buffer; each cp_pb_put_* appends one
 * field (tag = field number << 3 | wire type, then the value).  Nested
 * messages are built in their own buffer and appended with
 * cp_pb_put_message, which prefixes their length.  An allocation failure
 * makes the buffer "failed": later appends do nothing and the owner checks
 * cp_pb_buf_failed once at the end instead of after every call.
 *
 * Reading: a CpPbReader walks the fields of one message without copying;
 * it is used by the tests (and anyone inspecting an exported file) to check
 * what was written.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_PB_WIRE_VARINT = 0,
  CP_PB_WIRE_FIXED64 = 1,
  CP_PB_WIRE_LEN = 2,      /* length-delimited: bytes, strings, messages, packed */
  CP_PB_WIRE_FIXED32 = 5,
} CpPbWireType;

typedef struct
{
  uint8_t *data;
  size_t   size;
  size_t   capacity;
  int      failed;
} CpPbBuf;

void      cp_pb_buf_init    (CpPbBuf *buf);
void      cp_pb_buf_clear   (CpPbBuf *buf);          /* frees the bytes, back to empty */
int       cp_pb_buf_failed  (const CpPbBuf *buf);
/* Makes room for @extra more bytes; 0 (and the buffer failed) when that is
 * impossible. */
int       cp_pb_buf_reserve (CpPbBuf *buf, size_t extra);

/* Raw pieces. */
void      cp_pb_put_raw     (CpPbBuf *buf, const void *data, size_t size);
void      cp_pb_put_varint  (CpPbBuf *buf, uint64_t value);
void      cp_pb_put_tag     (CpPbBuf *buf, int field, CpPbWireType wire);
/* Bytes a varint of @value takes (1 to 10). */
size_t    cp_pb_varint_size (uint64_t value);

/* Whole fields.  Signed int32/int64/enum fields are varints of the value
 * cast to uint64 (a negative number takes 10 bytes), as protobuf does. */
void      cp_pb_put_int     (CpPbBuf *buf, int field, int64_t value);
void      cp_pb_put_float   (CpPbBuf *buf, int field, float value);   /* fixed32 */
void      cp_pb_put_bytes   (CpPbBuf *buf, int field, const void *data, size_t size);
void      cp_pb_put_string  (CpPbBuf *buf, int field, const char *text);
void      cp_pb_put_message (CpPbBuf *buf, int field, const CpPbBuf *message);
/* Repeated int64 as one packed field (proto3 style; proto2 parsers accept
 * packed and unpacked encodings alike). */
void      cp_pb_put_packed_int64 (CpPbBuf *buf, int field, const int64_t *values, size_t count);

/* ---- reading ---- */

typedef struct
{
  const uint8_t *start;
  const uint8_t *pos;
  const uint8_t *end;
} CpPbReader;

typedef struct
{
  int            field;
  CpPbWireType   wire;
  uint64_t       varint;   /* VARINT, FIXED32 and FIXED64 values (raw bits) */
  const uint8_t *data;     /* LEN: the payload */
  size_t         size;     /* LEN: payload bytes */
} CpPbField;

void      cp_pb_reader_init (CpPbReader *reader, const void *data, size_t size);
/* Reads the next field.  Returns 1 with @field filled, 0 at the end of the
 * message, or -1 for malformed input (truncated varint or payload, field
 * number 0, unknown or group wire type) with @error naming the offset. */
int       cp_pb_reader_next (CpPbReader *reader, CpPbField *field, CpError *error);

#ifdef __cplusplus
}
#endif
