//! int8 matrix multiply for the `int8` precision: dynamic quantization as PyTorch's
//! `quantize_dynamic` and ONNX Runtime's do it.
//!
//! - Weights: int8, symmetric, one scale per output column, packed once at load time.
//! - Activations: quantized per row (token) at run time, asymmetric, to [`QMAX`] + 1 levels.
//! - `C = sa·sw·(Σ qa·qw − za·Σ qw) + bias`, the sums exact in i32.
//!
//! The kernel multiplies in 16-bit lanes (`vpmaddwd`: 16 multiply-adds into i32 per µop)
//! rather than 8-bit ones. AVX2 has no int8 dot product: its `vpmaddubsw` needs a second
//! `vpmaddwd` to widen, so it costs the same two multiplier µops per 32 multiply-adds, and it
//! saturates an i16 unless activations are cut to 7 bits (PyTorch's `reduce_range`). That cut
//! cost 0.0065 nDCG@10 on SciFact; 16-bit lanes leave room for activations of more bits at
//! the same speed (weights×activations×depth stay far inside i32, see [`QMAX`]). Both
//! instructions run at twice the fp32 FMA rate per multiply-add on the CPUs we measured.
//!
//! Packing: panels of [`NR`] columns; per pair of depths, 16 columns × 2 values, so one
//! broadcast of 2 activation values meets 8 columns in one `vpmaddwd`.

#![allow(unsafe_code)] // AVX2 intrinsics; every pointer offset is bounds-checked by `gemm`.

pub const NR: usize = 16;
/// Rows per kernel call (6×2 accumulators + 2 weight registers + 1 broadcast: 15 of 16).
const MR: usize = 6;
const MC: usize = 120;
/// Largest quantized activation value. Bounds: a pair of products is at most
/// 2·QMAX·127 and a depth of k sums k/2 pairs; at QMAX = 1023 and k = 4096 that is 0.53·2³¹.
pub const QMAX: f32 = 1023.0;
/// The deepest input [`gemm`] accepts at [`QMAX`] without overflowing i32.
pub const MAX_DEPTH: usize = 8192;

/// Quantized weights `[n][k]`: int8 values kept in i16 lanes, packed by panels, `k` padded to
/// `k2 * 2`.
#[derive(Clone, Debug, Default)]
pub struct PackedI8 {
    pub n: usize,
    pub k: usize,
    k2: usize,
    data: Vec<i16>,
    /// Per output column: the dequantization scale, and the sum of its int8 weights.
    scale: Vec<f32>,
    colsum: Vec<i32>,
}

impl PackedI8 {
    /// Quantizes `w` (`[n][k]`, row stride `k`) per output row, symmetric to ±127.
    pub fn quantize(w: &[f32], n: usize, k: usize) -> Self {
        assert!(
            k <= MAX_DEPTH,
            "depth {k} would overflow the int8 kernel's i32 sums"
        );
        let k2 = k.div_ceil(2);
        let panels = n.div_ceil(NR);
        let mut p = PackedI8 {
            n,
            k,
            k2,
            data: vec![0; panels * k2 * 2 * NR],
            scale: vec![0.0; panels * NR],
            colsum: vec![0; panels * NR],
        };
        for col in 0..n {
            let row = &w[col * k..(col + 1) * k];
            let max = row.iter().fold(0f32, |m, x| m.max(x.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            p.scale[col] = scale;
            let (panel, j) = (col / NR, col % NR);
            for (kk, &x) in row.iter().enumerate() {
                let q = (x / scale).round().clamp(-127.0, 127.0) as i16;
                p.colsum[col] += q as i32;
                let (g, e) = (kk / 2, kk % 2);
                p.data[((panel * k2 + g) * NR + j) * 2 + e] = q;
            }
        }
        p
    }

    pub fn all(&self) -> I8Panels<'_> {
        I8Panels {
            n: self.n,
            k2: self.k2,
            data: &self.data,
            scale: &self.scale,
            colsum: &self.colsum,
        }
    }

    /// The weight the kernel multiplies by at (`col`, `kk`), dequantized.
    #[cfg(test)]
    pub fn weight(&self, col: usize, kk: usize) -> f32 {
        let (panel, j, g, e) = (col / NR, col % NR, kk / 2, kk % 2);
        self.data[((panel * self.k2 + g) * NR + j) * 2 + e] as f32 * self.scale[col]
    }

    pub fn bytes(&self) -> usize {
        2 * self.data.len() + 8 * self.scale.len()
    }
}

/// A [`PackedI8`]'s panels, as [`gemm`] reads them.
#[derive(Clone, Copy, Debug)]
pub struct I8Panels<'a> {
    pub n: usize,
    k2: usize,
    data: &'a [i16],
    scale: &'a [f32],
    colsum: &'a [i32],
}

