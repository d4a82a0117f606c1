//! From flows.yaml text to a validated [`FlowsFile`].
//!
//! serde reads the file into raw types that keep every value's position
//! ([`Spanned`]); validation then applies SPEC §2 — names, keywords,
//! defaults, uniqueness — and reports every problem it finds, each pointing
//! at its line and column, rather than stopping at the first.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::Value as Json;
use serde_saphyr::Spanned;

use crate::error::{Diagnostic, Error, did_you_mean};
use crate::spec::model::{
    Client, Contract, Coupling, Delivery, Flow, FlowsFile, Format, Interaction, Ordering, Pos,
    Service, Transport,
};
use crate::spec::names;
use crate::yaml;

/// The top level of flows.yaml, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// Must be 1.
    #[serde(default)]
    version: Option<Spanned<Json>>,
    /// Names the generated workspace.
    #[serde(default)]
    system: Option<Spanned<String>>,
    /// What the organisation can run.
    #[serde(default)]
    transports: Option<Spanned<Vec<Spanned<String>>>>,
    /// Declared services; services named by flows are implied.
    #[serde(default)]
    services: Option<HashMap<Spanned<String>, Option<RawService>>>,
    #[serde(default)]
    flows: Option<Spanned<Vec<Spanned<RawFlow>>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    #[serde(default)]
    description: Option<String>,
}

/// One flow, as written; every field optional so that validation can say
/// precisely what is missing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    #[serde(default)]
    name: Option<Spanned<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    from: Option<Spanned<String>>,
    #[serde(default)]
    to: Option<Spanned<Json>>,
    #[serde(default)]
    interaction: Option<Spanned<String>>,
    #[serde(default)]
    client: Option<Spanned<String>>,
    #[serde(default)]
    coupling: Option<Spanned<String>>,
    #[serde(default)]
    latency_ms: Option<Spanned<u64>>,
    #[serde(default)]
    throughput: Option<Spanned<u64>>,
    #[serde(default)]
    delivery: Option<Spanned<String>>,
    #[serde(default)]
    replay: Option<Spanned<bool>>,
    #[serde(default)]
    ordering: Option<Spanned<String>>,
    #[serde(default)]
    format: Option<Spanned<String>>,
    #[serde(default)]
    contract: Option<Spanned<String>>,
    #[serde(default)]
    payload_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    topic: Option<Spanned<String>>,
    #[serde(default)]
    transport: Option<Spanned<String>>,
}

/// Every key a flow accepts, in SPEC order, for "accepted:" notes.
pub const FLOW_KEYS: &[&str] = &[
    "name",
    "description",
    "from",
    "to",
    "interaction",
    "client",
    "coupling",
    "latency_ms",
    "throughput",
    "delivery",
    "replay",
    "ordering",
    "format",
    "contract",
    "payload_bytes",
    "topic",
    "transport",
];

/// Just enough of the file to name the flow an early parse error is in.
#[derive(Deserialize)]
struct Outline {
    #[serde(default)]
    flows: Option<Vec<Spanned<OutlineFlow>>>,
}

#[derive(Deserialize)]
struct OutlineFlow {
    #[serde(default)]
    name: Option<String>,
}

/// Loads and validates a flows file from its bytes.
pub fn load(file: &str, bytes: &[u8]) -> Result<FlowsFile, Error> {
    let text = yaml::text(file, bytes)?;
    load_str(file, text)
}

/// Loads and validates a flows file from text.
pub fn load_str(file: &str, text: &str) -> Result<FlowsFile, Error> {
    let raw: RawFile = yaml::parse(file, text).map_err(|d| in_flow_context(d, text))?;
    let mut v = Validator {
        file,
        lines: text.lines().collect(),
        errors: Vec::new(),
    };
    let flows_file = v.file(raw);
    if v.errors.is_empty() {
        return Ok(flows_file);
    }
    let total = v.errors.len();
    if total > MAX_ERRORS {
        v.errors.truncate(MAX_ERRORS);
        v.errors.push(
            Diagnostic::new(
                format!("{} more errors not shown", total - MAX_ERRORS),
                file,
            )
            .note("fix the errors above and run again"),
        );
    }
    Err(Error::Input(v.errors))
}

