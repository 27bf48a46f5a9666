/* density-lapack.h: the LAPACK routine the density code needs.
 *
 * Debian's libopenblas carries LAPACK; no C header for it is guaranteed
 * (lapacke is a separate package), so declare the Fortran symbol here.
 * Fortran passes everything by reference; matrices are column-major, which
 * for a symmetric input only means eigenvectors come back as rows of our
 * row-major buffer.
 */
#pragma once

#include <stddef.h>

void dsyevd_ (const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
              double *w, double *work, const int *lwork, int *iwork, const int *liwork,
              int *info, size_t jobz_len, size_t uplo_len);

/* gfortran appends the lengths of character arguments; pass them so the
 * call matches the callee's real signature. */
#define cp_lapack_dsyevd(jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork, info) \
  dsyevd_ ((jobz), (uplo), (n), (a), (lda), (w), (work), (lwork), (iwork), (liwork), (info), 1, 1)
