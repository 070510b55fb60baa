//! Inline TeX math (`$…$`) as readable Unicode, for display: `$^{11}$Be` → `¹¹Be`,
//! `$\alpha$-divergence` → `α-divergence`, `$O(n^{2})$` → `O(n²)`, `$\mathbb{R}^n$` → `ℝⁿ`.
//!
//! Titles and abstracts are stored as their sources wrote them (search and the encoder see
//! that text); pages and feeds show this rendering. Written here rather than shipped
//! as a JavaScript renderer (KaTeX/MathJax from a CDN would break the site's CSP and its
//! working without scripts): arXiv abstracts use a small subset — Greek, sub/superscripts,
//! a few operators, fonts and accents — and what is not in it stays as written.

/// `text` with each `$…$` (or `$$…$$`) span rendered; an unpaired `$` or an escaped `\$` is
/// left as it is, and text without math is returned unchanged.
pub fn math_to_unicode(text: &str) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let Some(open) = find_dollar(rest, 0) else {
            out.push_str(rest);
            return out;
        };
        let double = rest[open + 1..].starts_with('$');
        let body_start = open + if double { 2 } else { 1 };
        let close = if double {
            rest[body_start..].find("$$").map(|i| body_start + i)
        } else {
            find_closing(rest, body_start)
        };
        match close {
            // Pandoc's rule for inline math: no space just inside the dollars, and no digit
            // right after the closing one ("costs $5 and $10" is money, not math).
            Some(close)
                if close > body_start
                    && close - body_start <= MAX_SPAN
                    && (double || opens_math(&rest[body_start..close])) =>
            {
                out.push_str(&rest[..open]);
                out.push_str(&render(&rest[body_start..close], 0));
                rest = &rest[close + if double { 2 } else { 1 }..];
            }
            _ => {
                // Unpaired, empty, too long, or not math: the text stays as written.
                out.push_str(&rest[..body_start]);
                rest = &rest[body_start..];
            }
        }
    }
}

/// Longest math span rendered (bytes); longer ones stay as written.
const MAX_SPAN: usize = 500;
/// Deepest `{…}` nesting rendered; deeper groups stay as written.
const MAX_DEPTH: usize = 16;

/// The byte offset of the next `$` at or after `from` that is not escaped.
fn find_dollar(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    (from..b.len()).find(|&i| b[i] == b'$' && (i == 0 || b[i - 1] != b'\\'))
}

/// The closing `$` of an inline span starting at `from`: not escaped, not followed by a digit.
fn find_closing(s: &str, from: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut at = from;
    while let Some(i) = find_dollar(s, at) {
        if !b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

fn opens_math(body: &str) -> bool {
    !body.starts_with(char::is_whitespace) && !body.ends_with(char::is_whitespace)
}

/// One math span's body, `depth` groups deep.
fn render(math: &str, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return math.to_string();
    }
    let chars: Vec<char> = math.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        i = atom(&chars, i, depth, &mut out);
    }
    out
}

/// Renders the atom at `i` (a command, a group, a script, a character) into `out`; returns
/// where the next one starts.
fn atom(c: &[char], i: usize, depth: usize, out: &mut String) -> usize {
    match c[i] {
        '\\' => command(c, i + 1, depth, out),
        '{' => {
            let (inner, next) = group(c, i);
            out.push_str(&render(&inner, depth + 1));
            next
        }
        '}' => i + 1,
        '~' => {
            out.push(' ');
            i + 1
        }
        '^' | '_' => {
            let sup = c[i] == '^';
            let (arg, next) = argument(c, i + 1);
            let rendered = render(&arg, depth + 1);
            match scripted(&rendered, sup) {
                Some(s) => out.push_str(&s),
                None if rendered.chars().count() == 1 => {
                    out.push(if sup { '^' } else { '_' });
                    out.push_str(&rendered);
                }
                None => {
                    out.push(if sup { '^' } else { '_' });
                    out.push('(');
                    out.push_str(&rendered);
                    out.push(')');
                }
            }
            next
        }
        ch => {
            out.push(ch);
            i + 1
        }
    }
}

