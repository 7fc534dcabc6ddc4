//! An event as a DynamoDB item, converted with `serde_dynamo`. The field names are the attribute
//! names of [`crate::schema`] (a test checks they agree).

use chrono::{DateTime, Utc};
use event_model::{Category, Event, EventView, NewEvent, Params, time};
use serde::{Deserialize, Serialize};

use crate::schema;
use audit_storage::StoreError;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EventItem {
    pub id: String,
    pub time_bucket: String,
    /// The actor, or its [`BY_ACTOR`](schema::BY_ACTOR) partition when it has several.
    pub actor: String,
    /// The actor, when `actor` holds its partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    pub time_id: String,
    pub search: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub time: String,
    pub category: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The params object as JSON text: stored exactly as received (a DynamoDB map would turn
    /// `1.0` into `1`).
    pub params: String,
    pub source: String,
    pub received_at: String,
    /// What the client sent, hashed: tells a retry (duplicate) from a reused id (conflict).
    pub fingerprint: String,
    /// Unique to one append call: tells "my write landed, its answer was lost" from a duplicate.
    pub write_id: String,
}

impl EventItem {
    pub fn new(new: &NewEvent, layout: &schema::Layout, expires_at: Option<i64>, write_id: &str) -> EventItem {
        let e = &new.event;
        let shard = schema::shard_of(&e.id, layout.time_shards);
        let (actor, actor_name) = if layout.actor_shards > 1 {
            let partition = schema::actor_partition(&e.actor, schema::shard_of(&e.id, layout.actor_shards));
            (partition, Some(e.actor.clone()))
        } else {
            (e.actor.clone(), None)
        };
        EventItem {
            id: e.id.to_string(),
            time_bucket: schema::time_bucket(e.time.date_naive(), shard),
            actor,
            actor_name,
            time_id: e.time_id(),
            search: schema::search_text(&e.message, &e.actor),
            expires_at,
            time: time::format(&e.time),
            category: e.category.code().to_owned(),
            event_type: e.event_type.clone(),
            message: e.message.clone(),
            duration_ms: e.duration_ms,
            params: e.params.as_str().to_owned(),
            source: e.source.clone(),
            received_at: time::format(&e.received_at),
            fingerprint: new.fingerprint.clone(),
            write_id: write_id.to_owned(),
        }
    }

    /// The item's event, read through [`EventView`] (the one definition of an event's stored
    /// fields, which the embedded store reads its rows through too), or why it cannot be read.
    pub fn view(&self) -> Result<EventView<'_>, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("event {}: bad {what}", self.id));
        let instant = |text: &str, what: &str| -> Result<DateTime<Utc>, StoreError> {
            time::parse_instant(text).ok_or_else(|| corrupt(what))
        };
        Ok(EventView {
            id: self.id.parse().map_err(|_| corrupt("id"))?,
            time: instant(&self.time, "time")?,
            actor: self.actor_name.as_deref().unwrap_or(&self.actor),
            category: Category::parse(&self.category).ok_or_else(|| corrupt("category"))?,
            event_type: &self.event_type,
            message: &self.message,
            duration_ms: self.duration_ms,
            params: Params::check(&self.params).ok_or_else(|| corrupt("params"))?,
            source: &self.source,
            received_at: instant(&self.received_at, "received_at")?,
        })
    }

    pub fn into_event(self) -> Result<Event, StoreError> {
        self.view().map(|view| view.to_event())
    }
}

/// The marker of a day that has events (see [`crate::schema`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DayMarker {
    pub id: String,
    pub time_bucket: String,
    pub time_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// The marker of an actor that has events (see [`crate::schema`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ActorMarker {
    pub id: String,
    pub time_bucket: String,
    pub time_id: String,
}

impl ActorMarker {
    /// `None` for an actor whose folded form is empty (an event's actor never is).
    pub fn new(actor: &str) -> Option<ActorMarker> {
        let (time_bucket, time_id) = schema::actor_marker_key(&event_model::filter::fold(actor), actor)?;
        Some(ActorMarker {
            id: format!("{}{actor}", schema::ACTOR_MARKER_PREFIX),
            time_bucket,
            time_id,
        })
    }
}

impl DayMarker {
    pub fn new(day: chrono::NaiveDate, expires_at: Option<i64>) -> DayMarker {
        let text = day.format("%Y-%m-%d").to_string();
        DayMarker {
            id: format!("{}{text}", schema::DAY_MARKER_PREFIX),
            time_bucket: schema::DAYS_BUCKET.to_owned(),
            time_id: text,
            expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn attribute_names_are_the_schema_modules() {
        let input = json!({"type": "custom.x", "actor": "Alice", "message": "Did X", "duration_ms": 5,
            "params": {"n": 1.0}, "time": "2026-03-01T10:00:00Z"});
        let new = NewEvent::parse(&input, "", Utc::now(), "svc").unwrap();
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(EventItem::new(&new, &schema::Layout::local_defaults(), Some(1), "w")).unwrap();
        for name in [
            schema::ID,
            schema::TIME_BUCKET,
            schema::ACTOR,
            schema::TIME_ID,
            schema::SEARCH,
            schema::EXPIRES_AT,
            schema::CATEGORY,
            schema::TYPE,
        ] {
            assert!(item.contains_key(name), "{name} missing from {:?}", item.keys());
        }
        let back: EventItem = serde_dynamo::from_item(item.clone()).unwrap();
        assert!(
            !item.contains_key(schema::ACTOR_NAME),
            "one partition per actor: no actor_name"
        );
        let sharded = schema::Layout {
            actor_shards: 16,
            ..schema::Layout::local_defaults()
        };
        let spread = EventItem::new(&new, &sharded, None, "w");
        assert_eq!(
            spread.actor,
            schema::actor_partition("Alice", schema::shard_of(&new.event.id, 16))
        );
        assert_eq!(spread.actor_name.as_deref(), Some("Alice"));
        assert_eq!(
            spread.into_event().unwrap().actor,
            "Alice",
            "the event's actor, not its partition"
        );
        assert_eq!(back.search, "did x\nalice");
        assert_eq!(back.into_event().unwrap(), new.event, "params keep 1.0");
        let marker: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
            serde_dynamo::to_item(DayMarker::new(new.event.time.date_naive(), None)).unwrap();
        for name in [schema::ID, schema::TIME_BUCKET, schema::TIME_ID] {
            assert!(marker.contains_key(name));
        }
    }
}
