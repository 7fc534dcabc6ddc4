//! The days of a range that have events, from the day markers.

use std::collections::VecDeque;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use event_model::{EventFilter, Order};

use super::read::PageRead;
use crate::item::DayMarker;
use crate::schema;
use audit_storage::StoreError;

/// Day markers read by the first read of a walk (the day to start with and the one after, to
/// know whether a page that ends a day is the last), and by each later read.
const DAYS_FIRST_READ: i32 = 2;
const DAYS_PER_READ: i32 = 16;

/// The days of a filter's range that have events, in the filter's order, read from the day
/// markers a few at a time (or known without reading when the range is one day).
pub(super) struct Days {
    first: NaiveDate,
    last: NaiveDate,
    asc: bool,
    buffered: VecDeque<NaiveDate>,
    /// The last day handed out or skipped; reads resume after it.
    after: Option<NaiveDate>,
    exhausted: bool,
    reads: u32,
}

impl Days {
    pub(super) fn new(filter: &EventFilter) -> Days {
        let first = filter.from.map_or(NaiveDate::MIN, |t| t.date_naive());
        let last = filter
            .to
            .map_or(NaiveDate::MAX, |t| (t - chrono::Duration::microseconds(1)).date_naive());
        Days {
            first: first.max(event_model::time::earliest().date_naive()),
            last: last.min(event_model::time::latest().date_naive()),
            asc: filter.order == Order::Asc,
            buffered: VecDeque::new(),
            after: None,
            exhausted: false,
            reads: 0,
        }
    }

    pub(super) fn skip_through(&mut self, day: NaiveDate) {
        self.after = Some(day);
    }

    pub(super) async fn next(&mut self, reader: &mut PageRead<'_>) -> Result<Option<NaiveDate>, StoreError> {
        if self.first == self.last {
            // One day: no need to ask which days have events.
            let day = self.first;
            if self.after.is_some() {
                return Ok(None);
            }
            self.after = Some(day);
            return Ok(Some(day));
        }
        if self.buffered.is_empty() && !self.exhausted {
            self.read(reader).await?;
        }
        let day = self.buffered.pop_front();
        if let Some(d) = day {
            self.after = Some(d);
        }
        Ok(day)
    }

    async fn read(&mut self, reader: &mut PageRead<'_>) -> Result<(), StoreError> {
        let fmt = |d: NaiveDate| d.format("%Y-%m-%d").to_string();
        let store = &reader.store.inner;
        let mut request = store
            .client
            .query()
            .table_name(&store.layout.events_table)
            .index_name(schema::BY_TIME)
            .key_condition_expression("#k = :k AND #t BETWEEN :lo AND :hi")
            .expression_attribute_names("#k", schema::TIME_BUCKET)
            .expression_attribute_names("#t", schema::TIME_ID)
            .expression_attribute_values(":k", AttributeValue::S(schema::DAYS_BUCKET.into()))
            .expression_attribute_values(":lo", AttributeValue::S(fmt(self.first)))
            .expression_attribute_values(":hi", AttributeValue::S(fmt(self.last)))
            .scan_index_forward(self.asc)
            .limit(if self.reads == 0 {
                DAYS_FIRST_READ
            } else {
                DAYS_PER_READ
            });
        if let Some(after) = self.after {
            let marker = DayMarker::new(after, None);
            request = request
                .exclusive_start_key(schema::ID, AttributeValue::S(marker.id))
                .exclusive_start_key(schema::TIME_BUCKET, AttributeValue::S(marker.time_bucket))
                .exclusive_start_key(schema::TIME_ID, AttributeValue::S(marker.time_id));
        }
        reader.requests += 1;
        self.reads += 1;
        let out = request
            .send()
            .await
            .map_err(|e| crate::store_error(e, &store.layout.events_resource()))?;
        reader.scanned += out.scanned_count.max(0) as u64;
        self.exhausted = out.last_evaluated_key.is_none();
        for item in out.items.unwrap_or_default() {
            let marker: DayMarker = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let day = event_model::time::parse_date(&marker.time_id)
                .ok_or_else(|| StoreError::Corrupt(format!("day marker {}", marker.id)))?;
            self.buffered.push_back(day);
        }
        Ok(())
    }
}
