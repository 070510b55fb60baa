use std::collections::HashMap;

use crate::Key;

/// How the lexical and semantic rankings are combined in hybrid search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion (Cormack et al., 2009): `Σ 1 / (k + rank)`; uses ranks only.
    Rrf { k: f32 },
    /// Convex combination of normalised scores, `α·semantic + (1-α)·lexical`, over the union of
    /// both lists (Bruch et al., 2023, "An Analysis of Fusion Functions for Hybrid Retrieval":
    /// once α is tuned this beats RRF). A paper missing from the lexical list scores BM25 0
    /// there (what BM25 gives a paper matching no query word; a lower bound otherwise); one
    /// missing from the semantic list, that list's lowest similarity (the engine fills in the
    /// exact similarity of every lexical candidate, so this is only a fallback).
    Convex { alpha: f32, norm: Norm },
}

/// How each side's scores are put on one scale before they are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    /// `(s - min) / (max - min)` over the side's list (with the engine's fill-ins: over the
    /// candidates).
    MinMax,
    /// `(s - mean) / std` over the candidates (both lists' papers).
    ZScore,
    /// Distribution-based (as Qdrant's DBSF): `(s - (mean - 3 std)) / 6 std`, clipped to [0, 1],
    /// the statistics over the side's own list.
    Dbsf,
}

impl Norm {
    fn name(self) -> &'static str {
        match self {
            Norm::MinMax => "convex",
            Norm::ZScore => "zscore",
            Norm::Dbsf => "dbsf",
        }
    }
}

impl Fusion {
    /// The default, chosen on SciFact train judgements and checked on NFCorpus dev (see
    /// BENCHMARKS.md).
    pub const DEFAULT: Fusion = Fusion::Convex {
        alpha: 0.5,
        norm: Norm::MinMax,
    };

    /// Whether this fusion uses scores (and so wants the semantic side's score for every
    /// lexical candidate, see [`Fusion::Convex`]).
    pub fn uses_scores(self) -> bool {
        matches!(self, Fusion::Convex { .. })
    }
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::DEFAULT
    }
}

impl std::str::FromStr for Fusion {
    type Err = String;

    /// `rrf`, `rrf:60`, `convex:0.6` (min-max), `zscore:0.7`, `dbsf:0.7`; the number after a
    /// score normalisation is the semantic side's weight.
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let num = |default: f32| -> Result<f32, String> {
            arg.map(|a| {
                a.trim()
                    .parse::<f32>()
                    .map_err(|e| format!("fusion parameter `{a}`: {e}"))
            })
            .unwrap_or(Ok(default))
        };
        let convex = |norm: Norm, default: f32| -> Result<Fusion, String> {
            let alpha = num(default)?;
            if !(0.0..=1.0).contains(&alpha) {
                return Err(format!(
                    "fusion weight {alpha} must be between 0 and 1 (the semantic side's share)"
                ));
            }
            Ok(Fusion::Convex { alpha, norm })
        };
        match name.trim() {
            "rrf" => {
                let k = num(60.0)?;
                if !(k.is_finite() && k >= 0.0) {
                    return Err(format!("rrf constant {k} must be a number ≥ 0"));
                }
                Ok(Fusion::Rrf { k })
            }
            "convex" | "minmax" => convex(Norm::MinMax, 0.5),
            "zscore" => convex(Norm::ZScore, 0.55),
            "dbsf" => convex(Norm::Dbsf, 0.7),
            other => Err(format!(
                "unknown fusion `{other}`: expected zscore[:ALPHA], convex[:ALPHA] (min-max), \
                 dbsf[:ALPHA] or rrf[:K]"
            )),
        }
    }
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k } => write!(f, "rrf:{k}"),
            Fusion::Convex { alpha, norm } => write!(f, "{}:{alpha}", norm.name()),
        }
    }
}

fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f32, f32) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().map(f64::from).sum::<f64>() / n;
    let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// Normalises `raw` (one side's score per candidate) in place as `norm` says; `listed` are
