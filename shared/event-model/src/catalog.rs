//! The catalog of event types: every event of the product document, grouped by category, with
//! the document's template text byte for byte.
//!
//! A template names its parameters in braces (`{project}`); [`crate::template`] renders them.
//! Parameters whose value needs a transformation before it is shown (`{status}` is rendered
//! lower-case, `{servers}` is a list joined with `, `) say so through [`Transform`].

use serde::{Deserialize, Serialize};

pub use crate::template::Transform;
use crate::template::{self, RenderError};

/// A category of events: the product document's headings, plus `custom` for events outside the
/// catalog and `audit` for the records the service keeps of its own use (who exported the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    License,
    Auth,
    Object,
    Sca,
    Tqi,
    Policy,
    Secrets,
    Container,
    Ldap,
    Misc,
    Custom,
    Audit,
}

impl Category {
    /// Every category, in the product document's order, then `custom` and `audit`.
    pub const ALL: [Category; 12] = [
        Category::License,
        Category::Auth,
        Category::Object,
        Category::Sca,
        Category::Tqi,
        Category::Policy,
        Category::Secrets,
        Category::Container,
        Category::Ldap,
        Category::Misc,
        Category::Custom,
        Category::Audit,
    ];

    /// The code used in the API and in storage (`sca`).
    pub fn code(self) -> &'static str {
        match self {
            Category::License => "license",
            Category::Auth => "auth",
            Category::Object => "object",
            Category::Sca => "sca",
            Category::Tqi => "tqi",
            Category::Policy => "policy",
            Category::Secrets => "secrets",
            Category::Container => "container",
            Category::Ldap => "ldap",
            Category::Misc => "misc",
            Category::Custom => "custom",
            Category::Audit => "audit",
        }
    }

    /// The product document's heading for the category ("SCA Analysis Execution").
    pub fn label(self) -> &'static str {
        match self {
            Category::License => "License Activation",
            Category::Auth => "User Authentication",
            Category::Object => "Object Management",
            Category::Sca => "SCA Analysis Execution",
            Category::Tqi => "TQI Analysis Execution",
            Category::Policy => "Policy Management",
            Category::Secrets => "Secrets Analysis",
            Category::Container => "Container Image Analysis",
            Category::Ldap => "LDAP Operations",
            Category::Misc => "Miscellaneous",
            Category::Custom => "Custom",
            Category::Audit => "Audit Log Access",
        }
    }

    pub fn parse(code: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What an event of a type says happened: a failure (the admin UI marks those rows), a success,
/// or neither (a step, a change, a notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Info,
}

impl Outcome {
    /// The outcome as the API writes it.
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Info => "info",
        }
    }
}

/// The type a parameter's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// Any scalar (string, number or boolean).
    Text,
    /// A non-negative integer (`sequence`, `count`, `policy_id`, `task_id`).
    Integer,
    /// A UUID (`run_id` of SCA and TQI run events).
    Uuid,
    /// A list of strings (`servers`).
    List,
}

/// One type of the catalog.
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    /// `sca.analysis_finished`.
    pub code: &'static str,
    pub category: Category,
    /// The product document's text with `{param}` placeholders.
    pub template: &'static str,
    /// The product document's description of the event.
    pub description: &'static str,
}

