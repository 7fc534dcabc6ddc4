//! Filters from query strings and JSON, their canonical form and what they match.

use super::*;
use serde_json::json;

fn query(q: &str) -> Result<(EventFilter, PageParams), Vec<FieldError>> {
    let pairs: Vec<(String, String)> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    EventFilter::from_query(&pairs)
}

fn error_fields(q: &str) -> Vec<String> {
    query(q).unwrap_err().into_iter().map(|e| e.field).collect()
}

#[test]
fn no_parameters_mean_everything_newest_first_fifty_at_a_time() {
    let (f, p) = query("").unwrap();
    assert_eq!(f, EventFilter::default());
    assert_eq!(
        p,
        PageParams {
            limit: 50,
            cursor: None
        }
    );
}

#[test]
fn a_date_only_to_means_the_end_of_that_day() {
    let (f, _) = query("from=2026-11-01&to=2026-11-27").unwrap();
    assert_eq!(time::format(&f.from.unwrap()), "2026-11-01T00:00:00.000000Z");
    assert_eq!(time::format(&f.to.unwrap()), "2026-11-28T00:00:00.000000Z");
}

#[test]
fn from_after_to_is_rejected() {
    assert_eq!(error_fields("from=2026-11-28&to=2026-11-27T00:00:00Z"), ["from"]);
    assert_eq!(error_fields("from=2026-11-28&to=2026-11-27"), ["from"]);
    assert!(query("from=2026-11-27T12:00:00Z&to=2026-11-27").is_ok());
    assert!(query("from=2026-11-27T12:00:00Z&to=2026-11-27T12:00:00Z").is_ok());
}

#[test]
fn bad_values_name_their_parameter() {
    assert_eq!(error_fields("from=yesterday"), ["from"]);
    assert_eq!(error_fields("limit=0"), ["limit"]);
    assert_eq!(error_fields("limit=501"), ["limit"]);
    assert_eq!(error_fields("category=sca,nope"), ["category"]);
    assert_eq!(error_fields("type=auth.nope"), ["type"]);
    assert_eq!(error_fields("order=up"), ["order"]);
    assert_eq!(error_fields("user=alice"), ["user"]);
    assert_eq!(error_fields("actor=a&actor=b"), ["actor"]);
    assert_eq!(error_fields("to=0001-01-01"), ["to"]);
}

#[test]
fn bounds_outside_the_range_every_store_reads_back_are_refused() {
    assert_eq!(error_fields("to=9999-12-31"), ["to"]);
    assert_eq!(error_fields("from=9999-12-31T23:59:59.999999Z&to=10000-01-01"), ["to"]);
    assert_eq!(error_fields("from=1969-12-31T23:59:59Z"), ["from"]);
    assert!(query("to=9999-12-30").is_ok());
    assert!(query("from=9999-12-31T23:59:59.999999Z").is_ok());
    let err = EventFilter::from_json(&json!({"to": "9999-12-31"})).unwrap_err();
    assert_eq!(err[0].field, "to");
}

#[test]
fn lists_are_sorted_so_equal_filters_are_canonical() {
    let (a, _) = query("category=tqi,sca").unwrap();
    let (b, _) = query("category=sca,tqi").unwrap();
    assert_eq!(a.canonical(), b.canonical());
    assert_ne!(a.canonical(), query("category=sca").unwrap().0.canonical());
}

#[test]
fn an_export_body_takes_lists_or_comma_text() {
    let f = EventFilter::from_json(&json!({"category": ["sca", "tqi"], "type": "sca.analysis_started"})).unwrap();
    assert_eq!(f.categories, [Category::Sca, Category::Tqi]);
    assert!(EventFilter::from_json(&json!({"limit": 5})).is_err());
    assert!(EventFilter::from_json(&json!({"category": 5})).is_err());
}

#[test]
fn a_type_filter_narrows_the_categories() {
    let f = EventFilter::from_json(&json!({"type": "sca.analysis_started,auth.logged_in"})).unwrap();
    assert_eq!(
        f.effective_categories(),
        Categories::OneOf(vec![Category::Auth, Category::Sca])
    );
    let f = EventFilter::from_json(&json!({"type": "sca.analysis_started", "category": "auth"})).unwrap();
    assert_eq!(f.effective_categories(), Categories::None, "nothing can match");
    assert_eq!(EventFilter::default().effective_categories(), Categories::Any);
}