/// Activations of `m` rows quantized for [`gemm`]: rows of `k2 * 2` values in 0..=QMAX.
#[derive(Debug, Default)]
pub struct QuantRows {
    data: Vec<i16>,
    scale: Vec<f32>,
    zero: Vec<i32>,
    k2: usize,
}

impl QuantRows {
    /// Quantizes rows `a[i*lda..][..k]`, `i < m`, each with its own scale and zero point; zero
    /// itself is exact, so zero padding stays zero.
    pub fn quantize(&mut self, m: usize, a: &[f32], lda: usize, k: usize) {
        let k2 = k.div_ceil(2);
        self.k2 = k2;
        self.data.clear();
        self.data.resize(m * k2 * 2, 0);
        self.scale.clear();
        self.zero.clear();
        for i in 0..m {
            let out = &mut self.data[i * k2 * 2..(i + 1) * k2 * 2];
            let (scale, zero) = quantize_row(&a[i * lda..i * lda + k], out);
            self.scale.push(scale);
            self.zero.push(zero);
        }
    }
}

dispatch! {
    /// Quantizes `row` into `out` (longer by the padding, which gets the zero point);
    /// returns the scale and zero point.
    fn quantize_row(row: &[f32], out: &mut [i16]) -> (f32, i32) {
        let (mut lo, mut hi) = (0f32, 0f32);
        for &x in row {
            lo = if x < lo { x } else { lo };
            hi = if x > hi { x } else { hi };
        }
        let scale = if hi > lo { (hi - lo) / QMAX } else { 1.0 };
        let zero = (-lo / scale + 0.5).floor().clamp(0.0, QMAX);
        let inv = 1.0 / scale;
        let (head, pad) = out.split_at_mut(row.len());
        for (q, &x) in head.iter_mut().zip(row) {
            // Round to nearest by adding 2²³ (the sum's low mantissa bits are the integer)
            // rather than `round() as i16`, whose saturating cast does not vectorize.
            let v = (x * inv + zero).clamp(0.0, QMAX);
            *q = (v + 8_388_608.0).to_bits() as i16;
        }
        pad.fill(zero as i16);
        (scale, zero as i32)
    }
}

/// `c[i][j] = bias[j] + sa[i]·sw[j]·(Σₖ qa[i][k]·qw[j][k] − za[i]·Σₖ qw[j][k])`, `c` with row
/// stride `ldc`; `bias` padded to whole panels.
pub fn gemm(a: &QuantRows, w: I8Panels<'_>, bias: &[f32], c: &mut [f32], ldc: usize) {
    let m = a.scale.len();
    let n = w.n;
    if m == 0 || n == 0 {
        return;
    }
    assert_eq!(a.k2, w.k2, "activations and weights of different depth");
    assert!(
        ldc >= n && c.len() >= (m - 1) * ldc + n,
        "C is shorter than m rows"
    );
    assert!(bias.len() >= w.scale.len(), "bias not padded");
    match path() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX-512 F/BW/VNNI are present (checked at run time); the asserts above
        // bound every row and panel the kernel touches.
        Path::Avx512Vnni => unsafe { x86::gemm_vnni(a, w, bias, c, ldc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 is present (checked at run time); as above for the bounds.
        Path::Avx2 => unsafe { x86::gemm(a, w, bias, c, ldc) },
        _ => portable::gemm(a, w, bias, c, ldc),
    }
}

/// The int8 kernels, best last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    Portable,
    /// 16-bit multiply-adds (`vpmaddwd`) and adds, 8 columns per register.
    Avx2,
    /// `vpdpwssd`: the multiply-add and the accumulation in one instruction, 16 columns per
    /// register.
    Avx512Vnni,
}

