/* cpu-conv-reference.c: convolution as the textbook direct loops.
 *
 * Slow and obviously right: the fast im2col convolution is tested against
 * these.  Sums are kept in double so that the reference's own rounding is
 * far below the tolerance the tests allow the fast path.
 */
#include "cpu-private.h"

#include <string.h>

void
cp_cpu_conv2d_reference_forward (const CpConvDesc *d, const float *x, const float *w, float *y)
{
  for (int b = 0; b < d->n; b++)
    for (int co = 0; co < d->c_out; co++)
      for (int oh = 0; oh < d->h_out; oh++)
        for (int ow = 0; ow < d->w_out; ow++)
          {
            double sum = 0.0;

            for (int ci = 0; ci < d->c_in; ci++)
              for (int ki = 0; ki < d->kh; ki++)
                {
                  int ih = oh * d->stride - d->pad + ki;

                  if (ih < 0 || ih >= d->h_in)
                    continue;
                  for (int kj = 0; kj < d->kw; kj++)
                    {
                      int iw = ow * d->stride - d->pad + kj;

                      if (iw < 0 || iw >= d->w_in)
                        continue;
                      sum += (double) x[(((size_t) b * d->c_in + ci) * d->h_in + ih) * d->w_in + iw]
                             * (double) w[(((size_t) co * d->c_in + ci) * d->kh + ki) * d->kw + kj];
                    }
                }
            y[(((size_t) b * d->c_out + co) * d->h_out + oh) * d->w_out + ow] = (float) sum;
          }
}

/* dx[b, ci, ih, iw] = sum over the (co, ki, kj) whose window covers the
 * pixel of dy[b, co, oh, ow] w[co, ci, ki, kj].  Written as a gather per
 * input pixel so each dx element is summed in double exactly once. */
void
cp_cpu_conv2d_reference_backward_data (const CpConvDesc *d, const float *dy, const float *w,
                                       float *dx)
{
  for (int b = 0; b < d->n; b++)
    for (int ci = 0; ci < d->c_in; ci++)
      for (int ih = 0; ih < d->h_in; ih++)
        for (int iw = 0; iw < d->w_in; iw++)
          {
            double sum = 0.0;

            for (int ki = 0; ki < d->kh; ki++)
              {
                int th = ih + d->pad - ki;
                int oh;

                if (th < 0 || th % d->stride != 0)
                  continue;
                oh = th / d->stride;
                if (oh >= d->h_out)
                  continue;
                for (int kj = 0; kj < d->kw; kj++)
                  {
                    int tw = iw + d->pad - kj;
                    int ow;

                    if (tw < 0 || tw % d->stride != 0)
                      continue;
                    ow = tw / d->stride;
                    if (ow >= d->w_out)
                      continue;
                    for (int co = 0; co < d->c_out; co++)
                      sum += (double) dy[(((size_t) b * d->c_out + co) * d->h_out + oh) * d->w_out + ow]
                             * (double) w[(((size_t) co * d->c_in + ci) * d->kh + ki) * d->kw + kj];
                  }
              }
            dx[(((size_t) b * d->c_in + ci) * d->h_in + ih) * d->w_in + iw] = (float) sum;
          }
}

void
cp_cpu_conv2d_reference_backward_filter (const CpConvDesc *d, const float *x, const float *dy,
                                         float *dw)
{
  for (int co = 0; co < d->c_out; co++)
    for (int ci = 0; ci < d->c_in; ci++)
      for (int ki = 0; ki < d->kh; ki++)
        for (int kj = 0; kj < d->kw; kj++)
          {
            double sum = 0.0;

            for (int b = 0; b < d->n; b++)
              for (int oh = 0; oh < d->h_out; oh++)
                {
                  int ih = oh * d->stride - d->pad + ki;

                  if (ih < 0 || ih >= d->h_in)
                    continue;
                  for (int ow = 0; ow < d->w_out; ow++)
                    {
                      int iw = ow * d->stride - d->pad + kj;

                      if (iw < 0 || iw >= d->w_in)
                        continue;
                      sum += (double) x[(((size_t) b * d->c_in + ci) * d->h_in + ih) * d->w_in + iw]
                             * (double) dy[(((size_t) b * d->c_out + co) * d->h_out + oh) * d->w_out + ow];
                    }
                }
            dw[(((size_t) co * d->c_in + ci) * d->kh + ki) * d->kw + kj] = (float) sum;
          }
}
