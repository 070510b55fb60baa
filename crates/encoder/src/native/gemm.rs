//! fp32 matrix multiply against a pre-packed right-hand side: `C = A·Bᵀ (+ bias)`.
//!
//! Why our own instead of the `gemm` crate candle uses: on stable Rust that crate runs its
//! AVX2 kernels at ~50 GFLOP/s on one core of the CI machine, repacks the weights on every
//! call, and cannot fold the bias in. Here the weights are packed once at load time into
//! panels of [`NR`] output columns, the kernel is the classic register-blocked outer product
//! (`MR`×`NR` accumulators, one broadcast of A and two loads of B per step), and the bias is
//! the accumulators' starting value. A portable version of the same loops runs where AVX2+FMA
//! is missing; the tests hold both to a plain triple loop.

#![allow(unsafe_code)] // AVX2 intrinsics; every pointer offset is bounds-checked by `gemm`.

/// Output columns per packed panel (two AVX2 registers of 8 lanes).
pub const NR: usize = 16;
/// Rows per kernel call (6×2 accumulators + 2 B registers + 1 broadcast = 15 of 16 registers).
const MR: usize = 6;
/// Depth per pass, so a panel slice (`KC`×`NR`×4 B = 24 KiB) stays in L1.
const KC: usize = 384;
/// Rows per pass, so the A block (`MC`×`KC`×4 B = 180 KiB) stays in L2.
const MC: usize = 120;

/// A right-hand side packed for [`gemm`]: `n` columns (outputs) of depth `k`, stored as
/// `ceil(n / NR)` panels of `k`×`NR` values, zero-padded past `n`.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    pub n: usize,
    pub k: usize,
    pub data: Vec<f32>,
}

fn panels(n: usize) -> usize {
    n.div_ceil(NR)
}

/// A [`Packed`]'s panels, as [`gemm`] reads them.
#[derive(Clone, Copy, Debug)]
pub struct Panels<'a> {
    pub n: usize,
    pub k: usize,
    pub data: &'a [f32],
}

impl Packed {
    pub fn all(&self) -> Panels<'_> {
        Panels {
            n: self.n,
            k: self.k,
            data: &self.data,
        }
    }

    /// From `w` laid out `[n][k]` with row stride `ld` (a PyTorch `Linear` weight: out × in;
    /// or the keys of one attention head).
    pub fn pack_nk(&mut self, w: &[f32], n: usize, k: usize, ld: usize) {
        self.reset(n, k);
        for col in 0..n {
            let (p, j) = (col / NR, col % NR);
            let row = &w[col * ld..col * ld + k];
            let panel = &mut self.data[p * k * NR..(p + 1) * k * NR];
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * NR + j] = v;
            }
        }
    }

    /// From `b` laid out `[k][n]` with row stride `ld` (the values of one attention head).
    pub fn pack_kn(&mut self, b: &[f32], k: usize, n: usize, ld: usize) {
        self.reset(n, k);
        for kk in 0..k {
            let row = &b[kk * ld..kk * ld + n];
            for (p, chunk) in row.chunks(NR).enumerate() {
                let at = p * k * NR + kk * NR;
                self.data[at..at + chunk.len()].copy_from_slice(chunk);
            }
        }
    }

    /// Sizes `data` for `n`×`k` without clearing what the packing overwrites anyway; only the
    /// padding columns of the last panel are zeroed, so the result depends on the input alone.
    fn reset(&mut self, n: usize, k: usize) {
        self.n = n;
        self.k = k;
        self.data.resize(panels(n) * k * NR, 0.0);
        let tail = n % NR;
        if tail != 0 {
            let last = &mut self.data[(panels(n) - 1) * k * NR..];
            for kk in 0..k {
                last[kk * NR + tail..(kk + 1) * NR].fill(0.0);
            }
        }
    }
}

/// Pads a bias to whole panels, the shape [`gemm`] reads it in.
pub fn pad_bias(bias: &[f32]) -> Vec<f32> {
    let mut b = bias.to_vec();
    b.resize(bias.len().div_ceil(NR) * NR, 0.0);
    b
}

