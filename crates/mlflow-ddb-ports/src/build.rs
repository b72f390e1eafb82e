//! Building items and keys in a line (tests, fixtures, examples).

use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey};

/// A string value.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number value.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// An item with key `pk`/`sk` and the given attributes.
pub fn item(
    pk: &str,
    sk: &str,
    attrs: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Item {
    let mut i = Item::default();
    i.insert("PK".into(), s(pk));
    i.insert("SK".into(), s(sk));
    for (k, v) in attrs {
        i.insert(k.to_owned(), v);
    }
    i
}

/// An item key.
pub fn key(pk: &str, sk: &str) -> ItemKey {
    ItemKey::new(pk, sk)
}
