//! Architecture decision records in MADR format, one per flow, and the plan
//! that keeps a folder of them honest as flows.yaml changes.
//!
//! Decision records are history: a changed decision gets a new record, and
//! the old one is only marked `superseded by ADR-NNNN`; an unchanged one is
//! left alone, byte for byte. Each record carries the flow's name and a
//! fingerprint of what was decided in its front matter, which is how a
//! re-run tells the two apart and recognises its own records among a team's
//! hand-written ones (which it never touches). This module is pure: the
//! command reads the folder and writes what the [`Plan`] says.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use sha2::{Digest as _, Sha256};

use crate::engine::evaluate::{Recommendation, Report};
use crate::render::escape::{markdown_inert as inert, markdown_no_html as no_html};
use crate::render::{decided, disk_line, margin, requirements, topic_line};
use crate::spec::model::{Flow, FlowsFile, Transport};

/// What a re-run does to a folder of records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// New records: file name and text.
    pub create: Vec<(String, String)>,
    /// Records to mark superseded: file name, its new text, and the file
    /// name of the record that supersedes it.
    pub supersede: Vec<(String, String, String)>,
    /// Records that still say what the rules decide.
    pub unchanged: Vec<String>,
    /// Accepted records of flows no longer in flows.yaml: left as they are.
    pub orphaned: Vec<String>,
}

/// What a record of ours says about itself in its front matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub flow: String,
    pub fingerprint: String,
    pub status: String,
}

/// The record's number, from a name such as `0007-use-kafka-for-x.md`.
pub fn number(file_name: &str) -> Option<u32> {
    let digits = file_name.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || file_name.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    digits.parse().ok()
}

/// What was decided for a flow, as a short hash: the flow as written (every
/// field, so any change to it counts) and the transport chosen.
pub fn fingerprint(flow: &Flow, rec: &Recommendation) -> String {
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_string(flow).unwrap_or_default());
    hasher.update(b"\n");
    hasher.update(rec.transport.as_str());
    let digest = hasher.finalize();
    digest.iter().take(8).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Reads the front matter of a record written by commsadvise; `None` for
/// any other file.
pub fn meta(text: &str) -> Option<Meta> {
    let body = text.strip_prefix("---\n")?;
    let end = body.find("\n---\n")?;
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for line in body[..end].lines() {
        if let Some((key, value)) = line.split_once(':') {
            fields.insert(key.trim(), value.trim().trim_matches('"'));
        }
    }
    Some(Meta {
        flow: (*fields.get("flow")?).to_owned(),
        fingerprint: (*fields.get("fingerprint")?).to_owned(),
        status: (*fields.get("status")?).to_owned(),
    })
}

/// `text` with its front matter's status changed to "superseded by ADR-n";
/// nothing else in the record changes.
pub fn superseded(text: &str, by: u32) -> String {
    let mut out = String::with_capacity(text.len() + 24);
    let mut in_front_matter = false;
    let mut done = false;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end() == "---" {
            in_front_matter = i == 0;
        }
        if in_front_matter && !done && line.starts_with("status:") {
            let _ = writeln!(out, "status: \"superseded by ADR-{by:04}\"");
            done = true;
            continue;
        }
        out.push_str(line);
    }
    out
}

/// The plan for `existing` records (file name, text) given the report.
pub fn plan(existing: &[(String, String)], file: &FlowsFile, report: &Report, date: &str) -> Plan {
    let mut next = existing
        .iter()
        .filter_map(|(name, _)| number(name))
        .max()
        .unwrap_or(0)
        + 1;
    // Our records by flow, oldest first: (number, file name, text, meta).
    let mut ours: BTreeMap<String, Vec<(u32, &str, &str, Meta)>> = BTreeMap::new();
    for (name, text) in existing {
        if let (Some(n), Some(m)) = (number(name), meta(text)) {
            ours.entry(m.flow.clone())
                .or_default()
                .push((n, name.as_str(), text.as_str(), m));
        }
    }
    for records in ours.values_mut() {
        records.sort_by_key(|r| r.0);
    }
    let mut plan = Plan::default();
    for (flow, rec) in file.flows.iter().zip(&report.flows) {
        let print = fingerprint(flow, rec);
        let records = ours.get(&flow.name).map_or(&[][..], Vec::as_slice);
        if let Some((_, name, _, m)) = records.last()
            && m.fingerprint == print
        {
            plan.unchanged.push((*name).to_owned());
            continue;
        }
        let previous: Vec<u32> = records
            .iter()
            .filter(|r| r.3.status == "accepted")
            .map(|r| r.0)
            .collect();
        let name = file_name(next, flow, rec.transport);
        plan.create.push((
            name.clone(),
            record(next, flow, rec, date, &print, &previous),
        ));
        for (_, old, text, _) in records.iter().filter(|r| r.3.status == "accepted") {
            plan.supersede
                .push(((*old).to_owned(), superseded(text, next), name.clone()));
        }
        next += 1;
    }
    for (flow, records) in &ours {
        if file.flows.iter().any(|f| f.name == *flow) {
            continue;
        }
        for (_, name, _, m) in records {
            if m.status == "accepted" {
                plan.orphaned.push((*name).to_owned());
            }
        }
    }
    plan
}