/// The `{…}` group starting at `i` (its inside, nested groups kept) and the index after it;
/// an unclosed group runs to the end.
fn group(c: &[char], i: usize) -> (String, usize) {
    let mut depth = 0usize;
    let mut j = i;
    while j < c.len() {
        match c[j] {
            '\\' => j += 1,
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return (c[i + 1..j].iter().collect(), j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    (c[(i + 1).min(c.len())..].iter().collect(), c.len())
}

/// A command's or a script's argument at `i`: a group, a command (`\alpha`), or one
/// character; spaces before it skipped.
fn argument(c: &[char], mut i: usize) -> (String, usize) {
    while i < c.len() && c[i] == ' ' {
        i += 1;
    }
    match c.get(i) {
        None => (String::new(), i),
        Some('{') => group(c, i),
        Some('\\') => {
            let end = command_end(c, i + 1);
            (c[i..end].iter().collect(), end)
        }
        Some(ch) => (ch.to_string(), i + 1),
    }
}

/// Where the name of a command starting at `i` (after its backslash) ends.
fn command_end(c: &[char], i: usize) -> usize {
    let mut j = i;
    while j < c.len() && c[j].is_ascii_alphabetic() {
        j += 1;
    }
    if j == i && j < c.len() {
        j + 1 // a one-symbol command: \, \; \{ \$
    } else {
        j
    }
}

fn command(c: &[char], i: usize, depth: usize, out: &mut String) -> usize {
    let end = command_end(c, i);
    let name: String = c[i..end].iter().collect();
    match name.as_str() {
        "," | ";" | ":" | " " | "quad" | "qquad" => out.push(' '),
        "!" | "left" | "right" | "big" | "Big" | "bigl" | "bigr" | "displaystyle" | "limits" => {}
        "{" | "}" | "$" | "%" | "&" | "#" | "_" | "|" => out.push_str(&name),
        "mathbb" | "mathbf" | "mathrm" | "mathit" | "mathsf" | "mathtt" | "mathcal" | "mathscr"
        | "mathfrak" | "text" | "textrm" | "textit" | "textbf" | "mbox" | "operatorname"
        | "boldsymbol" | "bm" | "emph" => {
            let (arg, next) = argument(c, end);
            let inner = render(&arg, depth + 1);
            if name == "mathbb" {
                out.extend(inner.chars().map(double_struck));
            } else {
                out.push_str(&inner);
            }
            return next;
        }
        "sqrt" => {
            let (arg, next) = argument(c, end);
            let inner = render(&arg, depth + 1);
            out.push('√');
            if inner.chars().count() == 1 {
                out.push_str(&inner);
            } else {
                out.push('(');
                out.push_str(&inner);
                out.push(')');
            }
            return next;
        }
        "frac" | "tfrac" | "dfrac" => {
            let (num, next) = argument(c, end);
            let (den, next) = argument(c, next);
            let (num, den) = (render(&num, depth + 1), render(&den, depth + 1));
            let wrap = |s: &str| {
                if s.chars().count() == 1 {
                    s.to_string()
                } else {
                    format!("({s})")
                }
            };
            out.push_str(&wrap(&num));
            out.push('/');
            out.push_str(&wrap(&den));
            return next;
        }
        "bar" | "overline" | "hat" | "widehat" | "tilde" | "widetilde" | "vec" | "dot" | "ddot" => {
            let (arg, next) = argument(c, end);
            let mark = match name.as_str() {
                "bar" | "overline" => '\u{304}',
                "hat" | "widehat" => '\u{302}',
                "tilde" | "widetilde" => '\u{303}',
                "vec" => '\u{20d7}',
                "dot" => '\u{307}',
                _ => '\u{308}',
            };
            for ch in render(&arg, depth + 1).chars() {
                out.push(ch);
                out.push(mark);
            }
            return next;
        }
        _ => match symbol(&name) {
            Some(s) => {
                out.push_str(s);
                // TeX drops the space that ends a command's name: `\Delta R` is ΔR.
                if s.chars().count() == 1 && s.chars().all(char::is_alphabetic) {
                    let mut j = end;
                    while j < c.len() && c[j] == ' ' {
                        j += 1;
                    }
                    return j;
                }
            }
            // A macro of the paper's own (`\cla`): as written.
            None => {
                out.push('\\');
                out.push_str(&name);
            }
        },
    }
    end
}

fn double_struck(ch: char) -> char {
    match ch {
        'C' => 'ℂ',
        'H' => 'ℍ',
        'N' => 'ℕ',
        'P' => 'ℙ',
        'Q' => 'ℚ',
        'R' => 'ℝ',
        'Z' => 'ℤ',
        'E' => '𝔼',
        '1' => '𝟙',
        other => other,
    }
}

fn symbol(name: &str) -> Option<&'static str> {
    Some(match name {
        "alpha" => "α",
        "beta" => "β",
        "gamma" => "γ",
        "delta" => "δ",
        "epsilon" => "ϵ",
        "varepsilon" => "ε",
        "zeta" => "ζ",
        "eta" => "η",
        "theta" => "θ",
        "vartheta" => "ϑ",
        "iota" => "ι",
        "kappa" => "κ",
        "lambda" => "λ",
        "mu" => "μ",
        "nu" => "ν",
        "xi" => "ξ",
        "pi" => "π",
        "varpi" => "ϖ",
        "rho" => "ρ",
        "varrho" => "ϱ",
        "sigma" => "σ",
        "varsigma" => "ς",
        "tau" => "τ",
        "upsilon" => "υ",
        "phi" => "ϕ",
        "varphi" => "φ",
        "chi" => "χ",
        "psi" => "ψ",
        "omega" => "ω",
        "Gamma" => "Γ",
        "Delta" => "Δ",
        "Theta" => "Θ",
        "Lambda" => "Λ",
        "Xi" => "Ξ",
        "Pi" => "Π",
        "Sigma" => "Σ",
        "Upsilon" => "Υ",
        "Phi" => "Φ",
        "Psi" => "Ψ",
        "Omega" => "Ω",
        "ell" => "ℓ",
        "hbar" => "ℏ",
        "infty" => "∞",
        "partial" => "∂",
        "nabla" => "∇",
        "sum" => "∑",
        "prod" => "∏",
        "int" => "∫",
        "oint" => "∮",
        "times" => "×",
        "cdot" => "·",
        "cdots" | "ldots" | "dots" => "…",
        "pm" => "±",
        "mp" => "∓",
        "div" => "÷",
        "circ" => "∘",
        "ast" => "∗",
        "star" => "⋆",
        "le" | "leq" => "≤",
        "ge" | "geq" => "≥",
        "ll" => "≪",
        "gg" => "≫",
        "ne" | "neq" => "≠",
        "approx" => "≈",
        "sim" => "∼",
        "simeq" => "≃",
        "cong" => "≅",
        "equiv" => "≡",
        "propto" => "∝",
        "in" => "∈",
        "notin" => "∉",
        "subset" => "⊂",
        "subseteq" => "⊆",
        "supset" => "⊃",
        "cup" => "∪",
        "cap" => "∩",
        "emptyset" | "varnothing" => "∅",
        "forall" => "∀",
        "exists" => "∃",
        "neg" | "lnot" => "¬",
        "wedge" | "land" => "∧",
        "vee" | "lor" => "∨",
        "oplus" => "⊕",
        "otimes" => "⊗",
        "to" | "rightarrow" => "→",
        "leftarrow" | "gets" => "←",
        "leftrightarrow" => "↔",
        "Rightarrow" | "implies" => "⇒",
        "Leftarrow" => "⇐",
        "Leftrightarrow" | "iff" => "⇔",
        "mapsto" => "↦",
        "uparrow" => "↑",
        "downarrow" => "↓",
        "prime" => "′",
        "degree" => "°",
        "langle" => "⟨",
        "rangle" => "⟩",
        "lfloor" => "⌊",
        "rfloor" => "⌋",
        "lceil" => "⌈",
        "rceil" => "⌉",
        "mid" => "∣",
        "parallel" => "∥",
        "perp" => "⊥",
        "angle" => "∠",
        "log" => "log",
        "ln" => "ln",
        "exp" => "exp",
        "sin" => "sin",
        "cos" => "cos",
        "tan" => "tan",
        "max" => "max",
        "min" => "min",
        "arg" => "arg",
        "lim" => "lim",
        "det" => "det",
        "dim" => "dim",
        "sup" => "sup",
        "inf" => "inf",
        "Pr" => "Pr",
        _ => return None,
    })
}

/// `s` in superscript (`sup`) or subscript characters, when every character has one.
fn scripted(s: &str, sup: bool) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    s.chars()
        .map(|ch| if sup { superscript(ch) } else { subscript(ch) })
        .collect()
}

fn superscript(ch: char) -> Option<char> {
    Some(match ch {
        '0' => '⁰',
        '1' => '¹',
        '2' => '²',
        '3' => '³',
        '4' => '⁴',
        '5' => '⁵',
        '6' => '⁶',
        '7' => '⁷',
        '8' => '⁸',
        '9' => '⁹',
        '+' => '⁺',
        '-' | '−' => '⁻',
        '=' => '⁼',
        '(' => '⁽',
        ')' => '⁾',
        'n' => 'ⁿ',
        'i' => 'ⁱ',
        'a' => 'ᵃ',
        'b' => 'ᵇ',
        'c' => 'ᶜ',
        'd' => 'ᵈ',
        'e' => 'ᵉ',
        'f' => 'ᶠ',
        'g' => 'ᵍ',
        'h' => 'ʰ',
        'j' => 'ʲ',
        'k' => 'ᵏ',
        'l' => 'ˡ',
        'm' => 'ᵐ',
        'o' => 'ᵒ',
        'p' => 'ᵖ',
        'r' => 'ʳ',
        's' => 'ˢ',
        't' => 'ᵗ',
        'u' => 'ᵘ',
        'v' => 'ᵛ',
        'w' => 'ʷ',
        'x' => 'ˣ',
        'y' => 'ʸ',
        'z' => 'ᶻ',
        'T' => 'ᵀ',
        '*' | '∗' => '*',
        '′' => '′',
        '∘' => '°',
        _ => return None,
    })
}

fn subscript(ch: char) -> Option<char> {
    Some(match ch {
        '0' => '₀',
        '1' => '₁',
        '2' => '₂',
        '3' => '₃',
        '4' => '₄',
        '5' => '₅',
        '6' => '₆',
        '7' => '₇',
        '8' => '₈',
        '9' => '₉',
        '+' => '₊',
        '-' | '−' => '₋',
        '=' => '₌',
        '(' => '₍',
        ')' => '₎',
        'a' => 'ₐ',
        'e' => 'ₑ',
        'h' => 'ₕ',
        'i' => 'ᵢ',
        'j' => 'ⱼ',
        'k' => 'ₖ',
        'l' => 'ₗ',
        'm' => 'ₘ',
        'n' => 'ₙ',
        'o' => 'ₒ',
        'p' => 'ₚ',
        'r' => 'ᵣ',
        's' => 'ₛ',
        't' => 'ₜ',
        'u' => 'ᵤ',
        'v' => 'ᵥ',
        'x' => 'ₓ',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::math_to_unicode as m;

    #[test]
    fn the_common_subset_reads_as_unicode() {
        assert_eq!(m(r"$^{11}$Be halo nuclei"), "¹¹Be halo nuclei");
        assert_eq!(
            m(r"The $\alpha$-divergence of $O(n^{2})$"),
            "The α-divergence of O(n²)"
        );
        assert_eq!(m(r"CO$_2$ and H$_{2}$O"), "CO₂ and H₂O");
        assert_eq!(
            m(r"$\mathbb{R}^n$ and $\mathcal{O}(\log n)$"),
            "ℝⁿ and O(log n)"
        );
        assert_eq!(
            m(r"$x \leq 10^{-3}$, $\Delta R \sim 0.4$"),
            "x ≤ 10⁻³, ΔR ∼ 0.4"
        );
        assert_eq!(m(r"$\frac{1}{2}$ and $\frac{a+b}{c}$"), "1/2 and (a+b)/c");
        assert_eq!(m(r"$\sqrt{5}$, $\sqrt{n+1}$"), "√5, √(n+1)");
        assert_eq!(m(r"$\bar\nu_e$"), "ν̄ₑ");
        assert_eq!(m(r"$Z^\prime$ and $(k,\ell)$"), "Z′ and (k,ℓ)");
        // No superscript form for every character: marked, not lost.
        assert_eq!(m(r"$H^{p,q}(R^n)$"), "H^(p,q)(Rⁿ)");
        assert_eq!(m(r"$U(1)_{B-L}$"), "U(1)_(B-L)");
        assert_eq!(m(r"$$E = mc^2$$"), "E = mc²");
    }

    #[test]
    fn what_is_not_math_stays_as_written() {
        assert_eq!(m("no math here"), "no math here");
        assert_eq!(m("costs $5 and more"), "costs $5 and more");
        assert_eq!(m("costs $5 and $10"), "costs $5 and $10");
        assert_eq!(m("from $ 5 to $ 10"), "from $ 5 to $ 10");
        // Deep nesting and long spans are left alone, quickly and without recursion limits.
        let deep = format!("${}x{}$", "{".repeat(20_000), "}".repeat(20_000));
        assert!(m(&deep).contains('x'));
        let unclosed = format!("${}$", "{".repeat(200_000));
        assert_eq!(m(&unclosed), unclosed);
        assert!(!m(&format!("${}$", "^{".repeat(30))).is_empty());
        assert_eq!(
            m(r"an escaped \$ sign and $\alpha$"),
            r"an escaped \$ sign and α"
        );
        assert_eq!(m("$$"), "$$");
        assert_eq!(m("$"), "$");
        assert_eq!(m(r"$\cla$ macro"), r"\cla macro");
        // Malformed input never panics.
        for s in [
            r"$\frac{$",
            r"${{{$",
            r"$^$",
            r"$_{$",
            r"$\$",
            r"$\sqrt$",
            "$}}}$",
            "$\\",
            "$é^é$",
        ] {
            let _ = m(s);
        }
    }
}
