/* status.c: error reporting for the engine core. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

CpStatus
cp_error_set (CpError    *error,
              CpStatus    code,
              const char *format,
              ...)
{
  if (error != NULL)
    {
      va_list args;

      error->code = code;
      va_start (args, format);
      vsnprintf (error->message, sizeof error->message, format, args);
      va_end (args);
    }
  return code;
}

CpStatus
cp_error_prefix (CpError    *error,
                 const char *format,
                 ...)
{
  char prefix[CP_ERROR_MESSAGE_SIZE];
  char old[CP_ERROR_MESSAGE_SIZE];
  va_list args;

  if (error == NULL)
    return CP_OK;

  va_start (args, format);
  vsnprintf (prefix, sizeof prefix, format, args);
  va_end (args);
  memcpy (old, error->message, sizeof old);
  /* Truncation is acceptable here: keep as much of both parts as fits. */
  {
    size_t capacity = sizeof error->message - 1;
    size_t used = 0;
    const char *parts[3] = { prefix, ": ", old };

    for (int i = 0; i < 3; i++)
      {
        size_t len = strlen (parts[i]);
        if (len > capacity - used)
          len = capacity - used;
        memcpy (error->message + used, parts[i], len);
        used += len;
      }
    error->message[used] = '\0';
  }
  return error->code;
}

void
cp_error_clear (CpError *error)
{
  if (error != NULL)
    {
      error->code = CP_OK;
      error->message[0] = '\0';
    }
}

const char *
cp_status_to_string (CpStatus status)
{
  switch (status)
    {
    case CP_OK: return "ok";
    case CP_ERR_INVALID: return "invalid argument";
    case CP_ERR_IO: return "input/output error";
    case CP_ERR_FORMAT: return "malformed data";
    case CP_ERR_NOMEM: return "out of memory";
    case CP_ERR_UNSUPPORTED: return "not supported";
    case CP_ERR_DEVICE: return "device error";
    case CP_ERR_CANCELLED: return "cancelled";
    case CP_ERR_NUMERIC: return "numeric error";
    default: return "unknown error";
    }
}
