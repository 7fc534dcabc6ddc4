//! An event's params, kept as the stored JSON text.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// An event's params: a JSON object kept as its canonical text (keys in order, as serde_json
/// writes a [`Map`]), which is what the stores keep. A read hands the stored text on, checked to
/// be one JSON object, instead of parsing it into values only to write them out again.
#[derive(Debug, Clone)]
pub struct Params(pub(super) Box<serde_json::value::RawValue>);

impl Params {
    pub fn from_map(map: &Map<String, Value>) -> Self {
        Params(serde_json::value::to_raw_value(map).expect("a JSON map always serializes"))
    }

    /// Text a store kept, if it is one JSON object (checked without building values).
    pub fn from_stored(text: String) -> Option<Self> {
        let raw = serde_json::value::RawValue::from_string(text).ok()?;
        raw.get().starts_with('{').then_some(Params(raw))
    }

    /// [`Params::from_stored`], borrowed: the text as a JSON value if it is one JSON object.
    pub fn check(text: &str) -> Option<&serde_json::value::RawValue> {
        let raw: &serde_json::value::RawValue = serde_json::from_str(text).ok()?;
        raw.get().starts_with('{').then_some(raw)
    }

    /// The canonical text, as stores keep it.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    pub fn into_string(self) -> String {
        Box::<str>::from(self.0).into_string()
    }

    pub fn to_map(&self) -> Map<String, Value> {
        serde_json::from_str(self.as_str()).expect("params hold a JSON object")
    }
}

impl PartialEq for Params {
    /// The same object, however its text is spaced.
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_map() == other.to_map()
    }
}

impl Serialize for Params {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Map::deserialize(d).map(|map| Params::from_map(&map))
    }
}
