/* status.h: status codes and error messages returned by the engine core.
 *
 * The core never aborts on bad input: every fallible call returns a
 * CpStatus and, when given a CpError, writes a human readable message that
 * names the file, tensor or argument at fault.
 */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum
{
  CP_OK = 0,
  CP_ERR_INVALID,      /* bad argument or shape */
  CP_ERR_IO,           /* open/read/write/rename failed */
  CP_ERR_FORMAT,       /* malformed file contents */
  CP_ERR_NOMEM,        /* allocation failed or a size limit was exceeded */
  CP_ERR_UNSUPPORTED,  /* feature not built in / op not supported by backend */
  CP_ERR_DEVICE,       /* GPU driver, device or runtime failure */
  CP_ERR_CANCELLED,    /* the user asked to stop */
  CP_ERR_NUMERIC,      /* NaN or Inf where a finite number is required */
} CpStatus;

#define CP_ERROR_MESSAGE_SIZE 1024

typedef struct
{
  CpStatus code;
  char     message[CP_ERROR_MESSAGE_SIZE];
} CpError;

/* Records @code and a printf-style message in @error (which may be NULL) and
 * returns @code, so callers can write `return cp_error_set (err, ...)`.
 */
CpStatus    cp_error_set     (CpError    *error,
                              CpStatus    code,
                              const char *format,
                              ...) __attribute__ ((format (printf, 3, 4)));

/* Prefixes the message already in @error with "prefix: ". */
CpStatus    cp_error_prefix  (CpError    *error,
                              const char *format,
                              ...) __attribute__ ((format (printf, 2, 3)));

void        cp_error_clear   (CpError    *error);

const char *cp_status_to_string (CpStatus status);

#ifdef __cplusplus
}
#endif