#[test]
fn outcome_and_exclusions_decide_the_types() {
    use crate::Types;
    let failures = EventFilter::from_json(&json!({"outcome": "failure"})).unwrap();
    let Types::OneOf(types) = failures.effective_types() else {
        panic!("a list of failure types")
    };
    assert!(types.contains(&"auth.login_failed".to_owned()) && !types.contains(&"auth.logged_in".to_owned()));
    assert_eq!(types.len(), 21, "the catalog's failure types");
    // `type` and `outcome` intersect; `not_type` takes away.
    let f = EventFilter::from_json(
        &json!({"outcome": "failure", "type": "auth.login_failed,auth.logged_in,sca.analysis_failed",
                "not_type": "sca.analysis_failed"}),
    )
    .unwrap();
    assert_eq!(f.effective_types(), Types::OneOf(vec!["auth.login_failed".into()]));
    assert_eq!(f.effective_categories(), Categories::OneOf(vec![Category::Auth]));
    let f = EventFilter::from_json(&json!({"outcome": "success", "type": "auth.login_failed"})).unwrap();
    assert_eq!(f.effective_types(), Types::Nothing);
    assert_eq!(f.effective_categories(), Categories::None, "nothing can match");
    // `info` is every type but the successes and failures, custom types included.
    let info = EventFilter::from_json(&json!({"outcome": "info"})).unwrap();
    let Types::NoneOf(left_out) = info.effective_types() else {
        panic!("a list of types left out")
    };
    assert_eq!(left_out.len(), 28);
    let f = EventFilter::from_json(&json!({"not_type": "auth.logged_in", "not_actor": "system"})).unwrap();
    assert_eq!(f.effective_types(), Types::NoneOf(vec!["auth.logged_in".into()]));
    assert_eq!(f.effective_categories(), Categories::Any);
    for bad in [
        json!({"outcome": "bad"}),
        json!({"not_type": "no.such"}),
        json!({"not_actor": "a\u{200b}"}),
    ] {
        assert!(EventFilter::from_json(&bad).is_err(), "{bad}");
    }
}

#[test]
fn one_type_is_judged_as_the_type_lists_say() {
    use crate::Types;
    let filters = [
        json!({}),
        json!({"outcome": "failure"}),
        json!({"outcome": "success", "category": "auth,sca"}),
        json!({"outcome": "info", "not_type": "custom.x,auth.logged_out"}),
        json!({"type": "auth.login_failed,auth.logged_in,custom.x", "outcome": "failure"}),
        json!({"type": "custom.x,sca.analysis_failed", "not_type": "sca.analysis_failed"}),
        json!({"category": "custom", "type": "auth.logged_in"}),
    ];
    let kinds: Vec<(Category, String)> = crate::catalog::all_types()
        .map(|t| (t.category, t.code.to_owned()))
        .chain([
            (Category::Custom, "custom.x".to_owned()),
            (Category::Custom, "custom.y".to_owned()),
        ])
        .collect();
    for body in filters {
        let f = EventFilter::from_json(&body).unwrap();
        let (types, categories) = (f.effective_types(), f.effective_categories());
        for (category, ty) in &kinds {
            let listed = match &types {
                Types::Any => true,
                Types::OneOf(of) => of.contains(ty),
                Types::NoneOf(of) => !of.contains(ty),
                Types::Nothing => false,
            } && match &categories {
                Categories::Any => true,
                Categories::OneOf(of) => of.contains(category),
                Categories::None => false,
            };
            assert_eq!(f.allows_kind(*category, ty), listed, "{body}: {ty}");
        }
    }
}

#[test]
fn the_filter_round_trips_through_json() {
    let (f, _) = query("from=2026-11-01&actor=alice&q=Fail&category=sca&order=asc").unwrap();
    let back: EventFilter = serde_json::from_str(&f.canonical()).unwrap();
    assert_eq!(back, f);
    let (f, _) = query("not_actor=system&not_type=auth.logged_in&outcome=failure").unwrap();
    let back: EventFilter = serde_json::from_str(&f.canonical()).unwrap();
    assert_eq!(back, f);
}

#[test]
fn a_filter_describes_itself_in_words() {
    assert_eq!(EventFilter::default().describe(), "none (the whole journal)");
    let (f, _) = query("actor=alice&to=2026-11-27&category=sca,auth").unwrap();
    assert_eq!(
        f.describe(),
        "to=2026-11-28T00:00:00.000000Z, actor=alice, category=auth,sca"
    );
    let (f, _) = query("not_actor=system&not_type=auth.logged_in&outcome=failure").unwrap();
    assert_eq!(
        f.describe(),
        "not_actor=system, not_type=auth.logged_in, outcome=failure"
    );
}

#[test]
fn search_folds_case_beyond_ascii() {
    assert!(contains_folded("ÄRGER im Büro", "ärger"));
    assert!(contains_folded("Analysis Finished", "FINISHED"));
}

#[test]
fn search_folds_greek_final_sigma_georgian_and_cherokee() {
    assert!(contains_folded("ΟΔΟΣΑ", "ΟΔΟΣ"));
    assert!(contains_folded("οδος", "ΟΔΟΣ"));
    assert!(contains_folded("ოდა", "ᲝᲓᲐ"), "Georgian Mtavruli folds to Mkhedruli");
    assert!(contains_folded("Ꭰ", "ꭰ"), "Cherokee");
}
