//! The audit event model, shared by every function and the local server. Pure: no storage, no
//! HTTP, no AWS.
//!
//! - [`catalog`]: the 59 event types of the product document, their categories and templates.
//! - [`template`]: rendering a template with an event's parameters.
//! - [`event`]: the stored [`Event`], its one JSON shape ([`EventView`], which stores fill from
//!   their rows), its [`Params`] (the stored JSON text), and the validation of ingest input into
//!   a [`NewEvent`].
//! - [`filter`]: the query filters of `GET /events` and `POST /exports`, the [`Categories`] they
//!   let through, and the one case folding `q` is matched with.
//! - [`cursor`]: signed page cursors bound to their filters.
//! - [`csv_row`]: the CSV export's rows, with spreadsheet-formula escaping.
//! - [`time`]: the one fixed-width text form of instants, and [`time::TimeId`], the sort key
//!   both stores order and page by.

pub mod catalog;
pub mod csv_row;
pub mod cursor;
pub mod event;
pub mod filter;
pub mod template;
pub mod time;

pub use catalog::{CATALOG, Category, EventType, Outcome};
pub use cursor::{CursorKey, InvalidCursor};
pub use event::{Event, EventView, FieldError, NewEvent, Params, SYSTEM_ACTOR, limits};
pub use filter::{Categories, EventFilter, Order, PageParams, Types};
