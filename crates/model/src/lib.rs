//! Plain data types shared by every paperscout crate: papers, their ids, search modes and hits.
//! No IO lives here.

mod id;
mod math;
mod paper;
mod search;
pub mod sync;
mod text;

pub use id::{PaperId, PaperIdError};
pub use math::math_to_unicode;
pub use paper::{embedding_text, Links, Paper, Source};
pub use search::{Hit, SearchMode, SearchModeError, Snippet};
pub use text::{
    check_paper_text, clean_text, normalize_title, normalize_whitespace, strip_controls,
    MAX_ABSTRACT_CHARS, MAX_TITLE_CHARS,
};
