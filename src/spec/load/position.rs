//! Where things are in the text of flows.yaml, for diagnostics: the key of
//! a value, an item of a list, the mapping a line sits in, and the keys no
//! field takes.

use std::collections::HashMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::spec::model::Pos;
use crate::yaml;

use super::raw::{RawFile, RawFlow, RawService, field_names};

/// The top-level key whose value holds line `at.line`: the nearest line at
/// or above it that starts in the first column with a key.
pub(super) fn top_level_key(text: &str, at: Pos) -> Option<String> {
    text.lines()
        .take(at.line)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find(|line| line.starts_with(|c: char| !c.is_whitespace() && c != '#' && c != '-'))
        .and_then(|line| line.split(':').next())
        .map(|key| key.trim().trim_matches(['"', '\'']).to_owned())
}

/// The key of the mapping that holds the entry at `at`: the nearest line
/// above it that is indented less, such as `  orders:` above
/// `    availabilty: 0.99`.
pub(super) fn enclosing_key(text: &str, at: Pos) -> Option<String> {
    let indent = at.column.saturating_sub(1);
    text.lines()
        .take(at.line.saturating_sub(1))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .find_map(|line| {
            let trimmed = line.trim_start();
            let own = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') || own >= indent {
                return None;
            }
            Some(
                trimmed
                    .split(':')
                    .next()?
                    .trim()
                    .trim_matches(['"', '\''])
                    .to_owned(),
            )
        })
}

/// Where `key:` is written on the line of its value at `value`, so that an
/// error about the key itself points at it; the value when not found.
pub(super) fn key_of(lines: &[&str], value: Pos, key: &str) -> Pos {
    let Some(line) = lines.get(value.line.saturating_sub(1)) else {
        return value;
    };
    let head: String = line.chars().take(value.column.saturating_sub(1)).collect();
    match head.rfind(&format!("{key}:")) {
        Some(i) => Pos {
            line: value.line,
            column: head[..i].chars().count() + 1,
        },
        None => value,
    }
}

/// Where `item` appears at or after `from` (a `to` list may span lines).
pub(super) fn locate_in_line(lines: &[&str], from: Pos, item: &str) -> Option<Pos> {
    for (i, line) in lines
        .iter()
        .enumerate()
        .skip(from.line.saturating_sub(1))
        .take(64)
    {
        let skip = if i + 1 == from.line {
            from.column.saturating_sub(1)
        } else {
            0
        };
        let chars: Vec<char> = line.chars().collect();
        let rest: String = chars.iter().skip(skip).collect();
        let mut search = 0;
        while let Some(found) = rest[search..].find(item) {
            let start = search + found;
            let before = rest[..start].chars().next_back();
            let after = rest[start + item.len()..].chars().next();
            let edge = |c: Option<char>| {
                c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            };
            if edge(before) && edge(after) {
                return Some(Pos {
                    line: i + 1,
                    column: skip + rest[..start].chars().count() + 1,
                });
            }
            search = start + item.len();
        }
    }
    None
}

/// The plain scalar at `at`, from the pre-split lines.
pub(super) fn scalar_in(lines: &[&str], at: Pos) -> String {
    lines
        .get(at.line.saturating_sub(1))
        .map_or_else(String::new, |line| {
            yaml::scalar_at(
                line,
                Pos {
                    line: 1,
                    column: at.column,
                },
            )
        })
}

/// The keys of a file, each where it is written, with what they hold when
/// that is a mapping or a list: just enough to find keys no field takes.
pub(super) enum Keys {
    Map(Vec<(Spanned<String>, Keys)>),
    List(Vec<Keys>),
    Other,
}

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Keys, D::Error> {
        struct KeysVisitor;

        // Every scalar holds no keys.
        macro_rules! scalars {
            ($($visit:ident: $t:ty),*) => {$(
                fn $visit<E: serde::de::Error>(self, _: $t) -> Result<Keys, E> {
                    Ok(Keys::Other)
                }
            )*};
        }

        impl<'de> serde::de::Visitor<'de> for KeysVisitor {
            type Value = Keys;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any YAML value")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                // A key is read as text, as the loader's own types read it:
                // read as any YAML value, `n:` or `on:` would be a YAML 1.1
                // boolean, not a name, and the keys under it went unchecked.
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<Keys>()?;
                    keys.push((key, value));
                }
                Ok(Keys::Map(keys))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Keys::List(items))
            }

            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Keys, D::Error> {
                Keys::deserialize(d)
            }

            fn visit_none<E: serde::de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::Other)
            }

            fn visit_unit<E: serde::de::Error>(self) -> Result<Keys, E> {
                Ok(Keys::Other)
            }

            scalars!(visit_bool: bool, visit_i64: i64, visit_i128: i128, visit_u64: u64, visit_u128: u128, visit_f64: f64, visit_str: &str);
        }

        deserializer.deserialize_any(KeysVisitor)
    }
}

/// Keys that no field of flows.yaml takes, by where they are: the top
/// level, a declared service (by name) or a flow (by its index).
#[derive(Default)]
pub(super) struct UnknownKeys {
    pub(super) top: Vec<Spanned<String>>,
    pub(super) services: HashMap<String, Vec<Spanned<String>>>,
    pub(super) flows: HashMap<usize, Vec<Spanned<String>>>,
}

impl UnknownKeys {
    /// Reads the keys of `text` and keeps those no field takes. A file that
    /// does not read as YAML has none here: its parse error says why.
    pub(super) fn of(text: &str) -> UnknownKeys {
        let mut unknown = UnknownKeys::default();
        let Ok(Keys::Map(top)) = yaml::parse::<Keys>("", text) else {
            return unknown;
        };
        let unknown_in =
            |keys: Vec<(Spanned<String>, Keys)>, known: &[&str]| -> Vec<Spanned<String>> {
                keys.into_iter()
                    .map(|(key, _)| key)
                    .filter(|key| !known.contains(&key.value.as_str()))
                    .collect()
            };
        let (file_keys, service_keys, flow_keys) = (
            field_names::<RawFile>(),
            field_names::<RawService>(),
            field_names::<RawFlow>(),
        );
        for (key, value) in top {
            match (key.value.as_str(), value) {
                ("services", Keys::Map(services)) => {
                    for (service, declared) in services {
                        if let Keys::Map(keys) = declared {
                            let keys = unknown_in(keys, service_keys);
                            if !keys.is_empty() {
                                unknown.services.insert(service.value, keys);
                            }
                        }
                    }
                }
                ("flows", Keys::List(flows)) => {
                    for (index, flow) in flows.into_iter().enumerate() {
                        if let Keys::Map(keys) = flow {
                            let keys = unknown_in(keys, flow_keys);
                            if !keys.is_empty() {
                                unknown.flows.insert(index, keys);
                            }
                        }
                    }
                }
                (name, _) if !file_keys.contains(&name) => unknown.top.push(key),
                _ => {}
            }
        }
        unknown
    }
}