/// `c[i][j] = bias[j] + Σₖ a[i][k]·b[j][k]` for `i < m`, `j < b.n`; `a` has row stride `lda`,
/// `c` row stride `ldc`. `bias`, when given, is padded to whole panels ([`pad_bias`]).
pub fn gemm(
    m: usize,
    a: &[f32],
    lda: usize,
    b: Panels<'_>,
    bias: Option<&[f32]>,
    c: &mut [f32],
    ldc: usize,
) {
    let (n, k) = (b.n, b.k);
    if m == 0 || n == 0 {
        return;
    }
    assert!(lda >= k && ldc >= n, "strides shorter than rows");
    assert!(a.len() >= (m - 1) * lda + k, "A is shorter than m rows");
    assert!(c.len() >= (m - 1) * ldc + n, "C is shorter than m rows");
    assert_eq!(b.data.len(), panels(n) * k * NR);
    if let Some(bias) = bias {
        assert!(bias.len() >= panels(n) * NR, "bias not padded");
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                c[i * ldc + j] = bias.map_or(0.0, |b| b[j]);
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time), and the asserts above
        // bound every row and panel the kernels touch.
        unsafe { x86::gemm(m, a, lda, b, bias, c, ldc) };
        return;
    }
    portable::gemm(m, a, lda, b, bias, c, ldc);
}

/// Whether the AVX2+FMA kernels run (else the portable loops).
pub fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The loop nest shared by both kernels: row blocks, depth blocks, panels, rows by `MR`.
/// `kernel(rows, i, k0, kc, panel, first)` computes rows `i..i+rows` of one panel over depth
/// `k0..k0+kc`, starting from the bias when `first`, else from what `C` holds.
#[inline(always)]
fn blocks(
    m: usize,
    b: Panels<'_>,
    mut kernel: impl FnMut(usize, usize, usize, usize, usize, bool),
) {
    let k = b.k;
    for i0 in (0..m).step_by(MC) {
        let i1 = (i0 + MC).min(m);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for p in 0..panels(b.n) {
                let mut i = i0;
                while i < i1 {
                    let rows = MR.min(i1 - i);
                    kernel(rows, i, k0, kc, p, k0 == 0);
                    i += rows;
                }
            }
        }
    }
}

pub(crate) mod portable {
    use super::*;

