//! Collections as readers edit them: names and rules checked and tidied once here, for the
//! pages and the API alike; saving and "not interested" by paper id.

use chrono::{DateTime, Utc};
use paperscout_model::PaperId;
use paperscout_store::{Collection, Rules};

use crate::{Engine, Error, Result};

/// The longest collection name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The most entries in one list of a collection's rules.
pub const MAX_RULE_ITEMS: usize = 50;
/// The longest rule entry (a keyword, a category, an author), in characters.
pub const MAX_RULE_CHARS: usize = 100;

/// `name` trimmed, or why it cannot name a collection.
pub fn collection_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::Invalid("a collection needs a name".into()));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::Invalid(format!(
            "a collection's name is at most {MAX_NAME_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "a collection's name is one line of text".into(),
        ));
    }
    Ok(name.to_string())
}

/// One list of rules tidied: entries trimmed, empty and repeated ones dropped; too many or too
/// long entries refused, naming the list (`what`).
fn rule_list(what: &str, items: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() || out.iter().any(|o| o.eq_ignore_ascii_case(item)) {
            continue;
        }
        if item.chars().count() > MAX_RULE_CHARS || item.chars().any(char::is_control) {
            return Err(Error::Invalid(format!(
                "{what}: each entry is one line of at most {MAX_RULE_CHARS} characters ({:?}… is not)",
                item.chars().take(30).collect::<String>()
            )));
        }
        out.push(item.to_string());
    }
    if out.len() > MAX_RULE_ITEMS {
        return Err(Error::Invalid(format!(
            "{what}: at most {MAX_RULE_ITEMS} entries"
        )));
    }
    Ok(out)
}

/// `rules` tidied (entries trimmed, empty and repeated ones dropped), or why they cannot be kept.
pub fn tidy_rules(rules: &Rules) -> Result<Rules> {
    Ok(Rules {
        must: rule_list("must mention", &rules.must)?,
        never: rule_list("never mention", &rules.never)?,
        categories: rule_list("categories", &rules.categories)?,
        authors: rule_list("followed authors", &rules.authors)?,
    })
}

impl Engine {
    fn missing_collection(collection_id: i64) -> Error {
        Error::NotFound(format!("you have no collection {collection_id}"))
    }

