/* The C baseline of benchmarks/bench_steppers.py (design.md's "C OpenMP+SIMD"):
 * PyTorch's SGD(nesterov=True) on 2-D Rosenbrock over blocks of BLOCK starts,
 * OpenMP threads over blocks, the lane loop vectorised (omp simd).
 * thetas: (n_starts, 2) row-major, advanced in place; n_starts a multiple of BLOCK. */
#include <omp.h>

#define BLOCK 32

void nesterov_blocks(double *thetas, long n_starts, double lr, double beta, double a,
                     double b, long n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long block = 0; block < n_starts / BLOCK; block++) {
        double x[BLOCK], y[BLOCK], b0[BLOCK], b1[BLOCK];
        double *t = thetas + 2 * block * BLOCK;
        for (int j = 0; j < BLOCK; j++) {
            x[j] = t[2 * j];
            y[j] = t[2 * j + 1];
            b0[j] = 0.0;
            b1[j] = 0.0;
        }
        for (long k = 1; k <= n; k++) {
            const int first = k == 1;
#pragma omp simd
            for (int j = 0; j < BLOCK; j++) {
                double r = y[j] - x[j] * x[j];
                double g0 = -4.0 * b * x[j] * r - 2.0 * (a - x[j]);
                double g1 = 2.0 * b * r;
                double c0 = first ? g0 : beta * b0[j] + g0;
                double c1 = first ? g1 : beta * b1[j] + g1;
                b0[j] = c0;
                b1[j] = c1;
                x[j] -= lr * (g0 + beta * c0);
                y[j] -= lr * (g1 + beta * c1);
            }
        }
        for (int j = 0; j < BLOCK; j++) {
            t[2 * j] = x[j];
            t[2 * j + 1] = y[j];
        }
    }
}
