use std::collections::HashMap;

use crate::Key;

/// How the lexical and semantic rankings are combined in hybrid search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fusion {
    /// Reciprocal rank fusion (Cormack et al., 2009): `Σ 1 / (k + rank)`; uses ranks only.
    Rrf { k: f32 },
    /// Convex combination of min-max normalised scores: `α·semantic + (1-α)·lexical`, where a
    /// paper missing from one list gets 0 for it (Bruch et al., 2023, "An Analysis of Fusion
    /// Functions for Hybrid Retrieval", found this beats RRF once α is tuned).
    Convex { alpha: f32 },
}

impl Fusion {
    /// The default, chosen on SciFact train judgements (see BENCHMARKS.md).
    pub const DEFAULT: Fusion = Fusion::Convex { alpha: 0.6 };
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion::DEFAULT
    }
}

impl std::str::FromStr for Fusion {
    type Err = String;

    /// `rrf`, `rrf:60`, `convex`, `convex:0.6`.
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
        match name.trim() {
            "rrf" => Ok(Fusion::Rrf { k: num(60.0)? }),
            "convex" => {
                let alpha = num(0.6)?;
                if !(0.0..=1.0).contains(&alpha) {
                    return Err(format!(
                        "convex fusion weight {alpha} must be between 0 and 1"
                    ));
                }
                Ok(Fusion::Convex { alpha })
            }
            other => Err(format!(
                "unknown fusion `{other}`: expected rrf[:K] or convex[:ALPHA]"
            )),
        }
    }
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k } => write!(f, "rrf:{k}"),
            Fusion::Convex { alpha } => write!(f, "convex:{alpha}"),
        }
    }
}

fn min_max(list: &[(Key, f32)]) -> impl Fn(f32) -> f32 {
    let (lo, hi) = list
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &(_, s)| {
            (lo.min(s), hi.max(s))
        });
    let span = hi - lo;
    move |s| {
        if span > f32::EPSILON {
            (s - lo) / span
        } else {
            1.0
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
    let mut scores: HashMap<Key, f32> = HashMap::with_capacity(lexical.len() + semantic.len());
    match fusion {
        Fusion::Rrf { k } => {
            for list in [lexical, semantic] {
                for (rank, &(key, _)) in list.iter().enumerate() {
                    *scores.entry(key).or_default() += 1.0 / (k + rank as f32 + 1.0);
                }
            }
        }
        Fusion::Convex { alpha } => {
            let (nl, ns) = (min_max(lexical), min_max(semantic));
            for &(key, s) in lexical {
                *scores.entry(key).or_default() += (1.0 - alpha) * nl(s);
            }
            for &(key, s) in semantic {
                *scores.entry(key).or_default() += alpha * ns(s);
            }
        }
    }
    let mut out: Vec<(Key, f32)> = scores.into_iter().collect();
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

    #[test]
    fn convex_interpolates_normalised_scores() {
        let lex = [(1, 10.0), (2, 0.0)];
        let sem = [(2, 0.9), (3, 0.5)];
        let only_lex = fuse(&lex, &sem, Fusion::Convex { alpha: 0.0 }, 10);
        assert_eq!(only_lex[0], (1, 1.0));
        let only_sem = fuse(&lex, &sem, Fusion::Convex { alpha: 1.0 }, 10);
        assert_eq!(only_sem[0], (2, 1.0));
        let half = fuse(&lex, &sem, Fusion::Convex { alpha: 0.5 }, 10);
        assert_eq!(half.iter().find(|h| h.0 == 1).unwrap().1, 0.5);
        assert_eq!(half.iter().find(|h| h.0 == 2).unwrap().1, 0.5);
        assert_eq!(half.iter().find(|h| h.0 == 3).unwrap().1, 0.0);
    }

    #[test]
    fn fusion_handles_empty_lists_and_parses() {
        assert!(fuse(&[], &[], Fusion::DEFAULT, 5).is_empty());
        assert_eq!(fuse(&[(7, 3.0)], &[], Fusion::DEFAULT, 5).len(), 1);
        assert_eq!("rrf:10".parse::<Fusion>().unwrap(), Fusion::Rrf { k: 10.0 });
        assert_eq!(
            "convex".parse::<Fusion>().unwrap(),
            Fusion::Convex { alpha: 0.6 }
        );
        assert!("convex:2".parse::<Fusion>().is_err());
        assert!("max".parse::<Fusion>().is_err());
        let d = Fusion::DEFAULT;
        assert_eq!(d.to_string().parse::<Fusion>().unwrap(), d);
    }
}