/// Adds "in flow `x`" to a parse error that sits inside a flow, found from a
/// lenient second reading of the file.
fn in_flow_context(mut d: Diagnostic, text: &str) -> Diagnostic {
    let Some(at) = d.pos else { return d };
    let Ok(outline) = serde_saphyr::from_str::<Outline>(text) else {
        return d;
    };
    let Some(flows) = outline.flows else { return d };
    let mut containing = None;
    for flow in &flows {
        if yaml::pos(flow.referenced) <= at {
            containing = Some(flow);
        }
    }
    // An unknown top-level key after the flows is not inside the last flow.
    let top_level = d.notes.iter().any(|n| n.contains("version, system"));
    if let (Some(flow), false) = (containing, top_level) {
        let name = flow.value.name.as_deref().unwrap_or("(unnamed)");
        d.message = format!("{} in flow `{name}`", d.message);
        if d.message.starts_with("unknown field") {
            d.notes = vec![format!("accepted: {}", FLOW_KEYS.join(", "))];
        }
    }
    d
}

/// More errors than this are counted, not shown: a file that is wrong
/// everywhere needs its first problems fixed, not ten thousand carets.
const MAX_ERRORS: usize = 50;

struct Validator<'a> {
    file: &'a str,
    /// The source, split once, so pointing at a line costs nothing.
    lines: Vec<&'a str>,
    errors: Vec<Diagnostic>,
}