/// `0004-use-kafka-for-order-created.md`.
pub fn file_name(number: u32, flow: &Flow, transport: Transport) -> String {
    format!("{number:04}-use-{transport}-for-{}.md", flow.name)
}

/// One MADR record for one flow.
pub fn record(
    number: u32,
    flow: &Flow,
    rec: &Recommendation,
    date: &str,
    fingerprint: &str,
    supersedes: &[u32],
) -> String {
    let chosen = rec.transport.title();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "---\nstatus: accepted\ndate: {date}\ndecision-makers: commsadvise, from flows.yaml\nflow: {}\nfingerprint: {fingerprint}\n---\n",
        flow.name
    );
    let _ = writeln!(
        out,
        "# ADR-{number:04}: Use {chosen} for flow `{}`\n",
        flow.name
    );

    let _ = writeln!(out, "## Context and Problem Statement\n");
    let receivers: Vec<String> = flow.to.iter().map(|t| format!("`{t}`")).collect();
    let _ = write!(out, "`{}` talks to {}", flow.from, receivers.join(", "));
    match &flow.description {
        Some(d) => {
            // One line, inert: a description must not end the paragraph or
            // bring HTML into the record.
            let one_line = d.split_whitespace().collect::<Vec<_>>().join(" ");
            let _ = writeln!(out, ": {}", inert(&sentence(&one_line)));
        }
        None => out.push_str(".\n"),
    }
    let _ = writeln!(
        out,
        "\nWhich transport should carry flow `{}`?\n",
        flow.name
    );
    let needs = requirements(flow);
    if needs.is_empty() {
        let _ = writeln!(
            out,
            "The flow states no requirements beyond the defaults of flows.yaml.\n"
        );
    } else {
        let _ = writeln!(
            out,
            "Requirements from flows.yaml (everything else at its default):\n"
        );
        for (k, v) in &needs {
            let _ = writeln!(out, "* `{k}: {v}`");
        }
        out.push('\n');
    }

    let _ = writeln!(out, "## Decision Drivers\n");
    for r in rec.reasons.iter() {
        let _ = writeln!(
            out,
            "* **{}** (`{}`, {}): {}",
            r.criterion,
            r.rule,
            r.effect,
            no_html(&r.text)
        );
    }

    options(&mut out, rec);
    let _ = writeln!(out, "\n## Decision Outcome\n");
    let because = rec
        .reasons
        .iter()
        .find(|r| r.transport == rec.transport)
        .map_or_else(
            || "the rules point there".to_owned(),
            |r| no_html(&lower_first(first_sentence(&r.text))),
        );
    let _ = writeln!(
        out,
        "Chosen option: \"{chosen}\", because {because} (decided by {}; margin {}).",
        decided(rec),
        margin(rec)
    );
    if rec.pinned && rec.rules_choice != rec.transport {
        let _ = writeln!(
            out,
            "\nThe flow pins `transport: {}`; the rules alone would pick {}.",
            rec.transport,
            rec.rules_choice.title()
        );
    }

    consequences(&mut out, rec);
    let _ = writeln!(out, "\n## More Information\n");
    if !supersedes.is_empty() {
        let list: Vec<String> = supersedes.iter().map(|n| format!("ADR-{n:04}")).collect();
        let _ = writeln!(out, "Supersedes {}.\n", list.join(", "));
    }
    let _ = writeln!(
        out,
        "Generated by `commsadvise adr` from flows.yaml. Re-running it leaves this record alone while the flow and its decision stay the same; when they change, it writes a new record and marks this one superseded."
    );
    out
}

