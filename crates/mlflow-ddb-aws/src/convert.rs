//! Conversion between the shared item currency (`mlflow_ddb_core::item`, the
//! serde_dynamo types) and the SDK's attribute values.
//!
//! Written by hand on purpose: serde_dynamo's `aws-sdk-dynamodb+1` feature
//! would give the same `From` impls, but Cargo unifies features per build, so
//! in every workspace build the core crate's serde_dynamo would then be
//! compiled against the AWS SDK (`cargo tree --workspace -i aws-sdk-dynamodb`
//! shows `serde_dynamo -> mlflow-ddb-core`). The matches below are exhaustive
//! over the ten DynamoDB types; the SDK's `Unknown` (a type newer than the
//! SDK) is an error, never silently dropped.

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue as DdbValue;
use aws_sdk_dynamodbstreams::types::AttributeValue as StreamValue;
use mlflow_ddb_core::item::{AttributeValue, Item, ItemKey, PK, SK};

/// An attribute value the SDK could not name (a DynamoDB type newer than the
/// SDK). Carries the attribute name, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownType {
    /// Dotted path of the attribute inside the item (`tags.a`, `list[2]`).
    pub path: String,
}

/// SDK value from an item value. Infallible: every serde_dynamo type has an SDK twin.
pub fn to_sdk_value(value: AttributeValue) -> DdbValue {
    match value {
        AttributeValue::S(s) => DdbValue::S(s),
        AttributeValue::N(n) => DdbValue::N(n),
        AttributeValue::Bool(b) => DdbValue::Bool(b),
        AttributeValue::Null(b) => DdbValue::Null(b),
        AttributeValue::B(b) => DdbValue::B(Blob::new(b)),
        AttributeValue::M(m) => {
            DdbValue::M(m.into_iter().map(|(k, v)| (k, to_sdk_value(v))).collect())
        }
        AttributeValue::L(l) => DdbValue::L(l.into_iter().map(to_sdk_value).collect()),
        AttributeValue::Ss(s) => DdbValue::Ss(s),
        AttributeValue::Ns(n) => DdbValue::Ns(n),
        AttributeValue::Bs(b) => DdbValue::Bs(b.into_iter().map(Blob::new).collect()),
    }
}

/// SDK item from an item.
pub fn to_sdk_item(item: Item) -> HashMap<String, DdbValue> {
    item.into_inner()
        .into_iter()
        .map(|(k, v)| (k, to_sdk_value(v)))
        .collect()
}

/// SDK key (`PK`, `SK` as strings) of an item key.
pub fn key_to_sdk(key: &ItemKey) -> HashMap<String, DdbValue> {
    HashMap::from([
        (PK.to_owned(), DdbValue::S(key.pk.clone())),
        (SK.to_owned(), DdbValue::S(key.sk.clone())),
    ])
}

/// Item value from an SDK value.
pub fn from_sdk_value(value: DdbValue) -> Result<AttributeValue, UnknownType> {
    from_sdk_at(value, &mut String::new())
}

/// Item from an SDK item.
pub fn from_sdk_item(map: HashMap<String, DdbValue>) -> Result<Item, UnknownType> {
    let mut out = HashMap::with_capacity(map.len());
    for (name, value) in map {
        let mut path = name.clone();
        out.insert(name, from_sdk_at(value, &mut path)?);
    }
    Ok(Item::from(out))
}

fn from_sdk_at(value: DdbValue, path: &mut String) -> Result<AttributeValue, UnknownType> {
    Ok(match value {
        DdbValue::S(s) => AttributeValue::S(s),
        DdbValue::N(n) => AttributeValue::N(n),
        DdbValue::Bool(b) => AttributeValue::Bool(b),
        DdbValue::Null(b) => AttributeValue::Null(b),
        DdbValue::B(b) => AttributeValue::B(b.into_inner()),
        DdbValue::M(m) => {
            let mut out = HashMap::with_capacity(m.len());
            for (k, v) in m {
                let len = path.len();
                path.push('.');
                path.push_str(&k);
                out.insert(k, from_sdk_at(v, path)?);
                path.truncate(len);
            }
            AttributeValue::M(out)
        }
        DdbValue::L(l) => {
            let mut out = Vec::with_capacity(l.len());
            for (i, v) in l.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(from_sdk_at(v, path)?);
                path.truncate(len);
            }
            AttributeValue::L(out)
        }
        DdbValue::Ss(s) => AttributeValue::Ss(s),
        DdbValue::Ns(n) => AttributeValue::Ns(n),
        DdbValue::Bs(b) => AttributeValue::Bs(b.into_iter().map(Blob::into_inner).collect()),
        _ => return Err(UnknownType { path: path.clone() }),
    })
}

