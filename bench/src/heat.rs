//! The partition-heat model (issue 18): for a workload — events a second, the share of the
//! `system` actor, the other actors Zipf-distributed, the item size, `TIME_SHARDS` — the write
//! units a second on the table and on the hottest partition of each index, and the highest
//! sustained ingest before any partition passes DynamoDB's 1,000 WCU/s; and, for the query
//! shapes at a page rate, the read units a second on the partitions they read against 3,000
//! RCU/s. No AWS needed: events are placed by the store's own key functions
//! (`schema::shard_of`, `schema::time_bucket`, the actor as `by_actor`'s key). Then the model is
//! checked against the store's real writes: the DynamoDB store appends a sample of the workload
//! to dynalite through a proxy that keeps every request, and the writes are counted by the
//! partition each item lands in.

use std::collections::HashMap;

use anyhow::Context;
use audit_store_dynamodb::schema;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// DynamoDB's most write units a second on one partition (of a table or an index).
const PARTITION_WCU: f64 = 1_000.0;
/// Its most read units a second on one partition.
const PARTITION_RCU: f64 = 3_000.0;
/// The default quota of an on-demand table (write request units a second, each index apart).
const TABLE_QUOTA_WRU: f64 = 40_000.0;

/// Who writes, how much and how large.
#[derive(Debug, Clone, clap::Args)]
pub struct Workload {
    #[arg(long, default_value_t = 0.5)]
    pub system_share: f64,
    /// Actors other than `system`, their shares Zipf(`zipf_s`) by rank.
    #[arg(long, default_value_t = 10_000)]
    pub actors: usize,
    #[arg(long, default_value_t = 1.0)]
    pub zipf_s: f64,
    /// An item's size in bytes, as DynamoDB counts it (replaced by the measured one when checking).
    #[arg(long, default_value_t = 600.0)]
    pub item_bytes: f64,
    #[arg(long, default_value_t = schema::DEFAULT_TIME_SHARDS)]
    pub time_shards: u32,
    /// A layout not built yet (issue 18, part 2): the events of these actors spread over
    /// `actor_shards` partitions of by_actor (`<actor>#<n>`, by the same hash as the time
    /// shards; `*` for every actor, as the store spreads them); other actors keep one partition.
    /// 1: one partition an actor. The check against dynalite runs when the store writes the
    /// layout (every actor spread, or none).
    #[arg(long, default_value_t = 1)]
    pub actor_shards: u32,
    #[arg(long, value_delimiter = ',', default_value = "system")]
    pub hot_actors: Vec<String>,
}

/// Where a workload's writes land: the share of all events each index partition takes.
struct Shares {
    by_time: HashMap<String, f64>,
    by_actor: HashMap<String, f64>,
}

impl Shares {
    fn hottest(map: &HashMap<String, f64>) -> (String, f64) {
        map.iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, v)| (k.clone(), *v))
            .unwrap_or_default()
    }
}

/// Actor names by a Zipf draw: `user-<rank>`.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (1..=n)
            .map(|rank| {
                total += 1.0 / (rank as f64).powf(s);
                total
            })
            .collect::<Vec<_>>();
        Zipf {
            cumulative: cumulative.iter().map(|c| c / total).collect(),
        }
    }

    fn draw(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.random();
        self.cumulative.partition_point(|&c| c < u) + 1
    }
}

impl Workload {
    /// The actor of one event.
    fn actor(&self, zipf: &Zipf, rng: &mut StdRng) -> String {
        if rng.random_bool(self.system_share) {
            event_model::SYSTEM_ACTOR.to_owned()
        } else {
            format!("user-{}", zipf.draw(rng))
        }
    }