impl Validator<'_> {
    /// A diagnostic at `at`, with its source line.
    fn diagnostic(&self, message: String, at: Pos, width: usize) -> Diagnostic {
        let line = self.lines.get(at.line.saturating_sub(1)).copied();
        Diagnostic::new(message, self.file).at_line(line, at, width)
    }

    fn error(&mut self, message: String, at: Option<Pos>, width: usize) -> &mut Diagnostic {
        let d = match at {
            Some(at) => self.diagnostic(message, at, width),
            None => Diagnostic::new(message, self.file),
        };
        self.errors.push(d);
        self.errors.last_mut().expect("just pushed")
    }

    fn file(&mut self, raw: RawFile) -> FlowsFile {
        self.version(raw.version.as_ref());
        let system = match raw.system {
            Some(s) => {
                self.name(&s, "system", None);
                s.value
            }
            None => "system".to_owned(),
        };
        let transports = self.transports(raw.transports.as_ref());
        let mut services = BTreeMap::new();
        let mut declared: Vec<(String, Pos)> = Vec::new();
        for (name, service) in raw.services.unwrap_or_default() {
            declared.push((name.value.clone(), yaml::pos(name.referenced)));
            services.insert(
                name.value,
                Service {
                    description: service.and_then(|s| s.description),
                },
            );
        }
        declared.sort();
        for (name, at) in &declared {
            if let Err(why) = names::check_service(name) {
                self.error(
                    format!("invalid service name `{name}`: {why}"),
                    Some(*at),
                    name.len(),
                )
                .notes
                .push(
                    "names are lowercase ASCII letters, digits and '-', starting with a letter"
                        .into(),
                );
            }
        }
        let flows = self.flows(raw.flows, &transports, &declared);
        for flow in &flows {
            for service in std::iter::once(&flow.from).chain(&flow.to) {
                services.entry(service.clone()).or_default();
            }
        }
        FlowsFile {
            version: 1,
            system,
            transports,
            services,
            flows,
        }
    }

    fn version(&mut self, version: Option<&Spanned<Json>>) {
        match version {
            None => {
                self.error("missing `version`".into(), None, 1)
                    .notes
                    .push("add `version: 1` at the top of the file".into());
            }
            Some(v) if v.value.as_u64() == Some(1) => {}
            Some(v) => {
                let shown = match &v.value {
                    Json::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.error(
                    format!("unsupported version `{shown}`"),
                    Some(yaml::pos(v.referenced)),
                    shown.len(),
                )
                .notes
                .push("accepted: 1 (the only version of flows.yaml)".into());
            }
        }
    }

    fn transports(&mut self, raw: Option<&Spanned<Vec<Spanned<String>>>>) -> Vec<Transport> {
        let Some(raw) = raw else {
            return Transport::ALL.to_vec();
        };
        if raw.value.is_empty() {
            self.error("`transports` is empty".into(), Some(yaml::pos(raw.referenced)), 1)
                .notes
                .push("list at least one of: rest, grpc, kafka (or leave `transports` out to allow all three)".into());
            return Transport::ALL.to_vec();
        }
        let mut out = Vec::new();
        for t in &raw.value {
            let Some(parsed) =
                self.keyword::<Transport>(t, "transport", None, Transport::parse, Transport::NAMES)
            else {
                continue;
            };
            if out.contains(&parsed) {
                self.error(
                    format!("transport `{parsed}` is listed twice"),
                    Some(yaml::pos(t.referenced)),
                    t.value.len(),
                );
            } else {
                out.push(parsed);
            }
        }
        out.sort();
        out
    }

    fn name(&mut self, name: &Spanned<String>, what: &str, flow: Option<&str>) -> bool {
        let check = if what == "system" || what == "flow" {
            names::check(&name.value)
        } else {
            names::check_service(&name.value)
        };
        match check {
            Ok(()) => true,
            Err(why) => {
                let context = flow.map(|f| format!(" in flow `{f}`")).unwrap_or_default();
                self.error(
                    format!("invalid {what} name `{}`{context}: {why}", name.value),
                    Some(yaml::pos(name.referenced)),
                    name.value.chars().count(),
                )
                .notes
                .push(
                    "names are lowercase ASCII letters, digits and '-', starting with a letter"
                        .into(),
                );
                false
            }
        }
    }

    fn keyword<T>(
        &mut self,
        raw: &Spanned<String>,
        field: &str,
        flow: Option<&str>,
        parse: fn(&str) -> Option<T>,
        accepted: &[&str],
    ) -> Option<T> {
        let parsed = parse(&raw.value);
        if parsed.is_none() {
            let context = flow.map(|f| format!(" in flow `{f}`")).unwrap_or_default();
            let d = self
                .diagnostic(
                    format!("unknown {field} `{}`{context}", raw.value),
                    yaml::pos(raw.referenced),
                    raw.value.chars().count(),
                )
                .suggest(&raw.value, accepted)
                .accepted(accepted);
            self.errors.push(d);
        }
        parsed
    }

    fn flows(
        &mut self,
        raw: Option<Spanned<Vec<Spanned<RawFlow>>>>,
        transports: &[Transport],
        declared: &[(String, Pos)],
    ) -> Vec<Flow> {
        let Some(raw) = raw else {
            self.error("missing `flows`".into(), None, 1).notes.push(
                "list the service-to-service flows under `flows:`; see examples/orders.yaml".into(),
            );
            return Vec::new();
        };
        if raw.value.is_empty() {
            self.error(
                "`flows` is empty".into(),
                Some(yaml::pos(raw.referenced)),
                1,
            )
            .notes
            .push("describe at least one flow".into());
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        let mut topics: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut flows = Vec::new();
        for (index, raw_flow) in raw.value.into_iter().enumerate() {
            let start = yaml::pos(raw_flow.referenced);
            let Some(flow) = self.flow(raw_flow.value, start, index, transports, declared) else {
                continue;
            };
            if let Some(first) = seen.get(&flow.name) {
                let at = self.position_of_name(&flow.name, start);
                self.error(format!("duplicate flow name `{}`", flow.name), at, flow.name.len())
                    .notes
                    .push(format!("the first flow with this name starts on line {first}; flow names must be unique"));
                continue;
            }
            seen.insert(flow.name.clone(), start.line);
            let topic = flow.topic_name().to_owned();
            if let Some((other_flow, other_topic)) = topics.get(&names::topic_key(&topic)) {
                if *other_topic != topic {
                    self.error(
                        format!("topic `{topic}` of flow `{}` collides with topic `{other_topic}` of flow `{other_flow}`", flow.name),
                        Some(start),
                        1,
                    )
                    .notes
                    .push("Kafka treats '.' and '_' alike in metric names; rename one topic".into());
                }
            } else {
                topics.insert(names::topic_key(&topic), (flow.name.clone(), topic));
            }
            flows.push(flow);
        }
        flows
    }

    fn position_of_name(&self, name: &str, start: Pos) -> Option<Pos> {
        self.lines
            .iter()
            .enumerate()
            .skip(start.line.saturating_sub(1))
            .take(64)
            .find_map(|(i, line)| {
                let col = line.find(&format!("name: {name}"))?;
                Some(Pos {
                    line: i + 1,
                    column: col + 7,
                })
            })
    }

    #[allow(clippy::too_many_lines)]
    fn flow(
        &mut self,
        raw: RawFlow,
        start: Pos,
        index: usize,
        transports: &[Transport],
        declared: &[(String, Pos)],
    ) -> Option<Flow> {
        let errors_before = self.errors.len();
        let Some(name) = raw.name else {
            self.error(format!("flow #{} has no `name`", index + 1), Some(start), 1)
                .notes
                .push("every flow needs a unique `name`, e.g. `name: get-order`".into());
            return None;
        };
        if !self.name(&name, "flow", None) {
            return None;
        }
        let flow_name = name.value.clone();
        let here = Some(flow_name.as_str());
        let from = if let Some(from) = raw.from {
            self.service_ref(&from, &flow_name, declared);
            from.value
        } else {
            self.error(
                format!("flow `{flow_name}` has no `from`"),
                Some(yaml::pos(name.referenced)),
                flow_name.len(),
            )
            .notes
            .push("`from` names the calling or producing service".into());
            String::new()
        };
        let to = self.to(
            raw.to.as_ref(),
            &flow_name,
            yaml::pos(name.referenced),
            declared,
        );

        let mut flow = Flow::new(&flow_name, &from, "");
        flow.to = to;
        flow.description = raw.description;
        if let Some(v) = &raw.interaction {
            flow.interaction = self
                .keyword(
                    v,
                    "interaction",
                    here,
                    Interaction::parse,
                    Interaction::NAMES,
                )
                .unwrap_or(flow.interaction);
        }
        if let Some(v) = &raw.client {
            flow.client = self
                .keyword(v, "client", here, Client::parse, Client::NAMES)
                .unwrap_or(flow.client);
        }
        if let Some(v) = &raw.coupling {
            flow.coupling = self
                .keyword(v, "coupling", here, Coupling::parse, Coupling::NAMES)
                .unwrap_or(flow.coupling);
        }
        if let Some(v) = &raw.delivery {
            flow.delivery = self
                .keyword(v, "delivery", here, Delivery::parse, Delivery::NAMES)
                .unwrap_or(flow.delivery);
        }
        if let Some(v) = &raw.ordering {
            flow.ordering = self
                .keyword(v, "ordering", here, Ordering::parse, Ordering::NAMES)
                .unwrap_or(flow.ordering);
        }
        if let Some(v) = &raw.format {
            flow.format = self
                .keyword(v, "format", here, Format::parse, Format::NAMES)
                .unwrap_or(flow.format);
        }
        if let Some(v) = &raw.contract {
            flow.contract = self
                .keyword(v, "contract", here, Contract::parse, Contract::NAMES)
                .unwrap_or(flow.contract);
        }
        flow.latency_ms = self.positive(raw.latency_ms.as_ref(), "latency_ms", &flow_name);
        flow.throughput = self.positive(raw.throughput.as_ref(), "throughput", &flow_name);
        flow.payload_bytes = self.positive(raw.payload_bytes.as_ref(), "payload_bytes", &flow_name);
        flow.replay = raw.replay.is_some_and(|r| r.value);
        if let Some(topic) = raw.topic {
            if let Err(why) = names::check_topic(&topic.value) {
                self.error(
                    format!(
                        "invalid topic `{}` in flow `{flow_name}`: {why}",
                        topic.value
                    ),
                    Some(yaml::pos(topic.referenced)),
                    topic.value.chars().count(),
                );
            }
            flow.topic = Some(topic.value);
        }
        if let Some(pinned) = &raw.transport {
            flow.transport = self.keyword(
                pinned,
                "transport",
                here,
                Transport::parse,
                Transport::NAMES,
            );
            if let Some(t) = flow.transport {
                if !transports.contains(&t) {
                    let allowed: Vec<&str> = transports.iter().map(|t| t.as_str()).collect();
                    self.error(
                        format!(
                            "flow `{flow_name}` pins transport `{t}`, which is not in `transports`"
                        ),
                        Some(yaml::pos(pinned.referenced)),
                        pinned.value.len(),
                    )
                    .notes
                    .push(format!(
                        "accepted: {} (or add {t} to `transports`)",
                        allowed.join(", ")
                    ));
                }
            }
        }
        (self.errors.len() == errors_before).then_some(flow)
    }

    fn positive(&mut self, raw: Option<&Spanned<u64>>, field: &str, flow: &str) -> Option<u64> {
        let raw = raw?;
        if raw.value == 0 {
            self.error(
                format!("`{field}` in flow `{flow}` must be at least 1"),
                Some(yaml::pos(raw.referenced)),
                1,
            )
            .notes
            .push(format!("leave `{field}` out if there is no figure for it"));
            return None;
        }
        Some(raw.value)
    }

    fn service_ref(
        &mut self,
        service: &Spanned<String>,
        flow: &str,
        declared: &[(String, Pos)],
    ) -> bool {
        let at = Some(yaml::pos(service.referenced));
        if let Err(why) = names::check_service(&service.value) {
            self.error(
                format!(
                    "invalid service name `{}` in flow `{flow}`: {why}",
                    service.value
                ),
                at,
                service.value.chars().count().max(1),
            )
            .notes
            .push(
                "names are lowercase ASCII letters, digits and '-', starting with a letter".into(),
            );
            return false;
        }
        if declared.is_empty() || declared.iter().any(|(d, _)| *d == service.value) {
            return true;
        }
        // Services are implied by flows, but a near miss of a declared one is
        // far more likely a typo than a new service.
        let names: Vec<&str> = declared.iter().map(|(d, _)| d.as_str()).collect();
        if let Some(best) = did_you_mean(&service.value, &names) {
            let d = self
                .diagnostic(
                    format!("unknown service `{}` in flow `{flow}`", service.value),
                    yaml::pos(service.referenced),
                    service.value.chars().count(),
                )
                .label(format!("did you mean `{best}`?"))
                .note(format!(
                    "declared services: {}; declare `{}` under `services:` if it is a new one",
                    names.join(", "),
                    service.value
                ));
            self.errors.push(d);
            return false;
        }
        true
    }

    fn to(
        &mut self,
        raw: Option<&Spanned<Json>>,
        flow: &str,
        name_at: Pos,
        declared: &[(String, Pos)],
    ) -> Vec<String> {
        let Some(raw) = raw else {
            self.error(
                format!("flow `{flow}` has no `to`"),
                Some(name_at),
                flow.len(),
            )
            .notes
            .push("`to` names one receiving service, or a list of them for fan-out".into());
            return Vec::new();
        };
        let at = yaml::pos(raw.referenced);
        let items: Vec<String> = match &raw.value {
            Json::String(s) => vec![s.clone()],
            // YAML reads a bare `y`, `no` or `1` as a bool or number; the
            // user meant the name as written.
            Json::Bool(_) | Json::Number(_) => vec![scalar_in(&self.lines, at)],
            Json::Array(items) if items.iter().all(Json::is_string) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => {
                self.error(
                    format!("`to` in flow `{flow}` must be a service name or a list of them"),
                    Some(at),
                    1,
                )
                .notes
                .push("for example `to: orders` or `to: [analytics, shipping]`".into());
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.error(format!("`to` in flow `{flow}` is empty"), Some(at), 1)
                .notes
                .push("name at least one receiving service".into());
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for item in items {
            let item_at = locate_in_line(&self.lines, at, &item).unwrap_or(at);
            let spanned = Spanned {
                value: item.clone(),
                referenced: raw.referenced,
                defined: raw.defined,
            };
            if out.contains(&item) {
                self.error(
                    format!("service `{item}` is listed twice in `to` of flow `{flow}`"),
                    Some(item_at),
                    item.len(),
                );
                continue;
            }
            if self.service_ref_at(&spanned, flow, declared, item_at) {
                out.push(item);
            }
        }
        out
    }

    /// [`Self::service_ref`], pointing at an item inside a `to` list.
    fn service_ref_at(
        &mut self,
        service: &Spanned<String>,
        flow: &str,
        declared: &[(String, Pos)],
        at: Pos,
    ) -> bool {
        let before = self.errors.len();
        let ok = self.service_ref(service, flow, declared);
        for d in &mut self.errors[before..] {
            let line = self.lines.get(at.line.saturating_sub(1)).copied();
            *d = d
                .clone()
                .at_line(line, at, service.value.chars().count().max(1));
        }
        ok
    }
}

/// Where `item` appears at or after `from` (a `to` list may span lines).
fn locate_in_line(lines: &[&str], from: Pos, item: &str) -> Option<Pos> {
    for (i, line) in lines
        .iter()
        .enumerate()
        .skip(from.line.saturating_sub(1))
        .take(64)
    {
        let skip = if i + 1 == from.line {
            from.column.saturating_sub(1)
        } else {
            0
        };
        let chars: Vec<char> = line.chars().collect();
        let rest: String = chars.iter().skip(skip).collect();
        let mut search = 0;
        while let Some(found) = rest[search..].find(item) {
            let start = search + found;
            let before = rest[..start].chars().next_back();
            let after = rest[start + item.len()..].chars().next();
            let edge = |c: Option<char>| {
                c.is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            };
            if edge(before) && edge(after) {
                return Some(Pos {
                    line: i + 1,
                    column: skip + rest[..start].chars().count() + 1,
                });
            }
            search = start + item.len();
        }
    }
    None
}

/// The plain scalar at `at`, from the pre-split lines.
fn scalar_in(lines: &[&str], at: Pos) -> String {
    lines
        .get(at.line.saturating_sub(1))
        .map_or_else(String::new, |line| {
            yaml::scalar_at(
                line,
                Pos {
                    line: 1,
                    column: at.column,
                },
            )
        })
}
