//! List-valued settings: a TOML array in the file, or the plain comma-separated form that an
//! environment variable naturally holds (`PUSHGATE_STATUS_CALLBACK_ALLOWED_HOSTS=a.example,*.b.example`).

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};

/// Deserializes a list of strings from a sequence, or from one string split at commas
/// (blank items dropped, each item trimmed). A lone number or boolean is one item.
pub fn comma_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Items;

    impl<'de> Visitor<'de> for Items {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a comma-separated list (a,b) or an array ([\"a\", \"b\"])")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect())
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(vec![v.to_string()])
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                let item = item.trim();
                if !item.is_empty() {
                    items.push(item.to_owned());
                }
            }
            Ok(items)
        }
    }

    d.deserialize_any(Items)
}
