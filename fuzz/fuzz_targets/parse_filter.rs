//! Any bytes as the query string of `GET /events` and as the body of `POST /exports`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(data)
        && let Ok((filter, page)) = event_model::EventFilter::from_query(&pairs)
    {
        assert!((1..=500).contains(&page.limit));
        let _ = filter.canonical();
        let _ = filter.describe();
        let back = event_model::EventFilter::from_json(&serde_json::to_value(&filter).unwrap()).unwrap();
        assert_eq!(back, filter);
    }
    if let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = event_model::EventFilter::from_json(&body);
    }
});