    /// `n` events' ids and actors, all on one day (the day being written now).
    fn sample(&self, n: usize, seed: u64) -> Vec<(uuid::Uuid, String)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let zipf = Zipf::new(self.actors, self.zipf_s);
        (0..n)
            .map(|_| (uuid::Uuid::now_v7(), self.actor(&zipf, &mut rng)))
            .collect()
    }

    /// Each index partition's share of the events, placed as the store places them.
    fn shares(&self, events: &[(uuid::Uuid, String)], day: chrono::NaiveDate) -> Shares {
        let n = events.len() as f64;
        let (mut by_time, mut by_actor) = (HashMap::new(), HashMap::new());
        for (id, actor) in events {
            let bucket = schema::time_bucket(day, schema::shard_of(id, self.time_shards));
            *by_time.entry(bucket).or_insert(0.0) += 1.0 / n;
            let partition = if self.actor_shards > 1 && self.is_hot(actor) {
                schema::actor_partition(actor, schema::shard_of(id, self.actor_shards))
            } else {
                actor.clone()
            };
            *by_actor.entry(partition).or_insert(0.0) += 1.0 / n;
        }
        Shares { by_time, by_actor }
    }

    /// Whether `actor`'s events are spread (`*`: every actor's, as the store spreads them).
    fn is_hot(&self, actor: &str) -> bool {
        self.hot_actors.iter().any(|h| h == "*" || h == actor)
    }

    /// Whether the store writes this layout (every actor spread, or none).
    fn built(&self) -> bool {
        self.actor_shards <= 1 || self.hot_actors.iter().any(|h| h == "*")
    }

    /// Write units of one event's write (per table or index copy: each projects the whole item).
    fn wcu(&self) -> f64 {
        (self.item_bytes / 1024.0).ceil().max(1.0)
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub workload: Workload,
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,20000,50000")]
    pub rates: Vec<f64>,
    /// Events of the sample the shares are computed from.
    #[arg(long, default_value_t = 200_000)]
    pub sample: usize,
    /// Events appended to dynalite to check the model against (0: no check).
    #[arg(long, default_value_t = 5_000)]
    pub check: usize,
    /// Pages a second of each read shape.
    #[arg(long, default_value_t = 10.0)]
    pub page_rate: f64,
}

pub async fn heat(mut args: Args) -> anyhow::Result<()> {
    let day = chrono::Utc::now().date_naive();
    if args.check > 0 && args.workload.built() {
        let measured = check(&args.workload, args.check, day).await?;
        println!(
            "measured item size: {:.0} bytes on average ({} events written by the store); the model uses it",
            measured, args.check
        );
        args.workload.item_bytes = measured;
    }
    let w = &args.workload;
    let shares = w.shares(&w.sample(args.sample, 18), day);
    let (hot_time, time_share) = Shares::hottest(&shares.by_time);
    let (hot_actor, actor_share) = Shares::hottest(&shares.by_actor);
    let wcu = w.wcu();
    println!(
        "\nworkload: {:.0} % system, {} other actors Zipf(s={}), {:.0}-byte items ({wcu} WCU a write, each index too), TIME_SHARDS {}{}",
        w.system_share * 100.0,
        w.actors,
        w.zipf_s,
        w.item_bytes,
        w.time_shards,
        if w.actor_shards > 1 {
            format!(
                ", {} over {} by_actor partitions each",
                w.hot_actors.join(", "),
                w.actor_shards
            )
        } else {
            String::new()
        }
    );
    println!(
        "hottest partitions: by_time {hot_time} takes {:.1} % of the writes; by_actor `{hot_actor}` {:.1} %",
        time_share * 100.0,
        actor_share * 100.0
    );
    println!(
        "\n{:>9} | {:>10} {:>10} {:>10} | {:>12} {:>12} | over a limit",
        "events/s", "table WCU", "by_time", "by_actor", "hot by_time", "hot by_actor"
    );
    for &rate in &args.rates {
        let total = rate * wcu;
        let (time_hot, actor_hot) = (total * time_share, total * actor_share);
        let mut over = Vec::new();
        if time_hot > PARTITION_WCU {
            over.push(format!("by_time partition ×{:.1}", time_hot / PARTITION_WCU));
        }
        if actor_hot > PARTITION_WCU {
            over.push(format!("by_actor `{hot_actor}` ×{:.1}", actor_hot / PARTITION_WCU));
        }
        if total > TABLE_QUOTA_WRU {
            over.push(format!("table quota ×{:.1}", total / TABLE_QUOTA_WRU));
        }
        println!(
            "{rate:>9.0} | {total:>10.0} {total:>10.0} {total:>10.0} | {time_hot:>12.0} {actor_hot:>12.0} | {}",
            if over.is_empty() {
                "none".to_owned()
            } else {
                over.join(", ")
            }
        );
    }
    let by_partition = PARTITION_WCU / (wcu * time_share.max(actor_share));
    let by_quota = TABLE_QUOTA_WRU / wcu;
    println!(
        "\nhighest sustained ingest: {:.0} events/s ({}); the table's default on-demand quota allows {:.0}",
        by_partition.min(by_quota),
        if actor_share >= time_share {
            format!("the by_actor partition of `{hot_actor}` reaches 1,000 WCU/s")
        } else {
            "a by_time partition reaches 1,000 WCU/s".to_owned()
        },
        by_quota
    );

    // Reads: RCU a page = ceil(bytes read / 4 KB) / 2 (eventually consistent), from the
    // partitions each shape reads; a page of 50, the items read as the query benchmark measured
    // them (a filtered page reads more than it returns).
    let rcu_page = |items: f64| (items * w.item_bytes / 4096.0).ceil() / 2.0;
    println!(
        "\nreads at {:.0} pages/s of each shape (RCU/s on the hottest partition it reads; limit 3,000):",
        args.page_rate
    );
    let shards = f64::from(w.time_shards);
    for (shape, items_read, partitions) in [
        ("newest first, no filter (one day's shards)", 50.0 * 1.2, shards),
        ("username `system`", 50.0, 1.0),
        ("category filter (1 in 10 events)", 500.0, shards),
    ] {
        let per_partition = args.page_rate * rcu_page(items_read / partitions);
        println!(
            "  {shape:<46} {per_partition:>8.0} RCU/s  (highest page rate {:.0}/s)",
            PARTITION_RCU / rcu_page(items_read / partitions)
        );
    }
    Ok(())
}

