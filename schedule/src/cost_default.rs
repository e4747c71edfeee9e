//! The default [`crate::cost::CostTable`]: single-thread seconds per operation on the standard chain
//! of each ring degree, measured with the runtime's `calibrate` (release build, `reps = 5`) on the
//! development machine (AMD EPYC Zen 4 VM, AVX-512 IFMA), whose top-level `rotate` and
//! `relinearize` times agree with `docs/performance.md`. Regenerate on an idle machine with
//! `cargo run -p hel-runtime --release --example default_cost_table` (`runtime/examples/`).

/// (log_n, operation, [(limbs, seconds)]).
pub(super) type Curve = (u32, &'static str, &'static [(u32, f64)]);

#[rustfmt::skip]
pub(super) const MEASURED: &[Curve] = &[
    (12, "add", &[(1, 2.429e-6), (2, 5.174e-6)]),
    (12, "add_const", &[(1, 9.448e-6), (2, 1.881e-5)]),
    (12, "add_plain", &[(1, 1.818e-6), (2, 3.802e-6)]),
    (12, "conjugate", &[(1, 9.170e-5), (2, 1.717e-4)]),
    (12, "ct_mul", &[(1, 6.816e-6), (2, 1.333e-5)]),
    (12, "encode", &[(1, 8.025e-5), (2, 1.068e-4)]),
    (12, "mod_down", &[(1, 1.245e-6), (2, 3.557e-6)]),
    (12, "mul_const", &[(1, 1.049e-5), (2, 2.117e-5)]),
    (12, "mul_int", &[(1, 2.635e-6), (2, 5.206e-6)]),
    (12, "mul_plain", &[(1, 3.482e-6), (2, 7.076e-6)]),
    (12, "neg", &[(1, 1.840e-6), (2, 3.685e-6)]),
    (12, "relinearize", &[(1, 8.188e-5), (2, 1.572e-4)]),
    (12, "rescale", &[(2, 3.921e-5)]),
    (12, "rotate", &[(1, 9.571e-5), (2, 1.707e-4)]),
    (12, "rotate_hoisted", &[(1, 7.442e-5), (2, 1.473e-4)]),
    (12, "sub", &[(1, 2.423e-6), (2, 5.242e-6)]),
    (13, "add", &[(1, 4.722e-6), (2, 1.018e-5), (3, 1.660e-5)]),
    (13, "add_const", &[(1, 1.965e-5), (2, 3.987e-5), (3, 6.060e-5)]),
    (13, "add_plain", &[(1, 3.564e-6), (2, 7.325e-6), (3, 1.201e-5)]),
    (13, "conjugate", &[(1, 2.563e-4), (2, 4.582e-4), (3, 6.829e-4)]),
    (13, "ct_mul", &[(1, 1.319e-5), (2, 2.727e-5), (3, 4.114e-5)]),
    (13, "encode", &[(1, 1.706e-4), (2, 2.278e-4), (3, 2.805e-4)]),
    (13, "mod_down", &[(1, 2.403e-6), (2, 7.605e-6), (3, 1.407e-5)]),
    (13, "mul_const", &[(1, 2.178e-5), (2, 4.393e-5), (3, 6.796e-5)]),
    (13, "mul_int", &[(1, 5.145e-6), (2, 1.043e-5), (3, 1.615e-5)]),
    (13, "mul_plain", &[(1, 6.808e-6), (2, 1.381e-5), (3, 2.209e-5)]),
    (13, "neg", &[(1, 3.582e-6), (2, 7.414e-6), (3, 1.170e-5)]),
    (13, "relinearize", &[(1, 2.286e-4), (2, 4.398e-4), (3, 6.452e-4)]),
    (13, "rescale", &[(2, 8.295e-5), (3, 1.260e-4)]),
    (13, "rotate", &[(1, 2.590e-4), (2, 4.575e-4), (3, 6.918e-4)]),
    (13, "rotate_hoisted", &[(1, 2.302e-4), (2, 4.089e-4), (3, 5.836e-4)]),
    (13, "sub", &[(1, 4.739e-6), (2, 1.011e-5), (3, 1.681e-5)]),
    (14, "add", &[(1, 1.039e-5), (4, 4.397e-5), (8, 9.179e-5)]),
    (14, "add_const", &[(1, 4.185e-5), (4, 1.773e-4), (8, 3.367e-4)]),
    (14, "add_plain", &[(1, 7.692e-6), (4, 3.368e-5), (8, 6.964e-5)]),
    (14, "conjugate", &[(1, 6.907e-4), (4, 1.821e-3), (8, 5.493e-3)]),
    (14, "ct_mul", &[(1, 2.796e-5), (4, 1.076e-4), (8, 2.194e-4)]),
    (14, "encode", &[(1, 3.563e-4), (4, 6.967e-4), (8, 1.141e-3)]),
    (14, "mod_down", &[(1, 4.990e-6), (4, 3.768e-5), (8, 8.278e-5)]),
    (14, "mul_const", &[(1, 4.609e-5), (4, 1.854e-4), (8, 3.767e-4)]),
    (14, "mul_int", &[(1, 1.073e-5), (4, 4.579e-5), (8, 9.056e-5)]),
    (14, "mul_plain", &[(1, 1.427e-5), (4, 5.601e-5), (8, 1.108e-4)]),
    (14, "neg", &[(1, 7.601e-6), (4, 3.390e-5), (8, 6.894e-5)]),
    (14, "relinearize", &[(1, 6.650e-4), (4, 1.711e-3), (8, 4.560e-3)]),
    (14, "rescale", &[(4, 3.500e-4), (8, 7.061e-4)]),
    (14, "rotate", &[(1, 6.674e-4), (4, 1.780e-3), (8, 5.275e-3)]),
    (14, "rotate_hoisted", &[(1, 6.351e-4), (4, 1.734e-3), (8, 9.184e-3)]),
    (14, "sub", &[(1, 1.052e-5), (4, 4.430e-5), (8, 9.233e-5)]),
    (15, "add", &[(1, 2.280e-5), (10, 3.046e-4), (20, 1.335e-3)]),
    (15, "add_const", &[(1, 9.033e-5), (10, 1.073e-3), (20, 2.471e-3)]),
    (15, "add_plain", &[(1, 1.721e-5), (10, 2.109e-4), (20, 6.320e-4)]),
    (15, "conjugate", &[(1, 1.152e-3), (10, 2.022e-2), (20, 6.394e-2)]),
    (15, "ct_mul", &[(1, 5.753e-5), (10, 5.728e-4), (20, 2.227e-3)]),
    (15, "encode", &[(1, 7.616e-4), (10, 2.867e-3), (20, 5.587e-3)]),
    (15, "mod_down", &[(1, 1.122e-5), (10, 2.808e-4), (20, 1.138e-3)]),
    (15, "mul_const", &[(1, 9.533e-5), (10, 1.012e-3), (20, 2.604e-3)]),
    (15, "mul_int", &[(1, 2.214e-5), (10, 2.340e-4), (20, 5.789e-4)]),
    (15, "mul_plain", &[(1, 2.996e-5), (10, 2.985e-4), (20, 7.336e-4)]),
    (15, "neg", &[(1, 1.669e-5), (10, 1.870e-4), (20, 5.760e-4)]),
    (15, "relinearize", &[(1, 1.112e-3), (10, 2.431e-2), (20, 6.384e-2)]),
    (15, "rescale", &[(10, 1.983e-3), (20, 4.619e-3)]),
    (15, "rotate", &[(1, 1.142e-3), (10, 2.569e-2), (20, 6.647e-2)]),
    (15, "rotate_hoisted", &[(1, 1.298e-3), (10, 2.712e-2), (20, 2.977e-1)]),
    (15, "sub", &[(1, 2.352e-5), (10, 2.953e-4), (20, 1.042e-3)]),
];

/// (log_n, log2 slots, seconds) of one bootstrap on one thread, with the chain `hel train
/// --refresh bootstrap` uses for that many slots (`hel bench bootstrap --for-training --slots S
/// --threads 1 --repeat 3`, the median of three bootstraps after the first, 2026-12-06 after
/// the double-hoisted DFTs; the shared 2-core development VM's medians vary by ~10%). The time
/// follows the chain (program levels, digits) more than the slots: 2^12 slots leave 10
/// program levels, 2^8 leave 14.
pub(super) const BOOTSTRAPS: &[(u32, u32, f64)] = &[
    (16, 6, 4.7),
    (16, 8, 5.1),
    (16, 10, 5.3),
    (16, 12, 4.9),
    (16, 15, 6.1),
];