impl Path {
    pub fn name(self) -> &'static str {
        match self {
            Path::Portable => "portable",
            Path::Avx2 => "avx2",
            Path::Avx512Vnni => "avx512-vnni",
        }
    }

    /// The best kernel this CPU runs.
    pub fn available() -> Path {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vnni")
                && super::gemm::avx2()
            {
                return Path::Avx512Vnni;
            }
        }
        if super::gemm::avx2() {
            Path::Avx2
        } else {
            Path::Portable
        }
    }
}

/// The kernel [`gemm`] runs: the best available, or a lesser one named by
/// `PAPERSCOUT_KERNEL` (`portable`, `avx2`, `avx512-vnni`) to compare them.
pub fn path() -> Path {
    static PATH: std::sync::OnceLock<Path> = std::sync::OnceLock::new();
    *PATH.get_or_init(|| {
        let best = Path::available();
        let asked = std::env::var("PAPERSCOUT_KERNEL").ok().and_then(|v| {
            [Path::Portable, Path::Avx2, Path::Avx512Vnni]
                .into_iter()
                .find(|p| p.name() == v.trim())
        });
        asked.map_or(best, |a| a.min(best))
    })
}

#[inline(always)]
fn blocks(m: usize, w: I8Panels<'_>, mut kernel: impl FnMut(usize, usize, usize)) {
    for i0 in (0..m).step_by(MC) {
        let i1 = (i0 + MC).min(m);
        for p in 0..w.n.div_ceil(NR) {
            let mut i = i0;
            while i < i1 {
                let rows = MR.min(i1 - i);
                kernel(rows, i, p);
                i += rows;
            }
        }
    }
}

pub(crate) mod portable {
    use super::*;

