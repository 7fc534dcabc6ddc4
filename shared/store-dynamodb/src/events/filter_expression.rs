//! The FilterExpression of what no index serves (categories, types, exclusions, `q`), and a
//! range's bounds.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use event_model::{Categories, EventFilter, Types};

use crate::schema;

/// The inclusive `time_id` bounds of a filter's time range: `from` is inclusive and every
/// `time_id` at `to` sorts after `to`'s own text, so `BETWEEN lo AND hi` is `[from, to)`.
pub(super) fn bounds(filter: &EventFilter) -> (String, String) {
    let lo = filter
        .from
        .map_or_else(|| "0".to_owned(), |t| event_model::time::format(&t));
    let hi = filter
        .to
        .map_or_else(|| "~".to_owned(), |t| event_model::time::format(&t));
    (lo, hi)
}

/// The FilterExpression of `category`, `type`, `outcome`, `not_type`, `not_actor` and `q` (the
/// parts no index serves).
#[derive(Default, Clone)]
pub(super) struct FilterExpression {
    pub(super) expression: Option<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
}

impl FilterExpression {
    pub(super) fn of(filter: &EventFilter) -> FilterExpression {
        let mut f = FilterExpression::default();
        let mut parts = Vec::new();
        let mut list = |f: &mut FilterExpression, name: &str, attr: &str, values: &[String], not: bool| {
            // DynamoDB allows 100 operands in IN; longer lists are checked after reading.
            if values.is_empty() || values.len() > 100 {
                return;
            }
            f.names.insert(format!("#{name}"), attr.to_owned());
            let keys: Vec<String> = (0..values.len()).map(|i| format!(":{name}{i}")).collect();
            for (k, v) in keys.iter().zip(values) {
                f.values.insert(k.clone(), AttributeValue::S(v.clone()));
            }
            let negation = if not { "NOT " } else { "" };
            parts.push(format!("{negation}#{name} IN ({})", keys.join(", ")));
        };
        // Names and values start with `f` so they never meet the key condition's.
        if let Categories::OneOf(of) = filter.effective_categories() {
            let codes: Vec<String> = of.iter().map(|c| c.code().to_owned()).collect();
            list(&mut f, "fc", schema::CATEGORY, &codes, false);
        }
        match filter.effective_types() {
            Types::OneOf(types) => list(&mut f, "ft", schema::TYPE, &types, false),
            Types::NoneOf(types) => list(&mut f, "ft", schema::TYPE, &types, true),
            // No read is made when nothing can match (see `query`).
            Types::Any | Types::Nothing => {}
        }
        if let Some(actor) = &filter.not_actor {
            // An item written unsharded holds the actor in `actor`; a sharded one its partition
            // there (never equal to an actor) and the actor in `actor_name`.
            f.names.insert("#fa".into(), schema::ACTOR.into());
            f.names.insert("#fn".into(), schema::ACTOR_NAME.into());
            f.values.insert(":fa".into(), AttributeValue::S(actor.clone()));
            parts.push("#fa <> :fa AND (attribute_not_exists(#fn) OR #fn <> :fa)".into());
        }
        if let Some(q) = &filter.q {
            f.names.insert("#fs".into(), schema::SEARCH.into());
            f.values
                .insert(":fq".into(), AttributeValue::S(event_model::filter::fold(q)));
            parts.push("contains(#fs, :fq)".into());
        }
        if !parts.is_empty() {
            f.expression = Some(parts.join(" AND "));
        }
        f
    }
}