/// "Considered Options": every transport with its score and hard rules.
fn options(out: &mut String, rec: &Recommendation) {
    let _ = writeln!(out, "\n## Considered Options\n");
    for t in Transport::ALL {
        let mut notes = Vec::new();
        if *t == rec.transport {
            notes.push("chosen".to_owned());
        }
        if rec.pinned && *t == rec.rules_choice && *t != rec.transport {
            notes.push("the rules' choice".to_owned());
        }
        for r in rec.reasons.iter() {
            if r.transport == *t && r.hard {
                notes.push(format!("{} by `{}`", r.effect, r.rule));
            }
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        let _ = writeln!(out, "* {}: score {:+}{notes}", t.title(), rec.scores[*t]);
    }
}

/// "Consequences": the reasons for the choice, its risks and conflicts,
/// and the Kafka topic when there is one.
fn consequences(out: &mut String, rec: &Recommendation) {
    let _ = writeln!(out, "\n### Consequences\n");
    for r in rec
        .reasons
        .iter()
        .filter(|r| r.transport == rec.transport && r.points >= 0.0)
    {
        let _ = writeln!(out, "* Good, because {} (`{}`)", clause(&r.text), r.rule);
    }
    for r in rec.risks.iter() {
        let _ = writeln!(out, "* Bad, because {} (`{}`)", clause(&r.text), r.id);
    }
    for c in rec.conflicts.iter() {
        let _ = writeln!(out, "* Bad, because {} (`{}`)", clause(&c.text), c.id);
    }
    if let Some(k) = &rec.kafka {
        let _ = writeln!(out, "\n### Kafka topic\n");
        let _ = writeln!(out, "* {}", topic_line(k));
        let _ = writeln!(out, "* {}", disk_line(k));
        let _ = writeln!(out, "* {}", k.warning);
    }
}

/// A text ending in a full stop (or another closing mark).
fn sentence(text: &str) -> String {
    let text = text.trim_end();
    if text.ends_with(['.', '!', '?']) {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

/// The first sentence of `text`, without its full stop.
fn first_sentence(text: &str) -> &str {
    let first = text.find(". ").map_or(text, |i| &text[..i]);
    first.trim_end_matches('.')
}

/// A whole rule text as a "because …" clause: lowercased start, no final
/// stop, and no HTML, control or bidirectional characters (`no_html`).
fn clause(text: &str) -> String {
    no_html(&lower_first(text.trim_end().trim_end_matches('.')))
}

/// "Consumers must…" → "consumers must…", for "because …" clauses; words
/// in capitals (REST, N+1) keep them.
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(first), Some(second))
            if first.is_uppercase()
                && (second.is_lowercase() || (first == 'A' && second == ' ')) =>
        {
            first
                .to_lowercase()
                .chain(std::iter::once(second))
                .chain(chars)
                .collect()
        }
        _ => text.to_owned(),
    }
}

/// The latest Unix time a record is dated with: 9999-12-31, the last day
/// a four-digit year can write.
const LAST_EPOCH: i64 = 253_402_300_799;

/// A `SOURCE_DATE_EPOCH` value: whole seconds since 1970, no sign, no
/// fraction, up to the year 9999.
pub fn epoch(text: &str) -> Result<i64, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("it must be a whole number of seconds, digits only".into());
    }
    match text.parse::<i64>() {
        Ok(seconds) if seconds <= LAST_EPOCH => Ok(seconds),
        _ => Err("it is after the year 9999".into()),
    }
}