    pub fn gemm(a: &QuantRows, w: I8Panels<'_>, bias: &[f32], c: &mut [f32], ldc: usize) {
        let k2 = w.k2;
        blocks(a.scale.len(), w, |rows, i, p| {
            let panel = &w.data[p * k2 * 2 * NR..(p + 1) * k2 * 2 * NR];
            let cols = NR.min(w.n - p * NR);
            for r in i..i + rows {
                let row = &a.data[r * k2 * 2..(r + 1) * k2 * 2];
                let mut acc = [0i32; NR];
                for g in 0..k2 {
                    let x = &row[g * 2..g * 2 + 2];
                    let group = &panel[g * NR * 2..(g + 1) * NR * 2];
                    for (j, acc) in acc.iter_mut().enumerate() {
                        *acc += x[0] as i32 * group[j * 2] as i32
                            + x[1] as i32 * group[j * 2 + 1] as i32;
                    }
                }
                for (j, &acc) in acc.iter().enumerate().take(cols) {
                    let col = p * NR + j;
                    let v = (acc - a.zero[r] * w.colsum[col]) as f32;
                    // One rounding for the last multiply-add, as the FMA in the SIMD kernel.
                    c[r * ldc + col] = (v * w.scale[col]).mul_add(a.scale[r], bias[col]);
                }
            }
        });
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::*;

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn gemm(a: &QuantRows, w: I8Panels<'_>, bias: &[f32], c: &mut [f32], ldc: usize) {
        // SAFETY: as the caller's: AVX2 is present.
        unsafe {
            drive(
                a,
                w,
                bias,
                c,
                ldc,
                |rows, k2, a, panel, c, ldc, cols, epi| match rows {
                    6 => kernel::<6>(k2, a, panel, c, ldc, cols, epi),
                    5 => kernel::<5>(k2, a, panel, c, ldc, cols, epi),
                    4 => kernel::<4>(k2, a, panel, c, ldc, cols, epi),
                    3 => kernel::<3>(k2, a, panel, c, ldc, cols, epi),
                    2 => kernel::<2>(k2, a, panel, c, ldc, cols, epi),
                    _ => kernel::<1>(k2, a, panel, c, ldc, cols, epi),
                },
            )
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    pub unsafe fn gemm_vnni(
        a: &QuantRows,
        w: I8Panels<'_>,
        bias: &[f32],
        c: &mut [f32],
        ldc: usize,
    ) {
        // SAFETY: as the caller's: AVX-512 F/BW/VNNI are present.
        unsafe {
            drive(
                a,
                w,
                bias,
                c,
                ldc,
                |rows, k2, a, panel, c, ldc, cols, epi| match rows {
                    6 => kernel_vnni::<6>(k2, a, panel, c, ldc, cols, epi),
                    5 => kernel_vnni::<5>(k2, a, panel, c, ldc, cols, epi),
                    4 => kernel_vnni::<4>(k2, a, panel, c, ldc, cols, epi),
                    3 => kernel_vnni::<3>(k2, a, panel, c, ldc, cols, epi),
                    2 => kernel_vnni::<2>(k2, a, panel, c, ldc, cols, epi),
                    _ => kernel_vnni::<1>(k2, a, panel, c, ldc, cols, epi),
                },
            )
        }
    }

    /// The blocking both kernels share: `kernel(rows, k2, a, panel, c, ldc, cols, epilogue)`
    /// per block of rows and panel.
    #[inline(always)]
    unsafe fn drive(
        a: &QuantRows,
        w: I8Panels<'_>,
        bias: &[f32],
        c: &mut [f32],
        ldc: usize,
        kernel: impl Fn(usize, usize, *const i16, *const i16, *mut f32, usize, usize, &Epilogue),
    ) {
        let k2 = w.k2;
        let (ap, wp, cp) = (a.data.as_ptr(), w.data.as_ptr(), c.as_mut_ptr());
        blocks(a.scale.len(), w, |rows, i, p| {
            let cols = NR.min(w.n - p * NR);
            let epi = Epilogue {
                scale: w.scale[p * NR..].as_ptr(),
                colsum: w.colsum[p * NR..].as_ptr(),
                bias: bias[p * NR..].as_ptr(),
                row_scale: a.scale[i..].as_ptr(),
                row_zero: a.zero[i..].as_ptr(),
            };
            // SAFETY: rows i..i+rows < m, panel p < panels(n), cols <= n - p*NR: inside the
            // slices `gemm` checked.
            unsafe {
                let a = ap.add(i * k2 * 2);
                let panel = wp.add(p * k2 * 2 * NR);
                let c = cp.add(i * ldc + p * NR);
                kernel(rows, k2, a, panel, c, ldc, cols, &epi);
            }
        });
    }

    struct Epilogue {
        scale: *const f32,
        colsum: *const i32,
        bias: *const f32,
        row_scale: *const f32,
        row_zero: *const i32,
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn kernel<const R: usize>(
        k2: usize,
        a: *const i16,
        w: *const i16,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        epi: &Epilogue,
    ) {
        unsafe {
            let mut acc = [[_mm256_setzero_si256(); 2]; R];
            let row = k2 * 2;
            for g in 0..k2 {
                let w0 = _mm256_loadu_si256(w.add(g * 32) as *const __m256i);
                let w1 = _mm256_loadu_si256(w.add(g * 32 + 16) as *const __m256i);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x =
                        _mm256_set1_epi32((a.add(r * row + g * 2) as *const i32).read_unaligned());
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, w0));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, w1));
                }
            }
            let sw = [
                _mm256_loadu_ps(epi.scale),
                _mm256_loadu_ps(epi.scale.add(8)),
            ];
            let cs = [
                _mm256_loadu_si256(epi.colsum as *const __m256i),
                _mm256_loadu_si256(epi.colsum.add(8) as *const __m256i),
            ];
            let bias = [_mm256_loadu_ps(epi.bias), _mm256_loadu_ps(epi.bias.add(8))];
            for (r, acc) in acc.iter().enumerate() {
                let za = _mm256_set1_epi32(*epi.row_zero.add(r));
                let sa = _mm256_set1_ps(*epi.row_scale.add(r));
                let mut out = [0f32; NR];
                for h in 0..2 {
                    let v =
                        _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[h], _mm256_mullo_epi32(za, cs[h])));
                    let v = _mm256_fmadd_ps(_mm256_mul_ps(v, sw[h]), sa, bias[h]);
                    _mm256_storeu_ps(out.as_mut_ptr().add(8 * h), v);
                }
                std::ptr::copy_nonoverlapping(out.as_ptr(), c.add(r * ldc), cols);
            }
        }
    }
    /// The AVX2 kernel's arithmetic in one instruction per row and depth pair: `vpdpwssd`
    /// multiplies the 16-bit pairs and adds them into the i32 accumulator, over all 16
    /// columns of a panel at once. Integer sums are exact either way, and the epilogue is the
    /// same float operations lane by lane, so the result is bit-identical.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2,fma")]
    #[inline]
    unsafe fn kernel_vnni<const R: usize>(
        k2: usize,
        a: *const i16,
        w: *const i16,
        c: *mut f32,
        ldc: usize,
        cols: usize,
        epi: &Epilogue,
    ) {
        unsafe {
            let mut acc = [_mm512_setzero_si512(); R];
            let row = k2 * 2;
            for g in 0..k2 {
                let wv = _mm512_loadu_si512(w.add(g * 32) as *const __m512i);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x =
                        _mm512_set1_epi32((a.add(r * row + g * 2) as *const i32).read_unaligned());
                    *acc = _mm512_dpwssd_epi32(*acc, x, wv);
                }
            }
            let sw = _mm512_loadu_ps(epi.scale);
            let cs = _mm512_loadu_si512(epi.colsum as *const __m512i);
            let bias = _mm512_loadu_ps(epi.bias);
            for (r, acc) in acc.iter().enumerate() {
                let za = _mm512_set1_epi32(*epi.row_zero.add(r));
                let sa = _mm512_set1_ps(*epi.row_scale.add(r));
                let v = _mm512_cvtepi32_ps(_mm512_sub_epi32(*acc, _mm512_mullo_epi32(za, cs)));
                let v = _mm512_fmadd_ps(_mm512_mul_ps(v, sw), sa, bias);
                let mut out = [0f32; NR];
                _mm512_storeu_ps(out.as_mut_ptr(), v);
                std::ptr::copy_nonoverlapping(out.as_ptr(), c.add(r * ldc), cols);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::gemm::tests::values;

    #[test]
    fn both_kernels_agree_exactly_and_dequantize_close_to_fp32() {
        #[cfg(target_arch = "x86_64")]
        let paths = simd_paths();
        for &(m, n, k) in &[
            (1, 1, 1),
            (5, 17, 7),
            (9, 48, 384),
            (130, 40, 1536),
            (3, 1152, 384),
        ] {
            let a = values(m * k, 11);
            let w = values(n * k, 12);
            let bias = values(n, 13);
            let packed = PackedI8::quantize(&w, n, k);
            let mut q = QuantRows::default();
            q.quantize(m, &a, k, k);
            let padded = crate::native::gemm::pad_bias(&bias);
            let mut fast = vec![f32::NAN; m * n];
            gemm(&q, packed.all(), &padded, &mut fast, n);
            let mut plain = vec![f32::NAN; m * n];
            portable::gemm(&q, packed.all(), &padded, &mut plain, n);
            assert_eq!(
                fast, plain,
                "{m}x{n}x{k}: the SIMD and plain kernels differ"
            );
            // Every SIMD kernel this CPU runs, each against the portable twin.
            #[cfg(target_arch = "x86_64")]
            for &path in &paths {
                let mut out = vec![f32::NAN; m * n];
                // SAFETY: `simd_paths` lists only kernels this CPU runs; the shapes are valid.
                unsafe {
                    match path {
                        Path::Avx512Vnni => x86::gemm_vnni(&q, packed.all(), &padded, &mut out, n),
                        _ => x86::gemm(&q, packed.all(), &padded, &mut out, n),
                    }
                }
                assert_eq!(
                    out,
                    plain,
                    "{m}x{n}x{k}: {} differs from portable",
                    path.name()
                );
            }
            // Against fp32: each product carries at most half a step of error on each side.
            for i in 0..m {
                for j in 0..n {
                    let exact: f32 =
                        bias[j] + (0..k).map(|kk| a[i * k + kk] * w[j * k + kk]).sum::<f32>();
                    let got = fast[i * n + j];
                    let bound = 0.02 * (k as f32).sqrt() + 1e-3;
                    assert!(
                        (got - exact).abs() < bound,
                        "{m}x{n}x{k} [{i}][{j}]: {got} vs {exact}"
                    );
                }
            }
        }
    }

    /// The SIMD kernels this CPU runs, named on the test's output (`--nocapture`), with the
    /// ones it lacks said to be untested here.
    #[cfg(target_arch = "x86_64")]
    fn simd_paths() -> Vec<Path> {
        let best = Path::available();
        let ran: Vec<Path> = [Path::Avx2, Path::Avx512Vnni]
            .into_iter()
            .filter(|p| *p <= best)
            .collect();
        let missing: Vec<&str> = [Path::Avx2, Path::Avx512Vnni]
            .into_iter()
            .filter(|p| *p > best)
            .map(Path::name)
            .collect();
        eprintln!(
            "int8 kernels tested against portable: {}; not on this CPU, so not tested here: {}",
            ran.iter().map(|p| p.name()).collect::<Vec<_>>().join(", "),
            if missing.is_empty() {
                "none".to_string()
            } else {
                missing.join(", ")
            }
        );
        ran
    }

    #[test]
    fn weights_round_to_the_nearest_step_of_their_row() {
        let w = [0.5, -1.0, 0.25, 0.0, 2.0, -2.0, 1.0, 0.0];
        let p = PackedI8::quantize(&w, 2, 4);
        assert_eq!(p.weight(0, 1), -1.0);
        assert!((p.weight(0, 0) - 0.5).abs() <= 1.0 / 254.0);
        assert_eq!(p.weight(1, 0), 2.0);
        assert_eq!(p.weight(1, 3), 0.0);
        // An all-zero row does not divide by zero.
        let z = PackedI8::quantize(&[0.0; 4], 1, 4);
        assert_eq!(z.weight(0, 2), 0.0);
    }

    #[test]
    fn activations_keep_zero_exact_and_stay_in_range() {
        let mut q = QuantRows::default();
        q.quantize(2, &[-1.0, 0.0, 3.0, 0.5, 0.0, 0.0, 0.0, 0.0], 4, 4);
        assert!(q.data[..4].iter().all(|&x| (0..=QMAX as i16).contains(&x)));
        assert_eq!(q.data[0], 0, "the row minimum is the lowest level");
        assert_eq!(q.data[2], QMAX as i16, "the row maximum is the highest");
        let (s, z) = (q.scale[0], q.zero[0]);
        assert_eq!(q.data[1] as i32, z, "0.0 maps to the zero point");
        assert!(((q.data[2] as i32 - z) as f32 * s - 3.0).abs() <= s / 2.0);
        assert_eq!(q.scale[1], 1.0, "an all-zero row");
    }
}