    /// A new empty collection of the account's.
    pub fn create_collection(
        &self,
        account_id: i64,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Collection> {
        let name = collection_name(name)?;
        self.store
            .create_collection(account_id, &name, now.timestamp())?
            .ok_or_else(|| Error::Invalid(format!("you have a collection named {name:?} already")))
    }

    /// Renames one of the account's collections.
    pub fn rename_collection(
        &self,
        account_id: i64,
        collection_id: i64,
        name: &str,
    ) -> Result<Collection> {
        let name = collection_name(name)?;
        let c = self.owned(account_id, collection_id)?;
        if !self
            .store
            .rename_collection(account_id, collection_id, &name)?
        {
            return Err(Error::Invalid(format!(
                "you have another collection named {name:?}"
            )));
        }
        Ok(Collection { name, ..c })
    }

    /// Replaces a collection's rules (tidied: see [`tidy_rules`]).
    pub fn set_collection_rules(
        &self,
        account_id: i64,
        collection_id: i64,
        rules: &Rules,
    ) -> Result<Collection> {
        let rules = tidy_rules(rules)?;
        if !self.store.set_rules(account_id, collection_id, &rules)? {
            return Err(Self::missing_collection(collection_id));
        }
        self.owned(account_id, collection_id)
    }

    /// Turns the collection's part of the account's daily digest on or off.
    pub fn set_collection_digest(
        &self,
        account_id: i64,
        collection_id: i64,
        on: bool,
    ) -> Result<Collection> {
        if !self
            .store
            .set_collection_digest(account_id, collection_id, on)?
        {
            return Err(Self::missing_collection(collection_id));
        }
        self.owned(account_id, collection_id)
    }

    /// Deletes one of the account's collections (its list, not the papers).
    pub fn delete_collection(&self, account_id: i64, collection_id: i64) -> Result<()> {
        if !self.store.delete_collection(account_id, collection_id)? {
            return Err(Self::missing_collection(collection_id));
        }
        Ok(())
    }

    /// The account's first collection (its "Saved" unless renamed), made anew if the reader
    /// deleted them all.
    pub fn default_collection(&self, account_id: i64, now: DateTime<Utc>) -> Result<Collection> {
        if let Some(c) = self.store.collections(account_id)?.into_iter().next() {
            return Ok(c);
        }
        match self.store.create_collection(
            account_id,
            paperscout_store::DEFAULT_COLLECTION,
            now.timestamp(),
        )? {
            Some(c) => Ok(c),
            // Made at the same moment by another request.
            None => self
                .store
                .collections(account_id)?
                .into_iter()
                .next()
                .ok_or_else(|| Error::NotFound("there is no such account".into())),
        }
    }

    /// The account's collection, or not found (another account's is as good as missing).
    pub fn owned(&self, account_id: i64, collection_id: i64) -> Result<Collection> {
        self.store
            .collection(account_id, collection_id)?
            .ok_or_else(|| Self::missing_collection(collection_id))
    }

    /// A collection with its `limit` most recently saved papers, newest first.
    pub fn collection_items(
        &self,
        account_id: i64,
        collection_id: i64,
        limit: usize,
    ) -> Result<(Collection, Vec<crate::FeedItem>)> {
        let c = self.owned(account_id, collection_id)?;
        let keys: Vec<i64> = self
            .store
            .collection_papers(account_id, collection_id)?
            .into_iter()
            .take(limit)
            .map(|(k, _)| k)
            .collect();
        let mut items = self.feed_items(&keys, |_| None)?;
        let rank: std::collections::HashMap<i64, usize> =
            keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        items.sort_by_key(|i| rank.get(&i.key).copied().unwrap_or(usize::MAX));
        Ok((c, items))
    }

    /// Saves paper `id` into a collection: whether it was not there yet. Saving takes the
    /// paper off the "not interested" list.
    pub fn save_paper(
        &self,
        account_id: i64,
        collection_id: i64,
        id: &PaperId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.owned(account_id, collection_id)?;
        let key = self.paper(id)?.key;
        Ok(self
            .store
            .add_to_collection(account_id, collection_id, &[key], now.timestamp())?
            == 1)
    }

    /// Takes paper `id` out of a collection: whether it was in it.
    pub fn unsave_paper(&self, account_id: i64, collection_id: i64, id: &PaperId) -> Result<bool> {
        self.owned(account_id, collection_id)?;
        let key = self.paper(id)?.key;
        Ok(self
            .store
            .remove_from_collection(account_id, collection_id, key)?)
    }

    /// Marks paper `id` "not interested" (`on`), or takes the mark back: whether anything
    /// changed. The paper stays in any collection it is in.
    pub fn set_not_interested(
        &self,
        account_id: i64,
        id: &PaperId,
        on: bool,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let key = self.paper(id)?.key;
        Ok(if on {
            self.store.dismiss(account_id, key, now.timestamp())?
        } else {
            self.store.undismiss(account_id, key)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_rules_are_tidied_or_refused_in_words() {
        assert_eq!(collection_name("  Reading list ").unwrap(), "Reading list");
        assert!(collection_name("  ")
            .unwrap_err()
            .to_string()
            .contains("needs a name"));
        assert!(collection_name("a\nb").is_err());
        assert!(collection_name(&"x".repeat(101)).is_err());
        let rules = Rules {
            must: vec![
                " retrieval ".into(),
                "".into(),
                "Retrieval".into(),
                "rag".into(),
            ],
            never: vec![],
            categories: vec!["cs.IR".into()],
            authors: vec!["Ada Lovelace".into()],
        };
        let tidy = tidy_rules(&rules).unwrap();
        assert_eq!(tidy.must, vec!["retrieval".to_string(), "rag".to_string()]);
        assert_eq!(tidy.categories, vec!["cs.IR".to_string()]);
        let long = Rules {
            never: vec!["y".repeat(101)],
            ..Rules::default()
        };
        let e = tidy_rules(&long).unwrap_err().to_string();
        assert!(e.starts_with("never mention:"), "{e}");
        let many = Rules {
            authors: (0..51).map(|i| format!("Author {i}")).collect(),
            ..Rules::default()
        };
        assert!(tidy_rules(&many)
            .unwrap_err()
            .to_string()
            .contains("at most 50"));
    }
}