/// Item value from a DynamoDB Streams value.
pub fn from_stream_value(value: StreamValue) -> Result<AttributeValue, UnknownType> {
    from_stream_at(value, &mut String::new())
}

/// Item from a DynamoDB Streams image.
pub fn from_stream_item(map: HashMap<String, StreamValue>) -> Result<Item, UnknownType> {
    let mut out = HashMap::with_capacity(map.len());
    for (name, value) in map {
        let mut path = name.clone();
        out.insert(name, from_stream_at(value, &mut path)?);
    }
    Ok(Item::from(out))
}

fn from_stream_at(value: StreamValue, path: &mut String) -> Result<AttributeValue, UnknownType> {
    Ok(match value {
        StreamValue::S(s) => AttributeValue::S(s),
        StreamValue::N(n) => AttributeValue::N(n),
        StreamValue::Bool(b) => AttributeValue::Bool(b),
        StreamValue::Null(b) => AttributeValue::Null(b),
        StreamValue::B(b) => AttributeValue::B(b.into_inner()),
        StreamValue::M(m) => {
            let mut out = HashMap::with_capacity(m.len());
            for (k, v) in m {
                let len = path.len();
                path.push('.');
                path.push_str(&k);
                out.insert(k, from_stream_at(v, path)?);
                path.truncate(len);
            }
            AttributeValue::M(out)
        }
        StreamValue::L(l) => {
            let mut out = Vec::with_capacity(l.len());
            for (i, v) in l.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(from_stream_at(v, path)?);
                path.truncate(len);
            }
            AttributeValue::L(out)
        }
        StreamValue::Ss(s) => AttributeValue::Ss(s),
        StreamValue::Ns(n) => AttributeValue::Ns(n),
        StreamValue::Bs(b) => AttributeValue::Bs(
            b.into_iter()
                .map(aws_smithy_types::Blob::into_inner)
                .collect(),
        ),
        _ => return Err(UnknownType { path: path.clone() }),
    })
}

pub use mlflow_ddb_ports::key_of;

