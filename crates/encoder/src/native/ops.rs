//! The element-wise and row-wise steps of a BERT layer: layer norm, GELU, softmax.
//!
//! Written as plain loops the compiler vectorizes: each public function runs its body in a
//! copy compiled for AVX2+FMA when the CPU has them (the same body, so the two cannot drift),
//! else in the baseline build. Sums use 8 independent lanes, which lets them vectorize without
//! fast-math; `exp` and `erf` are branch-free polynomials for the same reason (libm calls do
//! not vectorize). Their accuracy is tested against `std` below.

#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..8 {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 8];
    let chunks = x.chunks_exact(8);
    let rest = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for i in 0..8 {
            // Not f32::max: its NaN rule keeps this from vectorizing (there are no NaNs here).
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().fold(rest, |m, &v| m.max(v))
}

/// `eˣ` to ~1 ulp (Cephes' `expf`): `x = n·ln2 + r`, a degree-6 polynomial for `eʳ`, and `2ⁿ`
/// built in the exponent bits. Inputs are clamped to where the result is a normal float.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + 0.5).floor();
    // 2ⁿ without a float→int cast (Rust's saturating `as` does not vectorize): adding 2²³
    // leaves n + 127 (in 2..=254) as the low mantissa bits; shift them into the exponent.
    let biased = (n + (127.0 + 8_388_608.0)).to_bits() & 0x7f_ffff;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let p = p * r * r + r + 1.0;
    p * f32::from_bits(biased << 23)
}

/// `erf(x)` to 1.5e-7 (Abramowitz & Stegun 7.1.26), ~4e-7 after f32 rounding.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152 + t * 1.061_405_4))));
    (1.0 - poly * exp(-a * a)).copysign(x)
}

/// `tanh(x)` from `exp`, for the tanh-approximated GELU some models use.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

dispatch! {
    /// `x = LayerNorm(x + y)` for each row of `dim` values, in place.
    fn add_layer_norm(x: &mut [f32], y: &[f32], dim: usize, gamma: &[f32], beta: &[f32], eps: f32) {
        for (row, add) in x.chunks_exact_mut(dim).zip(y.chunks_exact(dim)) {
            for (a, b) in row.iter_mut().zip(add) {
                *a += b;
            }
            norm_row(row, gamma, beta, eps);
        }
    }
}

dispatch! {
    /// `x = LayerNorm(x)` for each row of `dim` values, in place.
    fn layer_norm(x: &mut [f32], dim: usize, gamma: &[f32], beta: &[f32], eps: f32) {
        for row in x.chunks_exact_mut(dim) {
            norm_row(row, gamma, beta, eps);
        }
    }
}

#[inline(always)]
fn norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    for v in row.iter_mut() {
        *v -= mean;
    }
    let mut sq = [0f32; 8];
    let chunks = row.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().map(|v| v * v).sum();
    for c in chunks {
        for i in 0..8 {
            sq[i] += c[i] * c[i];
        }
    }
    let var = (sq.iter().sum::<f32>() + rest) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = *v * inv * g + b;
    }
}

dispatch! {
    /// Exact GELU, `x·Φ(x) = x/2·(1 + erf(x/√2))`, in place (BERT's `gelu`).
    fn gelu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatch! {
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`), in place.
    fn gelu_tanh(x: &mut [f32]) {
        const C: f32 = 0.797_884_6; // √(2/π)
        for v in x.iter_mut() {
            let u = *v;
            *v = 0.5 * u * (1.0 + tanh(C * (u + 0.044_715 * u * u * u)));
        }
    }
}

dispatch! {
    /// `max(x, 0)` in place.
    fn relu(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

dispatch! {
    /// Softmax of each row of `n` values, in place.
    fn softmax_rows(x: &mut [f32], n: usize) {
        for row in x.chunks_exact_mut(n) {
            let m = max(row);
            for v in row.iter_mut() {
                *v = exp(*v - m);
            }
            let inv = 1.0 / sum(row);
            for v in row.iter_mut() {
                *v *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_std() {
        let mut worst_exp = 0f64;
        let mut worst_erf = 0f64;
        for i in -20000..=20000 {
            let x = i as f32 / 1000.0; // -20..20
            let e = (x as f64).exp();
            worst_exp = worst_exp.max(((exp(x) as f64) - e).abs() / e);
            let want = libm_erf(x as f64);
            worst_erf = worst_erf.max((erf(x) as f64 - want).abs());
        }
        assert!(worst_exp < 3e-7, "exp relative error {worst_exp}");
        assert!(worst_erf < 5e-7, "erf absolute error {worst_erf}");
        assert_eq!(exp(-1000.0), exp(-87.0));
        assert!(exp(1000.0).is_finite());
    }

    /// erf by its Taylor series (small x) or continued fraction (large x), in f64.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let y = if a < 3.0 {
            let (mut term, mut total, mut n) = (a, a, 0.0);
            loop {
                n += 1.0;
                term *= -a * a / n;
                let add = term / (2.0 * n + 1.0);
                total += add;
                if add.abs() < 1e-17 {
                    break;
                }
            }
            total * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) = exp(-a²)/√π · 1/(a + 1/2/(a + 1/(a + 3/2/(a + …))))
            let mut f = a;
            for k in (1..60).rev() {
                f = a + (k as f64 / 2.0) / f;
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / f
        };
        y.copysign(x)
    }

    #[test]
    fn layer_norm_gives_zero_mean_unit_variance() {
        let dim = 37;
        let mut x: Vec<f32> = (0..2 * dim)
            .map(|i| (i as f32 * 0.37).sin() * 5.0 + 3.0)
            .collect();
        let y = vec![1.0; 2 * dim];
        let g = vec![1.0; dim];
        let b = vec![0.0; dim];
        add_layer_norm(&mut x, &y, dim, &g, &b, 1e-12);
        for row in x.chunks(dim) {
            let mean: f32 = row.iter().sum::<f32>() / dim as f32;
            let var: f32 = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
                "{mean} {var}"
            );
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_keep_order() {
        let mut x = vec![1.0, 2.0, 3.0, -1e4, 0.0, 0.0, 0.0, 0.0, 0.0];
        softmax_rows(&mut x, 9);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[2] > x[1] && x[1] > x[0] && x[3] >= 0.0);
        let want = 3f64.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp() + 5.0);
        assert!((x[2] as f64 - want).abs() < 1e-6);
    }

    #[test]
    fn gelu_variants_match_their_definitions() {
        let xs: Vec<f32> = (-60..=60).map(|i| i as f32 / 10.0).collect();
        let mut g = xs.clone();
        gelu(&mut g);
        let mut t = xs.clone();
        gelu_tanh(&mut t);
        let mut r = xs.clone();
        relu(&mut r);
        for (i, &x) in xs.iter().enumerate() {
            let exact = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / 2f64.sqrt()));
            assert!((g[i] as f64 - exact).abs() < 1e-6, "gelu({x})");
            let x64 = x as f64;
            let approx = 0.5
                * x64
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3)))
                        .tanh());
            assert!((t[i] as f64 - approx).abs() < 1e-6, "gelu_tanh({x})");
            assert_eq!(r[i], x.max(0.0));
        }
    }
}
