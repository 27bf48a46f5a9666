/* protobuf.c: protocol buffer wire format, hand written (see protobuf.h). */
#include "protobuf.h"

#include <stdlib.h>
#include <string.h>

void
cp_pb_buf_init (CpPbBuf *buf)
{
  buf->data = NULL;
  buf->size = 0;
  buf->capacity = 0;
  buf->failed = 0;
}

void
cp_pb_buf_clear (CpPbBuf *buf)
{
  free (buf->data);
  cp_pb_buf_init (buf);
}

int
cp_pb_buf_failed (const CpPbBuf *buf)
{
  return buf->failed;
}

int
cp_pb_buf_reserve (CpPbBuf *buf, size_t extra)
{
  size_t want, capacity;
  uint8_t *data;

  if (buf->failed)
    return 0;
  if (extra > SIZE_MAX - buf->size)
    {
      buf->failed = 1;
      return 0;
    }
  want = buf->size + extra;
  if (want <= buf->capacity)
    return 1;
  /* Doubling keeps appends amortised O(1) for the ~45 MB of weights. */
  capacity = buf->capacity ? buf->capacity : 256;
  while (capacity < want)
    capacity = capacity > SIZE_MAX / 2 ? want : capacity * 2;
  data = realloc (buf->data, capacity);
  if (data == NULL)
    {
      buf->failed = 1;
      return 0;
    }
  buf->data = data;
  buf->capacity = capacity;
  return 1;
}

void
cp_pb_put_raw (CpPbBuf *buf, const void *data, size_t size)
{
  if (size == 0 || !cp_pb_buf_reserve (buf, size))
    return;
  memcpy (buf->data + buf->size, data, size);
  buf->size += size;
}

size_t
cp_pb_varint_size (uint64_t value)
{
  size_t n = 1;

  while (value >= 0x80)
    {
      value >>= 7;
      n++;
    }
  return n;
}

void
cp_pb_put_varint (CpPbBuf *buf, uint64_t value)
{
  uint8_t bytes[10];
  size_t n = 0;

  /* Seven bits per byte, least significant group first; the high bit says
   * another byte follows. */
  while (value >= 0x80)
    {
      bytes[n++] = (uint8_t) (value | 0x80);
      value >>= 7;
    }
  bytes[n++] = (uint8_t) value;
  cp_pb_put_raw (buf, bytes, n);
}

void
cp_pb_put_tag (CpPbBuf *buf, int field, CpPbWireType wire)
{
  cp_pb_put_varint (buf, ((uint64_t) (uint32_t) field << 3) | (uint64_t) wire);
}

void
cp_pb_put_int (CpPbBuf *buf, int field, int64_t value)
{
  cp_pb_put_tag (buf, field, CP_PB_WIRE_VARINT);
  cp_pb_put_varint (buf, (uint64_t) value);
}

void
cp_pb_put_float (CpPbBuf *buf, int field, float value)
{
  uint32_t bits;
  uint8_t bytes[4];

  memcpy (&bits, &value, sizeof bits);
  /* fixed32 is little-endian whatever the host. */
  for (int i = 0; i < 4; i++)
    bytes[i] = (uint8_t) (bits >> (8 * i));
  cp_pb_put_tag (buf, field, CP_PB_WIRE_FIXED32);
  cp_pb_put_raw (buf, bytes, sizeof bytes);
}

void
cp_pb_put_bytes (CpPbBuf *buf, int field, const void *data, size_t size)
{
  cp_pb_put_tag (buf, field, CP_PB_WIRE_LEN);
  cp_pb_put_varint (buf, size);
  cp_pb_put_raw (buf, data, size);
}

void
cp_pb_put_string (CpPbBuf *buf, int field, const char *text)
{
  cp_pb_put_bytes (buf, field, text, strlen (text));
}

void
cp_pb_put_message (CpPbBuf *buf, int field, const CpPbBuf *message)
{
  if (message->failed)
    {
      buf->failed = 1;
      return;
    }
  cp_pb_put_bytes (buf, field, message->data, message->size);
}

void
cp_pb_put_packed_int64 (CpPbBuf *buf, int field, const int64_t *values, size_t count)
{
  size_t size = 0;

  for (size_t i = 0; i < count; i++)
    size += cp_pb_varint_size ((uint64_t) values[i]);
  cp_pb_put_tag (buf, field, CP_PB_WIRE_LEN);
  cp_pb_put_varint (buf, size);
  for (size_t i = 0; i < count; i++)
    cp_pb_put_varint (buf, (uint64_t) values[i]);
}

/* ---- reading ---- */

void
cp_pb_reader_init (CpPbReader *reader, const void *data, size_t size)
{
  reader->start = data;
  reader->pos = data;
  reader->end = reader->pos + size;
}

static int
read_varint (CpPbReader *reader, uint64_t *value)
{
  uint64_t v = 0;

  for (int shift = 0; shift < 70; shift += 7)
    {
      uint8_t byte;

      if (reader->pos >= reader->end)
        return 0;
      byte = *reader->pos++;
      /* The tenth byte may only carry the top bit of a 64-bit value. */
      if (shift == 63 && byte > 1)
        return 0;
      v |= (uint64_t) (byte & 0x7f) << shift;
      if ((byte & 0x80) == 0)
        {
          *value = v;
          return 1;
        }
    }
  return 0;
}

int
cp_pb_reader_next (CpPbReader *reader, CpPbField *field, CpError *error)
{
  size_t offset = (size_t) (reader->pos - reader->start);
  uint64_t key, length;

  memset (field, 0, sizeof *field);
  if (reader->pos >= reader->end)
    return 0;
  if (!read_varint (reader, &key))
    {
      cp_error_set (error, CP_ERR_FORMAT, "malformed field key at byte %zu", offset);
      return -1;
    }
  if ((key >> 3) == 0 || (key >> 3) > 536870911u)
    {
      cp_error_set (error, CP_ERR_FORMAT, "invalid field number %llu at byte %zu",
                    (unsigned long long) (key >> 3), offset);
      return -1;
    }
  field->field = (int) (key >> 3);
  field->wire = (CpPbWireType) (key & 7);
  switch (key & 7)
    {
    case CP_PB_WIRE_VARINT:
      if (!read_varint (reader, &field->varint))
        {
          cp_error_set (error, CP_ERR_FORMAT, "truncated varint of field %d at byte %zu",
                        field->field, offset);
          return -1;
        }
      return 1;
    case CP_PB_WIRE_FIXED64:
    case CP_PB_WIRE_FIXED32:
      {
        size_t n = (key & 7) == CP_PB_WIRE_FIXED64 ? 8 : 4;

        if ((size_t) (reader->end - reader->pos) < n)
          {
            cp_error_set (error, CP_ERR_FORMAT, "truncated fixed-width field %d at byte %zu",
                          field->field, offset);
            return -1;
          }
        for (size_t i = 0; i < n; i++)
          field->varint |= (uint64_t) reader->pos[i] << (8 * i);
        reader->pos += n;
        return 1;
      }
    case CP_PB_WIRE_LEN:
      if (!read_varint (reader, &length) || length > (uint64_t) (reader->end - reader->pos))
        {
          cp_error_set (error, CP_ERR_FORMAT, "truncated length-delimited field %d at byte %zu",
                        field->field, offset);
          return -1;
        }
      field->data = reader->pos;
      field->size = (size_t) length;
      reader->pos += length;
      return 1;
    default:
      cp_error_set (error, CP_ERR_FORMAT, "unsupported wire type %u of field %d at byte %zu",
                    (unsigned) (key & 7), field->field, offset);
      return -1;
    }
}