impl EventType {
    /// The placeholder names of the template, in order of first appearance.
    pub fn params(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for name in template::placeholders(self.template) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// How the value of `param` is shown in the message.
    /// The message of an event of this type with `params`.
    pub fn render(&self, params: &serde_json::Map<String, serde_json::Value>) -> Result<String, RenderError> {
        template::render(self.template, |param| self.transform(param), params)
    }

    pub fn transform(&self, param: &str) -> Transform {
        match (self.code, param) {
            ("license.key_problem", "status") => Transform::Lower,
            ("ldap.mapping_apply_failed", "servers") => Transform::JoinComma,
            _ => Transform::Plain,
        }
    }

    /// The type's outcome, from the product document's wording: failed, missing, refused,
    /// unreachable, skipped for an error, and changes behind the API are failures; finished,
    /// completed, logged in and activated are successes; the rest (steps started, objects
    /// changed, cancellations) is neither.
    pub fn outcome(&self) -> Outcome {
        match self.code {
            "license.key_missing"
            | "license.key_problem"
            | "auth.login_failed"
            | "sca.analysis_failed"
            | "sca.clone_failed"
            | "sca.branch_detect_failed"
            | "sca.analysis_not_started"
            | "tqi.authors_analysis_failed"
            | "tqi.clones_analysis_failed"
            | "policy.skipped"
            | "secrets.analysis_failed"
            | "secrets.training_failed"
            | "ldap.mapping_apply_failed"
            | "misc.tasks_failed"
            | "misc.oss_index_unreachable"
            | "misc.analysis_already_running"
            | "misc.parallel_forbidden"
            | "misc.repo_path_missing"
            | "misc.clone_failed_project_deleted"
            | "audit.record_modified"
            | "audit.record_removed" => Outcome::Failure,
            "license.activated"
            | "auth.logged_in"
            | "sca.analysis_finished"
            | "tqi.authors_analysis_completed"
            | "tqi.clones_analysis_completed"
            | "secrets.analysis_finished"
            | "secrets.training_finished" => Outcome::Success,
            _ => Outcome::Info,
        }
    }

    /// The type `param`'s value must have in this event type.
    pub fn param_kind(&self, param: &str) -> ParamKind {
        match param {
            "sequence" | "count" | "policy_id" | "task_id" => ParamKind::Integer,
            "run_id" if matches!(self.category, Category::Sca | Category::Tqi) => ParamKind::Uuid,
            _ if self.transform(param) == Transform::JoinComma => ParamKind::List,
            _ => ParamKind::Text,
        }
    }
}

/// Looks a type up by its code, in the catalog or among the service's own types.
/// Whether `code` is a well-formed client-defined type: `custom.` and a name of lower-case
/// letters, digits, `_`, `.` or `-` (the one rule; ingest also bounds its length).
pub fn is_custom_code(code: &str) -> bool {
    code.strip_prefix("custom.").is_some_and(|name| {
        !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    })
}

pub fn find(code: &str) -> Option<&'static EventType> {
    all_types().find(|t| t.code == code)
}

/// The types of one category.
pub fn of_category(category: Category) -> impl Iterator<Item = &'static EventType> {
    all_types().filter(move |t| t.category == category)
}

/// The catalog's types, then the service's own.
pub fn all_types() -> impl Iterator<Item = &'static EventType> {
    CATALOG.iter().chain(SERVICE_TYPES)
}

/// `audit.export_requested`: a read token or a person asked for an export.
pub static EXPORT_REQUESTED: &EventType = &SERVICE_TYPES[0];

/// Types only the service itself records (clients cannot send them): the audit log's record of
/// its own use, so nobody pulls the journal out unseen.
pub static SERVICE_TYPES: &[EventType] = &[
    EventType {
        code: "audit.export_requested",
        category: Category::Audit,
        template: "Export {export_id} of the audit log requested with filters: {filters}",
        description: "A read token requested a CSV export of the journal",
    },
    EventType {
        code: "audit.record_modified",
        category: Category::Audit,
        template: "Stored event {event_id} was modified behind the API",
        description: "The events table's stream showed an event changed in place, which the API never does",
    },
    EventType {
        code: "audit.record_removed",
        category: Category::Audit,
        template: "Stored event {event_id} was removed behind the API",
        description: "The events table's stream showed an event deleted other than by its retention (TTL)",
    },
    EventType {
        code: "audit.journal_searched",
        category: Category::Audit,
        template: "The audit log was searched with filters: {filters}",
        description: "A person searched the journal (once per search, not per page)",
    },
];