/// The key of an SDK item (a `LastEvaluatedKey`, a key in `UnprocessedKeys`).
pub fn key_of_sdk(map: &HashMap<String, DdbValue>) -> Option<ItemKey> {
    match (map.get(PK), map.get(SK)) {
        (Some(DdbValue::S(pk)), Some(DdbValue::S(sk))) => {
            Some(ItemKey::new(pk.clone(), sk.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn value() -> impl Strategy<Value = AttributeValue> {
        let leaf = prop_oneof![
            ".*".prop_map(AttributeValue::S),
            "-?[0-9]{1,20}(\\.[0-9]{1,5})?".prop_map(AttributeValue::N),
            any::<bool>().prop_map(AttributeValue::Bool),
            Just(AttributeValue::Null(true)),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(AttributeValue::B),
            proptest::collection::vec(".*", 1..4).prop_map(AttributeValue::Ss),
            proptest::collection::vec("[0-9]{1,5}", 1..4).prop_map(AttributeValue::Ns),
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..8), 1..4)
                .prop_map(AttributeValue::Bs),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(AttributeValue::L),
                proptest::collection::hash_map(".*", inner, 0..4).prop_map(AttributeValue::M),
            ]
        })
    }

    /// The streams SDK value with the same content, built independently of
    /// the code under test, so a swapped arm in one direction shows.
    fn to_stream_value(v: &AttributeValue) -> StreamValue {
        use aws_smithy_types::Blob as B;
        match v {
            AttributeValue::S(s) => StreamValue::S(s.clone()),
            AttributeValue::N(n) => StreamValue::N(n.clone()),
            AttributeValue::Bool(b) => StreamValue::Bool(*b),
            AttributeValue::Null(b) => StreamValue::Null(*b),
            AttributeValue::B(b) => StreamValue::B(B::new(b.clone())),
            AttributeValue::M(m) => StreamValue::M(
                m.iter()
                    .map(|(k, v)| (k.clone(), to_stream_value(v)))
                    .collect(),
            ),
            AttributeValue::L(l) => StreamValue::L(l.iter().map(to_stream_value).collect()),
            AttributeValue::Ss(s) => StreamValue::Ss(s.clone()),
            AttributeValue::Ns(n) => StreamValue::Ns(n.clone()),
            AttributeValue::Bs(b) => StreamValue::Bs(b.iter().cloned().map(B::new).collect()),
        }
    }

    proptest! {
        #[test]
        fn sdk_round_trip(v in value()) {
            prop_assert_eq!(from_sdk_value(to_sdk_value(v.clone())), Ok(v));
        }

        #[test]
        fn stream_values_read_like_table_values(v in value()) {
            prop_assert_eq!(from_stream_value(to_stream_value(&v)), Ok(v));
        }
    }

    fn check(sdk: DdbValue, expected: AttributeValue) {
        assert_eq!(
            from_sdk_value(sdk.clone()),
            Ok(expected.clone()),
            "from {sdk:?}"
        );
        assert_eq!(to_sdk_value(expected.clone()), sdk, "to {expected:?}");
    }

    #[test]
    fn each_type_maps_to_its_twin() {
        check(DdbValue::S("x".into()), AttributeValue::S("x".into()));
        check(DdbValue::N("1.5".into()), AttributeValue::N("1.5".into()));
        check(DdbValue::Bool(false), AttributeValue::Bool(false));
        check(DdbValue::Null(true), AttributeValue::Null(true));
        check(
            DdbValue::B(Blob::new(vec![0, 255])),
            AttributeValue::B(vec![0, 255]),
        );
        check(
            DdbValue::Ss(vec!["a".into()]),
            AttributeValue::Ss(vec!["a".into()]),
        );
        check(
            DdbValue::Ns(vec!["7".into()]),
            AttributeValue::Ns(vec!["7".into()]),
        );
        check(
            DdbValue::Bs(vec![Blob::new(vec![1])]),
            AttributeValue::Bs(vec![vec![1]]),
        );
        check(
            DdbValue::L(vec![DdbValue::S("a".into()), DdbValue::N("2".into())]),
            AttributeValue::L(vec![
                AttributeValue::S("a".into()),
                AttributeValue::N("2".into()),
            ]),
        );
        check(
            DdbValue::M(HashMap::from([(
                "mlflow.user".to_owned(),
                DdbValue::S("me".into()),
            )])),
            AttributeValue::M(HashMap::from([(
                "mlflow.user".to_owned(),
                AttributeValue::S("me".into()),
            )])),
        );
    }

    #[test]
    fn keys_need_string_pk_and_sk() {
        let mut item = Item::default();
        item.insert(PK.into(), AttributeValue::S("EXP#1".into()));
        assert_eq!(key_of(&item), None);
        item.insert(SK.into(), AttributeValue::N("1".into()));
        assert_eq!(key_of(&item), None);
        item.insert(SK.into(), AttributeValue::S("E#META".into()));
        assert_eq!(key_of(&item), Some(ItemKey::new("EXP#1", "E#META")));
        let sdk = key_to_sdk(&ItemKey::new("EXP#1", "E#META"));
        assert_eq!(key_of_sdk(&sdk), Some(ItemKey::new("EXP#1", "E#META")));
        assert_eq!(
            from_sdk_item(sdk).ok().as_ref().and_then(key_of),
            Some(ItemKey::new("EXP#1", "E#META"))
        );
    }
}