/// Appends `n` events of the workload through the DynamoDB store to dynalite, keeping every
/// request, and holds the model to what was written: each event's item in the by_time and
/// by_actor partitions the model places it in, the markers apart. Returns the items' mean size.
async fn check(w: &Workload, n: usize, day: chrono::NaiveDate) -> anyhow::Result<f64> {
    let cloud = integration_tests::fresh_tables().await;
    let (dynamodb, _) = integration_tests::emulator_endpoints();
    let proxy = integration_tests::fault_proxy::FaultProxy::start(&dynamodb).await;
    let sdk = audit_store_dynamodb::sdk_config().await;
    let store = audit_store_dynamodb::DynamoStore::new(
        audit_store_dynamodb::dynamodb_client_at(&sdk, &proxy.url),
        audit_store_dynamodb::Layout {
            time_shards: w.time_shards,
            actor_shards: w.actor_shards,
            ..cloud.layout.clone()
        },
        None,
    );
    let sample = w.sample(n, 7);
    let mut rng = StdRng::seed_from_u64(7);
    let now = chrono::Utc::now();
    let events: Vec<event_model::NewEvent> = sample
        .iter()
        .map(|(id, actor)| {
            let mut input = audit_local::seed::random_input(&mut rng, now);
            input["id"] = Value::from(id.to_string());
            input["actor"] = Value::from(actor.as_str());
            event_model::NewEvent::parse(&input, "", now, "bench").map_err(|e| anyhow::anyhow!("{e:?}"))
        })
        .collect::<anyhow::Result<_>>()?;
    proxy.recording();
    for chunk in events.chunks(500) {
        use audit_storage::EventStore;
        let outcomes = store.append(chunk.to_vec()).await;
        anyhow::ensure!(
            outcomes
                .iter()
                .all(|o| matches!(o, audit_storage::AppendOutcome::Created)),
            "every event stored"
        );
    }
    let recorded = proxy.recorded();

    // Counted by partition from the requests: each PutItem's item.
    let (mut by_time, mut by_actor) = (HashMap::<String, u64>::new(), HashMap::<String, u64>::new());
    let (mut event_puts, mut marker_puts, mut other, mut bytes) = (0u64, 0u64, HashMap::<String, u64>::new(), 0f64);
    for (operation, body) in &recorded {
        if operation != "PutItem" {
            *other.entry(operation.clone()).or_default() += 1;
            continue;
        }
        let request: Value = serde_json::from_slice(body).context("a PutItem body")?;
        let item = &request["Item"];
        let text = |name: &str| item[name]["S"].as_str().map(str::to_owned);
        let id = text(schema::ID).unwrap_or_default();
        if schema::is_marker(&id) {
            marker_puts += 1;
        } else {
            event_puts += 1;
            bytes += item_size(item);
        }
        if let Some(bucket) = text(schema::TIME_BUCKET) {
            *by_time.entry(bucket).or_default() += 1;
        }
        if let Some(actor) = text(schema::ACTOR) {
            *by_actor.entry(actor).or_default() += 1;
        }
    }
    // The model's counts for the same events.
    let (mut model_time, mut model_actor) = (HashMap::<String, u64>::new(), HashMap::<String, u64>::new());
    for (id, actor) in &sample {
        *model_time
            .entry(schema::time_bucket(day, schema::shard_of(id, w.time_shards)))
            .or_default() += 1;
        let partition = if w.actor_shards > 1 {
            schema::actor_partition(actor, schema::shard_of(id, w.actor_shards))
        } else {
            actor.clone()
        };
        *model_actor.entry(partition).or_default() += 1;
    }
    let markers_time: u64 = by_time
        .iter()
        .filter(|(k, _)| !model_time.contains_key(*k))
        .map(|(_, v)| v)
        .sum();
    let same_time = model_time.iter().all(|(k, v)| by_time.get(k) == Some(v));
    let same_actor = model_actor.iter().all(|(k, v)| by_actor.get(k) == Some(v)) && by_actor.len() == model_actor.len();
    println!(
        "check against dynalite: {n} events → {event_puts} event PutItems, {marker_puts} marker PutItems \
         ({markers_time} in by_time's day and actor lists, none in by_actor), other requests {other:?}"
    );
    println!(
        "  by_time: {} partitions, every count the model's: {same_time}; by_actor: {} partitions, every count the model's: {same_actor}",
        model_time.len(),
        model_actor.len()
    );
    let hottest = model_actor
        .iter()
        .max_by_key(|(_, v)| **v)
        .map(|(k, v)| (k.clone(), *v));
    if let Some((actor, count)) = hottest {
        println!(
            "  hottest by_actor partition `{actor}`: model {count}, measured {} writes",
            by_actor.get(&actor).copied().unwrap_or(0)
        );
    }
    anyhow::ensure!(
        same_time && same_actor,
        "the store's writes differ from the model's placement"
    );
    anyhow::ensure!(event_puts == n as u64, "one PutItem per event");

    // An actor's pages as the layout makes them: requests a page (its partitions are read in
    // parallel) and items read per item returned, for `system`, the busiest user and a rare one.
    let mut counts: Vec<(String, usize)> = {
        let mut by: HashMap<&str, usize> = HashMap::new();
        for (_, actor) in &sample {
            *by.entry(actor.as_str()).or_default() += 1;
        }
        by.into_iter().map(|(a, c)| (a.to_owned(), c)).collect()
    };
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let rare = counts.iter().rev().find(|(_, c)| *c >= 3).cloned();
    println!(
        "  actor pages (50 a page, up to 10 pages; {} partition(s) an actor):",
        w.actor_shards.max(1)
    );
    for (actor, events) in [counts.first().cloned(), counts.get(1).cloned(), rare]
        .into_iter()
        .flatten()
    {
        use audit_storage::EventStore;
        let filter = event_model::EventFilter::from_json(&serde_json::json!({"actor": actor}))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let (mut after, mut pages, mut returned, mut max_requests) = (None::<String>, 0u64, 0u64, 0u64);
        let (before, mut queries) = (store.read_stats(), 0u64);
        for _ in 0..10 {
            proxy.recording();
            let page = store.query(&filter, 50, after.as_deref()).await?;
            let requests = proxy.recorded().iter().filter(|(op, _)| op == "Query").count() as u64;
            queries += requests;
            max_requests = max_requests.max(requests);
            pages += 1;
            returned += page.events.len() as u64;
            after = page.next;
            if after.is_none() {
                break;
            }
        }
        let read = store.read_stats().items_read - before.items_read;
        println!(
            "    `{actor}` ({events} events): {:.1} requests a page (at most {max_requests}), {:.2} items read per item returned",
            queries as f64 / pages as f64,
            read as f64 / returned.max(1) as f64
        );
    }
    Ok(bytes / event_puts.max(1) as f64)
}

/// An item's size as DynamoDB counts it: each attribute's name and value (a string's UTF-8
/// bytes; a number about one byte per two digits, plus one).
fn item_size(item: &Value) -> f64 {
    item.as_object()
        .map(|attributes| {
            attributes
                .iter()
                .map(|(name, value)| {
                    let value = match (value.get("S"), value.get("N")) {
                        (Some(s), _) => s.as_str().map_or(0, str::len) as f64,
                        (_, Some(n)) => (n.as_str().map_or(0, str::len) as f64 / 2.0).ceil() + 1.0,
                        _ => 1.0,
                    };
                    name.len() as f64 + value
                })
                .sum()
        })
        .unwrap_or(0.0)
}