/// `audit.journal_searched`: a person searched the journal.
pub static JOURNAL_SEARCHED: &EventType = &SERVICE_TYPES[3];

/// `audit.record_modified`: the stream showed a stored event changed.
pub static RECORD_MODIFIED: &EventType = &SERVICE_TYPES[1];
/// `audit.record_removed`: the stream showed a stored event deleted, not by TTL.
pub static RECORD_REMOVED: &EventType = &SERVICE_TYPES[2];

macro_rules! catalog {
    ($($category:ident $code:literal $template:literal $description:literal;)*) => {
        /// Every event type of the product document (59), in the document's order.
        pub static CATALOG: &[EventType] = &[
            $(EventType {
                code: $code,
                category: Category::$category,
                template: $template,
                description: $description,
            },)*
        ];
    };
}

catalog! {
    License "license.activated" "Object created" "Activation of software license with owner and author limit specified";
    License "license.key_missing" "No activation key" "No activation key present";
    License "license.key_problem" "Problem with activation key: {status}" "Issue with activation key";

    Auth "auth.logged_in" "User logged in" "User successfully authenticated in the system";
    Auth "auth.logged_out" "User logged out" "User logged out of the system";
    Auth "auth.login_failed" "Failed login attempt {username}" "Incorrect password entered during authentication attempt";

    Object "object.created" "Object {instance} created" "Creation of any object in the system via user interface";
    Object "object.updated" "Object {instance} updated" "Update of any object in the system via user interface";
    Object "object.deleted" "Object {instance} deleted" "Deletion of any object in the system via user interface";

    Sca "sca.analysis_started" "[SCA][{project}][{sequence}/{run_id}] Analysis started" "SCA analysis of the project started";
    Sca "sca.analysis_finished" "[SCA][{project}][{sequence}/{run_id}] Analysis finished" "SCA analysis of the project completed";
    Sca "sca.analysis_failed" "[SCA][{project}][{sequence}/{run_id}] Analysis failed. Check server logs." "SCA analysis of the project failed. Check server logs.";
    Sca "sca.clone_failed" "Failed to clone for repository {repository}." "Repository cloning failed";
    Sca "sca.branch_detect_failed" "Failed to detect branch for repository \"{repository}" "Failed to detect branch for repository";
    Sca "sca.clone_source" "[SCA][{project}][{sequence}/{run_id}] Clone source code" "Project source code cloning started";
    Sca "sca.collect_files" "[SCA][{project}][{sequence}/{run_id}] Collect files data" "File data collection for the project started";
    Sca "sca.collect_manifests" "[SCA][{project}][{sequence}/{run_id}] Collect manifests" "Manifest collection for the project started";
    Sca "sca.create_pipeline" "[SCA][{project}][{sequence}/{run_id}] Create pipeline" "Pipeline creation for SCA analysis started";
    Sca "sca.check_policies" "[SCA][{project}][{sequence}/{run_id}] Check policies" "Policy checking for SCA analysis started";
    Sca "sca.update_metrics" "[SCA][{project}][{sequence}/{run_id}] Update project metrics" "Project metrics update for SCA analysis started";
    Sca "sca.analyze_dependencies" "[SCA][{project}][{sequence}/{run_id}] Analyze dependencies" "Dependency analysis for SCA started";
    Sca "sca.analysis_not_started" "[[SCA][{project}] Analysis didn't start (Reason: {reason})]" "SCA analysis did not start due to an error";
    Sca "sca.overall_run_started" "Overall SCA run started for {count} project(s)" "Overall SCA analysis for projects started";

    Tqi "tqi.author_rebuilt" "Rebuild author {primary_email}" "Updating author information based on merge rules by primary email";
    Tqi "tqi.merge_rules_generated" "Generate authors merge rules" "Creating author merge rules";
    Tqi "tqi.collect_commits" "(Run #{run_id}) Collect commits data for project {project}" "Commit data collection for the project started";
    Tqi "tqi.create_authors" "(Run #{run_id}) Create authors" "Author creation started";
    Tqi "tqi.load_oss_contributions" "(Run #{run_id}) Load authors OSS contributions" "Loading authors' contributions to OSS";
    Tqi "tqi.authors_analysis_started" "(Run #{run_id}) Authors analysis started" "Author analysis started";
    Tqi "tqi.authors_analysis_completed" "(Run #{run_id}) Authors analysis completed" "Author analysis successfully completed";
    Tqi "tqi.authors_analysis_failed" "(Run #{run_id}) Authors analysis failed. Check server logs." "Author analysis failed. Check server logs.";
    Tqi "tqi.authors_analysis_cancelled" "(Run #{run_id}) Authors analysis cancelled" "Author analysis canceled";
    Tqi "tqi.update_project" "(Run #{run_id}) Update project {project}" "Project update started";
    Tqi "tqi.clones_analysis_started" "(Run #{run_id}) Clones analysis started" "Cloned code analysis started";
    Tqi "tqi.clones_analysis_completed" "(Run #{run_id}) Clones analysis completed" "Cloned code analysis completed";
    Tqi "tqi.clones_analysis_failed" "(Run #{run_id}) Clones analysis failed. Check server logs." "Cloned code analysis failed. Check server logs.";
    Tqi "tqi.clones_analysis_cancelled" "(Run #{run_id}) Clones analysis cancelled" "Cloned code analysis canceled";
    Tqi "tqi.clone_source" "(Run #{run_id}) Clone source code for project {project}" "Project source code repository cloning started";

    Policy "policy.ignore_created" "Policy ignore {policy_ignore} created" "Creation of a policy ignore rule";
    Policy "policy.ignore_activated" "Policy ignore {policy_ignore} activated" "Activation of a policy ignore rule";
    Policy "policy.added_to_ignore" "To Policy ignore {policy_ignore} added Policy {policy}" "Policy added to an existing ignore rule";
    Policy "policy.skipped" "Policy \"{policy_name}\" (id: {policy_id}) skipped. Reason: {reason}" "Policy skipped due to an error";

    Secrets "secrets.analysis_started" "[Secrets][{analysis_object}] Analysis started" "Secrets analysis started";
    Secrets "secrets.training_started" "[Secrets] Training run started" "Training of the user model based on labeling results started";
    Secrets "secrets.analysis_finished" "[Secrets][{analysis_object}] Analysis finished" "Secrets analysis completed";
    Secrets "secrets.training_finished" "[Secrets] Training run finished" "Training of the user model based on labeling results completed";
    Secrets "secrets.analysis_failed" "[Secrets][{analysis_object}] Analysis failed. Check server logs." "Secrets analysis failed";
    Secrets "secrets.training_failed" "[Secrets] Training run failed. Check server logs." "User model training failed";

    Container "container.dependency_changed" "In container image {container_image} dependency {dependency} was changed" "A dependency was changed in the container image";
    Container "container.images_update_triggered" "Updating images list for registry {container_registry} triggered via update button." "Forced update of the image list from the registry started";

    Ldap "ldap.mapping_apply_triggered" "Applying all LDAP group mapping rules triggered" "Execution of all LDAP group mapping rules started";
    Ldap "ldap.mapping_apply_failed" "{message} While processing, failed to apply some of rules related to following LDAP servers: {servers}. Check server logs." "Error applying group mapping rules for specified LDAP servers";

    Misc "misc.api_analysis_started" "(Run #{task_id}) Analysis started via API" "Analysis started via API";
    Misc "misc.tasks_failed" "Some tasks in analysis failed" "Some tasks in the analysis failed";
    Misc "misc.oss_index_unreachable" "Could not connect to OSS Index, reason: {reason}" "Could not connect to OSS Index due to an error";
    Misc "misc.analysis_already_running" "There is already running analysis" "Analysis is already running";
    Misc "misc.parallel_forbidden" "Another analysis in progress. Parallel execution forbidden." "Parallel execution of analysis is forbidden";
    Misc "misc.repo_path_missing" "Repo path for {project} does not exist, setting status to Not cloned" "Repository path not found, status set to \"Not cloned\"";
    Misc "misc.clone_failed_project_deleted" "Failed to clone for repository {repo_name} because project was deleted" "Failed to clone the repository because the project was deleted";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_holds_59_types_in_10_categories() {
        assert_eq!(CATALOG.len(), 59);
        let mut categories: Vec<Category> = CATALOG.iter().map(|t| t.category).collect();
        categories.dedup();
        assert_eq!(categories.len(), 10);
        assert!(!categories.contains(&Category::Custom));
        assert!(!categories.contains(&Category::Audit));
    }

    #[test]
    fn service_types_are_found_but_kept_apart_from_the_catalog() {
        let t = find("audit.export_requested").unwrap();
        assert_eq!(t.category, Category::Audit);
        assert_eq!(t.params(), ["export_id", "filters"]);
        let audit: Vec<&str> = of_category(Category::Audit).map(|t| t.code).collect();
        assert_eq!(
            audit,
            [
                "audit.export_requested",
                "audit.record_modified",
                "audit.record_removed",
                "audit.journal_searched"
            ]
        );
        assert_eq!(find("audit.record_removed").unwrap().params(), ["event_id"]);
        assert_eq!(find("audit.journal_searched").unwrap().params(), ["filters"]);
        assert_eq!(all_types().count(), 63);
    }

    #[test]
    fn failures_and_successes_are_marked_and_every_code_named_exists() {
        let count = |outcome| all_types().filter(|t| t.outcome() == outcome).count();
        // A misspelt code in `outcome` would drop out of these counts.
        assert_eq!(
            (count(Outcome::Failure), count(Outcome::Success), count(Outcome::Info)),
            (21, 7, 35)
        );
        for t in all_types() {
            let text = format!("{} {}", t.template, t.description).to_lowercase();
            if text.contains("fail") || text.contains("error") || text.contains("problem") {
                assert_eq!(t.outcome(), Outcome::Failure, "{}", t.code);
            }
        }
        assert_eq!(find("auth.login_failed").unwrap().outcome(), Outcome::Failure);
        assert_eq!(find("sca.analysis_finished").unwrap().outcome(), Outcome::Success);
        assert_eq!(find("tqi.clones_analysis_cancelled").unwrap().outcome(), Outcome::Info);
    }

    #[test]
    fn every_code_is_unique_and_prefixed_by_its_category() {
        for (i, t) in CATALOG.iter().enumerate() {
            assert!(t.code.starts_with(&format!("{}.", t.category.code())), "{}", t.code);
            assert!(CATALOG[i + 1..].iter().all(|o| o.code != t.code), "{}", t.code);
        }
    }

    #[test]
    fn typed_params_are_known_per_type() {
        let finished = find("sca.analysis_finished").unwrap();
        assert_eq!(finished.params(), ["project", "sequence", "run_id"]);
        assert_eq!(finished.param_kind("sequence"), ParamKind::Integer);
        assert_eq!(finished.param_kind("run_id"), ParamKind::Uuid);
        assert_eq!(finished.param_kind("project"), ParamKind::Text);
        let ldap = find("ldap.mapping_apply_failed").unwrap();
        assert_eq!(ldap.param_kind("servers"), ParamKind::List);
        assert_eq!(
            find("misc.api_analysis_started").unwrap().param_kind("task_id"),
            ParamKind::Integer
        );
    }

    #[test]
    fn category_codes_round_trip() {
        for c in Category::ALL {
            assert_eq!(Category::parse(c.code()), Some(c));
        }
        assert_eq!(Category::parse("nope"), None);
    }
}