/// Why `date` (`YYYY-MM-DD`) is not a day of the calendar, if it is not.
pub fn check_date(date: &str) -> Result<(), String> {
    let parts: Vec<&str> = date.split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return Err("expected a date such as 2025-01-31".into());
    };
    let number = |part: &str, len: usize| {
        (part.len() == len && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse::<u32>().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (number(year, 4), number(month, 2), number(day, 2))
    else {
        return Err("expected a date such as 2025-01-31".into());
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(format!("there is no month {month:02}")),
    };
    if day == 0 || day > days {
        return Err(format!("{year:04}-{month:02} has {days} days"));
    }
    Ok(())
}

/// The calendar date (UTC) of a Unix time, as `YYYY-MM-DD`.
pub fn date(unix_seconds: i64) -> String {
    // Howard Hinnant's civil-from-days.
    let days = unix_seconds.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{RuleSet, recommend};
    use crate::spec::load_str;

    const ORDERS: &str = include_str!("../../examples/orders.yaml");

    fn planned(yaml: &str, existing: &[(String, String)]) -> Plan {
        let file = load_str("flows.yaml", yaml).expect("loads");
        let report = recommend(&file, &RuleSet::builtin().expect("rules"));
        plan(existing, &file, &report, "2025-01-02")
    }

    fn written(plan: &Plan) -> Vec<(String, String)> {
        plan.create.clone()
    }

    #[test]
    fn dates_are_civil_utc_days() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_735_776_000), "2025-01-02");
        assert_eq!(date(-86_400), "1969-12-31");
    }

    #[test]
    fn refuses_days_the_calendar_lacks() {
        assert_eq!(check_date("2024-02-29"), Ok(()));
        assert_eq!(check_date("2024-02-30"), Err("2024-02 has 29 days".into()));
        assert_eq!(check_date("2023-02-29"), Err("2023-02 has 28 days".into()));
        assert_eq!(check_date("1900-02-29"), Err("1900-02 has 28 days".into()));
        assert_eq!(check_date("2025-04-31"), Err("2025-04 has 30 days".into()));
        assert!(check_date("2025-13-01").is_err());
        assert!(check_date("2025-1-01").is_err());
    }

    #[test]
    fn reads_source_date_epoch_strictly() {
        assert_eq!(epoch("1735603200"), Ok(1_735_603_200));
        for bad in ["", "-1", "1.5", " 12", "12abc", "99999999999999999999"] {
            assert!(epoch(bad).is_err(), "{bad}");
        }
        assert_eq!(date(LAST_EPOCH), "9999-12-31");
    }

    #[test]
    fn a_first_run_writes_one_record_per_flow() {
        let plan = planned(ORDERS, &[]);
        let names: Vec<&str> = plan.create.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "0001-use-rest-for-get-order.md",
                "0002-use-grpc-for-lookup-order.md",
                "0003-use-kafka-for-order-created.md"
            ]
        );
        assert!(plan.supersede.is_empty() && plan.unchanged.is_empty());
    }

    #[test]
    fn a_second_run_on_the_same_file_changes_nothing() {
        let first = written(&planned(ORDERS, &[]));
        let second = planned(ORDERS, &first);
        assert!(second.create.is_empty() && second.supersede.is_empty());
        assert_eq!(second.unchanged.len(), 3);
    }

    #[test]
    fn a_changed_flow_gets_a_new_record_and_supersedes_the_old() {
        let first = written(&planned(ORDERS, &[]));
        let changed = ORDERS.replace(
            "    latency_ms: 10\n",
            "    latency_ms: 10\n    interaction: stream\n",
        );
        let second = planned(&changed, &first);
        assert_eq!(second.create.len(), 1);
        assert_eq!(second.create[0].0, "0004-use-grpc-for-lookup-order.md");
        assert!(second.create[0].1.contains("Supersedes ADR-0002."));
        assert_eq!(second.supersede.len(), 1);
        let (old, text, by) = &second.supersede[0];
        assert_eq!(old, "0002-use-grpc-for-lookup-order.md");
        assert_eq!(by, "0004-use-grpc-for-lookup-order.md");
        assert!(text.contains("status: \"superseded by ADR-0004\"\n"));
        let original = &first[1].1;
        assert_eq!(
            text.replace("status: \"superseded by ADR-0004\"", "status: accepted"),
            *original,
            "only the status line changes"
        );
    }

    #[test]
    fn hand_written_records_are_numbered_around_and_never_touched() {
        let mine = (
            "0001-record-architecture-decisions.md".to_owned(),
            "# Record architecture decisions\n".to_owned(),
        );
        let plan = planned(ORDERS, &[mine]);
        assert_eq!(plan.create[0].0, "0002-use-rest-for-get-order.md");
        assert!(plan.supersede.is_empty());
    }

    #[test]
    fn records_of_removed_flows_are_reported_not_changed() {
        let first = written(&planned(ORDERS, &[]));
        let fewer = ORDERS
            .split("  - name: order-created")
            .next()
            .expect("head")
            .to_owned();
        let plan = planned(&fewer, &first);
        assert_eq!(plan.orphaned, ["0003-use-kafka-for-order-created.md"]);
        assert!(plan.create.is_empty() && plan.supersede.is_empty());
    }

    #[test]
    fn lowercases_only_ordinary_first_words() {
        assert_eq!(lower_first("Consumers must"), "consumers must");
        assert_eq!(lower_first("REST is simple"), "REST is simple");
        assert_eq!(lower_first("N+1 calls"), "N+1 calls");
        assert_eq!(lower_first("A browser"), "a browser");
    }
}