    pub fn gemm(
        m: usize,
        a: &[f32],
        lda: usize,
        b: Panels<'_>,
        bias: Option<&[f32]>,
        c: &mut [f32],
        ldc: usize,
    ) {
        let k = b.k;
        blocks(m, b, |rows, i, k0, kc, p, first| {
            let panel = &b.data[p * k * NR + k0 * NR..p * k * NR + (k0 + kc) * NR];
            let cols = NR.min(b.n - p * NR);
            let mut acc = [[0f32; NR]; MR];
            for (r, acc) in acc.iter_mut().enumerate().take(rows) {
                let out = &c[(i + r) * ldc + p * NR..][..cols];
                if first {
                    if let Some(bias) = bias {
                        acc.copy_from_slice(&bias[p * NR..p * NR + NR]);
                    }
                } else {
                    acc[..cols].copy_from_slice(out);
                }
                let row = &a[(i + r) * lda + k0..(i + r) * lda + k0 + kc];
                for (kk, &x) in row.iter().enumerate() {
                    let bv = &panel[kk * NR..kk * NR + NR];
                    for j in 0..NR {
                        acc[j] += x * bv[j];
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate().take(rows) {
                c[(i + r) * ldc + p * NR..][..cols].copy_from_slice(&acc[..cols]);
            }
        });
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemm(
        m: usize,
        a: &[f32],
        lda: usize,
        b: Panels<'_>,
        bias: Option<&[f32]>,
        c: &mut [f32],
        ldc: usize,
    ) {
        let k = b.k;
        let (ap, bp, cp) = (a.as_ptr(), b.data.as_ptr(), c.as_mut_ptr());
        blocks(m, b, |rows, i, k0, kc, p, first| {
            let cols = NR.min(b.n - p * NR);
            let start = if first {
                match bias {
                    Some(bias) => Start::Bias(bias[p * NR..].as_ptr()),
                    None => Start::Zero,
                }
            } else {
                Start::C
            };
            // SAFETY: rows i..i+rows < m, depth k0+kc <= k, panel p < panels(n), cols <= n
            // - p*NR: all inside the slices `gemm` checked.
            unsafe {
                let a = ap.add(i * lda + k0);
                let bpanel = bp.add(p * k * NR + k0 * NR);
                let c = cp.add(i * ldc + p * NR);
                match rows {
                    6 => kernel::<6>(kc, a, lda, bpanel, c, ldc, cols, start),
                    5 => kernel::<5>(kc, a, lda, bpanel, c, ldc, cols, start),
                    4 => kernel::<4>(kc, a, lda, bpanel, c, ldc, cols, start),
                    3 => kernel::<3>(kc, a, lda, bpanel, c, ldc, cols, start),
                    2 => kernel::<2>(kc, a, lda, bpanel, c, ldc, cols, start),
                    _ => kernel::<1>(kc, a, lda, bpanel, c, ldc, cols, start),
                }
            }
        });
    }

    #[derive(Clone, Copy)]
    enum Start {
        Zero,
        Bias(*const f32),
        C,
    }

    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn kernel<const R: usize>(
        kc: usize,
        a: *const f32,
        lda: usize,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        start: Start,
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            match start {
                Start::Zero => {}
                Start::Bias(bias) => {
                    let (b0, b1) = (_mm256_loadu_ps(bias), _mm256_loadu_ps(bias.add(8)));
                    for row in acc.iter_mut() {
                        *row = [b0, b1];
                    }
                }
                Start::C => {
                    for (r, row) in acc.iter_mut().enumerate() {
                        let mut tmp = [0f32; NR];
                        std::ptr::copy_nonoverlapping(c.add(r * ldc), tmp.as_mut_ptr(), cols);
                        *row = [
                            _mm256_loadu_ps(tmp.as_ptr()),
                            _mm256_loadu_ps(tmp.as_ptr().add(8)),
                        ];
                    }
                }
            }
            for kk in 0..kc {
                let b0 = _mm256_loadu_ps(b.add(kk * NR));
                let b1 = _mm256_loadu_ps(b.add(kk * NR + 8));
                for (r, row) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*a.add(r * lda + kk));
                    row[0] = _mm256_fmadd_ps(x, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(x, b1, row[1]);
                }
            }
            for (r, row) in acc.iter().enumerate() {
                let out = c.add(r * ldc);
                if cols == NR {
                    _mm256_storeu_ps(out, row[0]);
                    _mm256_storeu_ps(out.add(8), row[1]);
                } else {
                    let mut tmp = [0f32; NR];
                    _mm256_storeu_ps(tmp.as_mut_ptr(), row[0]);
                    _mm256_storeu_ps(tmp.as_mut_ptr().add(8), row[1]);
                    std::ptr::copy_nonoverlapping(tmp.as_ptr(), out, cols);
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Deterministic values in [-1, 1) without a rand dependency.
    pub(crate) fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: &[f32],
        lda: usize,
        w: &[f32],
        bias: &[f32],
    ) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = bias.get(j).copied().unwrap_or(0.0) as f64;
                for kk in 0..k {
                    s += a[i * lda + kk] as f64 * w[j * k + kk] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn both_kernels_match_a_plain_triple_loop() {
        // Shapes that hit every row tail, a column tail, several depth and row blocks.
        for &(m, n, k) in &[
            (1, 1, 1),
            (7, 16, 3),
            (13, 37, 400),
            (131, 48, 800),
            (6, 1152, 384),
            (250, 21, 64),
        ] {
            let lda = k + 3;
            let a = values(m * lda, 1);
            let w = values(n * k, 2);
            let bias = values(n, 3);
            let want = naive(m, n, k, &a, lda, &w, &bias);
            let mut packed = Packed::default();
            packed.pack_nk(&w, n, k, k);
            let padded = pad_bias(&bias);
            let mut runs: Vec<(&str, Vec<f32>)> = Vec::new();
            let mut c = vec![f32::NAN; m * n];
            portable::gemm(m, &a, lda, packed.all(), Some(&padded), &mut c, n);
            runs.push(("portable", c));
            let mut c = vec![f32::NAN; m * n];
            gemm(m, &a, lda, packed.all(), Some(&padded), &mut c, n);
            runs.push(("dispatched", c));
            for (name, got) in runs {
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                        "{name} {m}x{n}x{k}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn packing_from_either_layout_agrees() {
        let (k, n) = (19, 35);
        let kn = values(k * n, 4);
        let mut nk = vec![0f32; n * k];
        for kk in 0..k {
            for j in 0..n {
                nk[j * k + kk] = kn[kk * n + j];
            }
        }
        let (mut a, mut b) = (Packed::default(), Packed::default());
        a.pack_nk(&nk, n, k, k);
        b.pack_kn(&kn, k, n, n);
        assert_eq!(a.data, b.data);
        // Reuse keeps no stale values from a larger packing.
        b.pack_kn(&kn, 3, 5, n);
        a.pack_nk(
            &{
                let mut v = vec![0f32; 5 * 3];
                for kk in 0..3 {
                    for j in 0..5 {
                        v[j * 3 + kk] = kn[kk * n + j];
                    }
                }
                v
            },
            5,
            3,
            3,
        );
        assert_eq!(a.data, b.data);
    }

    #[test]
    fn without_bias_starts_from_zero() {
        let (m, n, k) = (9, 20, 5);
        let a = values(m * k, 5);
        let w = values(n * k, 6);
        let mut packed = Packed::default();
        packed.pack_nk(&w, n, k, k);
        let mut c = vec![7.0; m * n];
        gemm(m, &a, k, packed.all(), None, &mut c, n);
        let want = naive(m, n, k, &a, k, &w, &[]);
        for (g, w) in c.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5);
        }
    }
}
