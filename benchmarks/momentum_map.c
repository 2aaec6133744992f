/* The C baseline of benchmarks/bench_sweep.py: an lr x momentum map of PyTorch's
 * SGD(momentum) (heavy ball) on 2-D Rosenbrock, one start, each cell its own lr and
 * momentum read from per-lane arrays; OpenMP threads over blocks of BLOCK cells, the
 * lane loop vectorised (omp simd).  thetas: (n, 2) row-major, advanced in place; n a
 * multiple of BLOCK. */
#include <omp.h>

#define BLOCK 32

void momentum_map(double *thetas, const double *lrs, const double *betas, long n_cells,
                  double a, double b, long n, int threads)
{
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long block = 0; block < n_cells / BLOCK; block++) {
        double x[BLOCK], y[BLOCK], b0[BLOCK], b1[BLOCK], lr[BLOCK], beta[BLOCK];
        double *t = thetas + 2 * block * BLOCK;
        for (int j = 0; j < BLOCK; j++) {
            x[j] = t[2 * j];
            y[j] = t[2 * j + 1];
            b0[j] = 0.0;
            b1[j] = 0.0;
            lr[j] = lrs[block * BLOCK + j];
            beta[j] = betas[block * BLOCK + j];
        }
        for (long k = 1; k <= n; k++) {
            const int first = k == 1;
#pragma omp simd
            for (int j = 0; j < BLOCK; j++) {
                double r = y[j] - x[j] * x[j];
                double g0 = -4.0 * b * x[j] * r - 2.0 * (a - x[j]);
                double g1 = 2.0 * b * r;
                double c0 = first ? g0 : beta[j] * b0[j] + g0;
                double c1 = first ? g1 : beta[j] * b1[j] + g1;
                b0[j] = c0;
                b1[j] = c1;
                x[j] -= lr[j] * c0;
                y[j] -= lr[j] * c1;
            }
        }
        for (int j = 0; j < BLOCK; j++) {
            t[2 * j] = x[j];
            t[2 * j + 1] = y[j];
        }
    }
}