/// the side's own scores (its list, without fill-ins).
fn normalise(raw: &mut [f32], listed: &[(Key, f32)], norm: Norm) {
    let scale = |lo: f32, span: f32, clip: bool| {
        move |s: f32| {
            if span > f32::EPSILON {
                let v = (s - lo) / span;
                if clip {
                    v.clamp(0.0, 1.0)
                } else {
                    v
                }
            } else {
                1.0
            }
        }
    };
    match norm {
        Norm::MinMax => {
            let (lo, hi) = listed
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &(_, s)| {
                    (lo.min(s), hi.max(s))
                });
            let f = scale(lo, hi - lo, true);
            raw.iter_mut().for_each(|s| *s = f(*s));
        }
        Norm::Dbsf => {
            let (mean, std) = mean_std(listed.iter().map(|l| l.1));
            let f = scale(mean - 3.0 * std, 6.0 * std, true);
            raw.iter_mut().for_each(|s| *s = f(*s));
        }
        Norm::ZScore => {
            let (mean, std) = mean_std(raw.iter().copied());
            raw.iter_mut().for_each(|s| {
                *s = if std > f32::EPSILON {
                    (*s - mean) / std
                } else {
                    0.0
                }
            });
        }
    }
}

/// Fuses two rankings (each best first) into one of at most `limit` keys, best first.
pub fn fuse(
    lexical: &[(Key, f32)],
    semantic: &[(Key, f32)],
    fusion: Fusion,
    limit: usize,
) -> Vec<(Key, f32)> {
    // A score that is not a number (a caller's bug) would poison every normalised score.
    let finite = |list: &[(Key, f32)]| -> Vec<(Key, f32)> {
        list.iter().copied().filter(|s| s.1.is_finite()).collect()
    };
    let (lexical, semantic) = (&finite(lexical)[..], &finite(semantic)[..]);
    let mut out: Vec<(Key, f32)> = match fusion {
        Fusion::Rrf { k } => {
            let mut scores: HashMap<Key, f32> =
                HashMap::with_capacity(lexical.len() + semantic.len());
            for list in [lexical, semantic] {
                for (rank, &(key, _)) in list.iter().enumerate() {
                    *scores.entry(key).or_default() += 1.0 / (k + rank as f32 + 1.0);
                }
            }
            scores.into_iter().collect()
        }
        Fusion::Convex { alpha, norm } => {
            // The candidates, in first-seen order, with each side's raw score.
            let mut slot: HashMap<Key, usize> =
                HashMap::with_capacity(lexical.len() + semantic.len());
            let mut keys = Vec::with_capacity(lexical.len() + semantic.len());
            for &(key, _) in lexical.iter().chain(semantic) {
                slot.entry(key).or_insert_with(|| {
                    keys.push(key);
                    keys.len() - 1
                });
            }
            let sem_floor = semantic.iter().map(|s| s.1).fold(f32::INFINITY, f32::min);
            let mut lex = vec![0.0; keys.len()];
            let mut sem = vec![
                if sem_floor.is_finite() {
                    sem_floor
                } else {
                    0.0
                };
                keys.len()
            ];
            for &(key, s) in lexical {
                lex[slot[&key]] = s;
            }
            for &(key, s) in semantic {
                sem[slot[&key]] = s;
            }
            normalise(&mut lex, lexical, norm);
            normalise(&mut sem, semantic, norm);
            // A side with no list adds nothing (not even its fill-ins).
            let (wl, ws) = (
                if lexical.is_empty() { 0.0 } else { 1.0 - alpha },
                if semantic.is_empty() { 0.0 } else { alpha },
            );
            keys.iter()
                .enumerate()
                .map(|(i, &k)| (k, wl * lex[i] + ws * sem[i]))
                .collect()
        }
    };
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        let lex = [(1, 9.0), (2, 5.0), (3, 1.0)];
        let sem = [(4, 0.9), (2, 0.8), (3, 0.7)];
        let fused = fuse(&lex, &sem, Fusion::Rrf { k: 60.0 }, 10);
        // 2 is second in both, which beats first in one list and absent from the other.
        assert_eq!(fused[0].0, 2);
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-6);
        assert_eq!(fused.len(), 4);
        assert_eq!(fuse(&lex, &sem, Fusion::Rrf { k: 60.0 }, 2).len(), 2);
    }

    fn minmax(alpha: f32) -> Fusion {
        Fusion::Convex {
            alpha,
            norm: Norm::MinMax,
        }
    }

    #[test]
    fn convex_interpolates_normalised_scores() {
        let lex = [(1, 10.0), (2, 0.0)];
        let sem = [(2, 0.9), (3, 0.5)];
        let only_lex = fuse(&lex, &sem, minmax(0.0), 10);
        assert_eq!(only_lex[0], (1, 1.0));
        let only_sem = fuse(&lex, &sem, minmax(1.0), 10);
        assert_eq!(only_sem[0], (2, 1.0));
        let half = fuse(&lex, &sem, minmax(0.5), 10);
        assert_eq!(half.iter().find(|h| h.0 == 1).unwrap().1, 0.5);
        assert_eq!(half.iter().find(|h| h.0 == 2).unwrap().1, 0.5);
        assert_eq!(half.iter().find(|h| h.0 == 3).unwrap().1, 0.0);
    }

    #[test]
    fn zscore_and_dbsf_put_both_sides_on_one_scale() {
        // BM25 in the tens, cosine below one: unnormalised, BM25 would decide alone.
        let lex = [(1, 30.0), (2, 10.0), (3, 5.0)];
        let sem = [(3, 0.9), (2, 0.6), (4, 0.3)];
        for norm in [Norm::ZScore, Norm::Dbsf, Norm::MinMax] {
            let f = |alpha| Fusion::Convex { alpha, norm };
            assert_eq!(fuse(&lex, &sem, f(0.0), 1)[0].0, 1, "{norm:?}");
            assert_eq!(fuse(&lex, &sem, f(1.0), 1)[0].0, 3, "{norm:?}");
            let all = fuse(&lex, &sem, f(0.5), 10);
            assert_eq!(all.len(), 4);
            assert!(all.iter().all(|h| h.1.is_finite()), "{norm:?}: {all:?}");
        }
        // z-scores over the candidates: paper 4 has no BM25 (0), the others' mean is 11.25.
        let z = fuse(
            &lex,
            &sem,
            Fusion::Convex {
                alpha: 0.0,
                norm: Norm::ZScore,
            },
            10,
        );
        let four = z.iter().find(|h| h.0 == 4).unwrap().1;
        assert!(four < 0.0 && z[0].1 > 1.0, "{z:?}");
        // One side empty, or all its scores equal: no NaN, the other side decides.
        let one = fuse(&[], &sem, Fusion::DEFAULT, 10);
        assert_eq!(one.iter().map(|h| h.0).collect::<Vec<_>>(), [3, 2, 4]);
        // A score that is not a number is left out, never spread to the others.
        let odd = fuse(
            &[(1, f32::NAN), (2, 1.0)],
            &[(1, f32::NEG_INFINITY), (2, 0.5), (3, 0.2)],
            Fusion::DEFAULT,
            10,
        );
        assert!(odd.iter().all(|h| h.1.is_finite()), "{odd:?}");
        let flat = fuse(
            &[(1, 2.0), (2, 2.0)],
            &[(2, 0.5), (1, 0.4)],
            Fusion::DEFAULT,
            10,
        );
        assert_eq!(flat[0].0, 2, "{flat:?}");
    }

    #[test]
    fn fusion_handles_empty_lists_and_parses() {
        assert!(fuse(&[], &[], Fusion::DEFAULT, 5).is_empty());
        assert_eq!(fuse(&[(7, 3.0)], &[], Fusion::DEFAULT, 5).len(), 1);
        assert_eq!("rrf:10".parse::<Fusion>().unwrap(), Fusion::Rrf { k: 10.0 });
        assert_eq!("convex".parse::<Fusion>().unwrap(), Fusion::DEFAULT);
        assert_eq!(
            "zscore:0.25".parse::<Fusion>().unwrap(),
            Fusion::Convex {
                alpha: 0.25,
                norm: Norm::ZScore
            }
        );
        for bad in [
            "convex:2",
            "zscore:-0.1",
            "dbsf:nan",
            "rrf:-1",
            "max",
            "zscore:x",
        ] {
            assert!(bad.parse::<Fusion>().is_err(), "{bad}");
        }
        for f in [
            Fusion::DEFAULT,
            minmax(0.5),
            "dbsf:0.4".parse().unwrap(),
            "rrf:10".parse().unwrap(),
        ] {
            assert_eq!(f.to_string().parse::<Fusion>().unwrap(), f);
        }
    }
}
