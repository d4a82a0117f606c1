//! Validation: from the raw types to the typed model, applying
//! docs/flows-yaml.md (names, keywords, defaults, uniqueness, bindings) and
//! recording every problem with its position rather than stopping at the
//! first.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde_json::Value as Json;
use serde_saphyr::Spanned;

use crate::engine::sizing::{CONSUMER_RATE, MAX_PARTITIONS, MAX_THROUGHPUT};
use crate::error::{Diagnostic, did_you_mean};
use crate::spec::model::{
    Flow, FlowsFile, Interaction, Keyword, Pos, Prefer, Service, SourceMap, Transport,
};
use crate::spec::names;
use crate::yaml;

use super::position::{UnknownKeys, key_of, locate_in_line, scalar_in};
use super::raw::{
    LeanFile, LeanService, RawFile, RawFlow, RawPrefer, RawService, RawTo, field_names, unplaced,
};
use super::schema::SYNC_TRANSPORTS;

/// A file's flows as the validator takes them: where the list starts, and
/// each flow with where it starts.
pub(super) struct FlowList<I> {
    pub(super) at: Pos,
    pub(super) len: usize,
    pub(super) items: I,
}

pub(super) struct Validator<'a> {
    pub(super) file: &'a str,
    /// The source, split once, so pointing at a line costs nothing.
    pub(super) lines: Vec<&'a str>,
    pub(super) errors: Vec<Diagnostic>,
    pub(super) map: SourceMap,
    /// Service names already checked and found good: most flows name
    /// services other flows named before.
    pub(super) good_services: std::collections::HashSet<String>,
    /// Whether positions are known. Without them (the fast first pass of
    /// [`load_str`]) the validator only decides whether the file is valid:
    /// its diagnostics are thrown away and the file is read again with
    /// positions, so nothing that needs the source text may succeed here.
    pub(super) placed: bool,
    /// Keys no field takes, reported where their flow or service is.
    pub(super) unknown: UnknownKeys,
    /// Whether the file names the team's .proto files: flows may then bind
    /// to their rpcs and messages.
    pub(super) has_proto: bool,
    /// Where each flow's `during:` value is, by flow name (placed reading
    /// only), to point at one that names no inbound flow.
    pub(super) during_at: HashMap<String, Pos>,
}

impl<'a> Validator<'a> {
    pub(super) fn new(file: &'a str, text: &'a str, placed: bool) -> Validator<'a> {
        Validator {
            file,
            // Only diagnostics read the lines, and only placed ones are shown.
            lines: if placed {
                text.lines().collect()
            } else {
                Vec::new()
            },
            errors: Vec::new(),
            good_services: std::collections::HashSet::new(),
            map: SourceMap::default(),
            placed,
            unknown: UnknownKeys::default(),
            has_proto: false,
            during_at: HashMap::new(),
        }
    }

    /// [`Self::file`] for a file read without positions.
    pub(super) fn lean_file(&mut self, lean: LeanFile) -> FlowsFile {
        let raw = RawFile {
            version: lean.version.map(unplaced),
            system: lean.system.map(unplaced),
            transports: lean
                .transports
                .map(|ts| unplaced(ts.into_iter().map(unplaced).collect())),
            services: lean.services.map(|services| {
                services
                    .into_iter()
                    .map(|(name, service)| (unplaced(name), service.map(LeanService::into_raw)))
                    .collect()
            }),
            flows: None,
            proto: lean.proto.map(unplaced),
            proto_path: lean.proto_path.map(unplaced),
            prefer: lean.prefer.map(|p| RawPrefer {
                internal: p.internal.map(unplaced),
            }),
        };
        // Flows are converted one at a time, so that the large positioned
        // form of all of them never sits in memory at once.
        let flows = lean.flows.map(|flows| FlowList {
            at: Pos::default(),
            len: flows.len(),
            items: flows.into_iter().map(|f| (Pos::default(), f.into_raw())),
        });
        self.file_with(raw, flows)
    }

    /// A diagnostic at `at`, with its source line.
    pub(super) fn diagnostic(&self, message: String, at: Pos, width: usize) -> Diagnostic {
        let line = self.lines.get(at.line.saturating_sub(1)).copied();
        Diagnostic::new(message, self.file).at_line(line, at, width)
    }

    pub(super) fn error(
        &mut self,
        message: String,
        at: Option<Pos>,
        width: usize,
    ) -> &mut Diagnostic {
        let d = match at {
            Some(at) => self.diagnostic(message, at, width),
            None => Diagnostic::new(message, self.file),
        };
        self.errors.push(d);
        self.errors.last_mut().expect("just pushed")
    }

    pub(super) fn file(&mut self, mut raw: RawFile) -> FlowsFile {
        let flows = raw.flows.take().map(|list| FlowList {
            at: yaml::pos(list.referenced),
            len: list.value.len(),
            items: list
                .value
                .into_iter()
                .map(|f| (yaml::pos(f.referenced), f.value)),
        });
        self.file_with(raw, flows)
    }

    /// Validates the file; its flows come apart, in file order.
    pub(super) fn file_with(
        &mut self,
        raw: RawFile,
        flows: Option<FlowList<impl Iterator<Item = (Pos, RawFlow)>>>,
    ) -> FlowsFile {
        let top = std::mem::take(&mut self.unknown.top);
        self.unknown_keys::<RawFile>(Some(top), &String::new);
        self.version(raw.version.as_ref());
        let system = match raw.system {
            Some(s) => {
                self.name(&s, "system", None);
                s.value
            }
            None => "system".to_owned(),
        };
        let transports = self.transports(raw.transports.as_ref());
        let proto = self.proto_files(raw.proto.as_ref(), "proto");
        let proto_path = self.proto_files(raw.proto_path.as_ref(), "proto_path");
        self.has_proto = !proto.is_empty();
        if let (Some(folders), false) = (&raw.proto_path, self.has_proto) {
            self.error(
                "`proto_path` is set but `proto` is not".into(),
                Some(key_of(&self.lines, yaml::pos(folders.referenced), "proto_path")),
                "proto_path".len(),
            )
            .notes
            .push("`proto_path` lists the include folders of the files under `proto:`; add `proto:` or remove `proto_path`".into());
        }
        let mut services = BTreeMap::new();
        let mut declared: Vec<(String, Pos)> = Vec::new();
        // In file order, so that errors come out in a stable order.
        let mut raw_services: Vec<_> = raw.services.unwrap_or_default().into_iter().collect();
        raw_services.sort_by_key(|(name, _)| yaml::pos(name.referenced));
        for (name, service) in raw_services {
            let unknown = self.unknown.services.remove(&name.value);
            self.unknown_keys::<RawService>(unknown, &|| format!(" in service `{}`", name.value));
            declared.push((name.value.clone(), yaml::pos(name.referenced)));
            let service = service.unwrap_or_default();
            let parsed = Service {
                description: service.description,
                availability: self.availability(service.availability.as_ref(), &name.value),
                instances: self
                    .whole(service.instances.as_ref(), "instances", &|| {
                        format!(" of service `{}`", name.value)
                    })
                    .and_then(|n| {
                        let at = service.instances.as_ref().map(|i| yaml::pos(i.referenced));
                        let max = u64::from(MAX_PARTITIONS);
                        let why = "each instance consumes from a partition of its own, and a topic gets at most this many";
                        self.at_most(n, max, at, "instances", &format!(" of service `{}`", name.value), why)
                    })
                    .map(|n| u32::try_from(n).unwrap_or(MAX_PARTITIONS)),
                exposed: service.exposed.unwrap_or(false),
            };
            services.insert(name.value, parsed);
        }
        declared.sort();
        for (name, at) in &declared {
            if let Err(why) = names::check_service(name) {
                let d = self.error(
                    format!("invalid service name `{name}`: {why}"),
                    Some(*at),
                    name.len(),
                );
                name_help(d, name, "service");
            }
        }
        let prefer = self.prefer(raw.prefer.as_ref());
        let flows = self.flows(flows, &transports, &declared);
        self.during(&flows);
        // Every service a kept flow names passed `service_ref`, which
        // remembered it; and without errors (a file with errors is never
        // returned) every service remembered is named by a kept flow. So
        // the few distinct names stand for the many mentions.
        debug_assert!(
            !self.errors.is_empty() || {
                let named: std::collections::HashSet<&String> = flows
                    .iter()
                    .flat_map(|f| std::iter::once(&f.from).chain(&f.to))
                    .collect();
                named.len() == self.good_services.len()
                    && named.iter().all(|s| self.good_services.contains(*s))
            }
        );
        for service in &self.good_services {
            if !services.contains_key(service) {
                services.insert(service.clone(), Service::default());
            }
        }
        FlowsFile {
            version: 1,
            system,
            transports,
            services,
            flows,
            proto,
            proto_path,
            prefer,
        }
    }

    /// `prefer:`: each default is a synchronous transport.
    pub(super) fn prefer(&mut self, raw: Option<&RawPrefer>) -> Prefer {
        let internal = raw.and_then(|p| p.internal.as_ref()).and_then(|v| {
            let parse = |s: &str| Transport::parse(s).filter(|t| t.is_synchronous());
            self.keyword(
                v,
                "`prefer: internal` transport",
                None,
                parse,
                SYNC_TRANSPORTS,
            )
        });
        Prefer { internal }
    }

    /// Each `during:` names an inbound flow of the flow's `from` service: a
    /// flow whose `to` names it, other than the flow itself.
    pub(super) fn during(&mut self, flows: &[Flow]) {
        if flows.iter().all(|f| f.during.is_none()) {
            return;
        }
        let mut inbound: HashMap<&str, Vec<&str>> = HashMap::new();
        for flow in flows {
            for to in &flow.to {
                inbound.entry(to).or_default().push(&flow.name);
            }
        }
        for flow in flows {
            let Some(during) = &flow.during else {
                continue;
            };
            let serving: Vec<&str> = inbound
                .get(flow.from.as_str())
                .map(|names| names.iter().copied().filter(|n| *n != flow.name).collect())
                .unwrap_or_default();
            if serving.contains(&during.as_str()) {
                continue;
            }
            let at = self.during_at.get(&flow.name).copied();
            let from = &flow.from;
            let message = format!(
                "`during: {during}` in flow `{}` names no inbound flow of `{from}`",
                flow.name
            );
            let d = match at {
                Some(at) => self.diagnostic(message, at, during.chars().count()),
                None => Diagnostic::new(message, self.file),
            };
            let d = d.suggest(during, &serving).note(if serving.is_empty() {
                format!("no other flow goes to `{from}`; `during` names the request `{from}` is serving when it makes this flow")
            } else {
                format!("accepted: {} (the flows whose `to` names `{from}`)", serving.join(", "))
            });
            self.errors.push(d);
        }
    }

    pub(super) fn version(&mut self, version: Option<&Spanned<Json>>) {
        match version {
            None => {
                self.error("missing `version`".into(), None, 1)
                    .notes
                    .push("add `version: 1` at the top of the file".into());
            }
            Some(v) if v.value.as_u64() == Some(1) => {}
            // A quoted `"1"` is the right version as a string: say only that.
            Some(Spanned {
                value: Json::String(s),
                referenced,
                ..
            }) if s.trim() == "1" => {
                self.error(
                    format!("`version` is the string `\"{s}\"`, not the number 1"),
                    Some(yaml::pos(*referenced)),
                    s.len() + 2,
                )
                .notes
                .push("write `version: 1`, without quotes".into());
            }
            Some(v) => {
                let shown = match &v.value {
                    Json::String(s) => format!("\"{s}\""),
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

    pub(super) fn transports(
        &mut self,
        raw: Option<&Spanned<Vec<Spanned<String>>>>,
    ) -> Vec<Transport> {
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

    pub(super) fn name(&mut self, name: &Spanned<String>, what: &str, flow: Option<&str>) -> bool {
        let check = if what == "system" {
            names::check(&name.value)
        } else if what == "flow" {
            names::check_flow(&name.value)
        } else {
            names::check_service(&name.value)
        };
        match check {
            Ok(()) => true,
            Err(why) => {
                let context = flow.map(|f| format!(" in flow `{f}`")).unwrap_or_default();
                let d = self.error(
                    format!("invalid {what} name `{}`{context}: {why}", name.value),
                    Some(yaml::pos(name.referenced)),
                    name.value.chars().count(),
                );
                name_help(d, &name.value, what);
                false
            }
        }
    }

    pub(super) fn keyword<T>(
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

    /// A keyword field of flow `flow`, when written: its value, or its
    /// default kept after reporting an unknown one.
    pub(super) fn keyword_field<T: Keyword>(
        &mut self,
        raw: Option<&Spanned<String>>,
        field: &str,
        flow: Option<&str>,
        value: &mut T,
    ) {
        if let Some(raw) = raw
            && let Some(parsed) = self.keyword(raw, field, flow, T::parse, T::NAMES)
        {
            *value = parsed;
        }
    }

    pub(super) fn flows(
        &mut self,
        raw: Option<FlowList<impl Iterator<Item = (Pos, RawFlow)>>>,
        transports: &[Transport],
        declared: &[(String, Pos)],
    ) -> Vec<Flow> {
        let Some(raw) = raw else {
            self.error("missing `flows`".into(), None, 1).notes.push(
                "list the service-to-service flows under `flows:`; see examples/orders.yaml".into(),
            );
            return Vec::new();
        };
        if raw.len == 0 {
            self.error("`flows` is empty".into(), Some(raw.at), 1)
                .notes
                .push("describe at least one flow".into());
        }
        // Hash maps sized up front: these see every flow, and ordered maps
        // would make the check O(n log n) in string comparisons.
        let capacity = if self.placed { raw.len } else { 0 };
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(capacity);
        // The first flow (index into `flows`) using each topic key.
        let mut topics: HashMap<String, usize> = HashMap::with_capacity(capacity);
        let mut flows: Vec<Flow> = Vec::with_capacity(raw.len);
        for (index, (start, raw_flow)) in raw.items.enumerate() {
            let Some(flow) = self.flow(raw_flow, start, index, transports, declared) else {
                continue;
            };
            if !self.placed {
                flows.push(flow);
                continue;
            }
            if let Some(first) = seen.get(&flow.name) {
                let at = self.position_of_name(&flow.name, start);
                self.error(format!("duplicate flow name `{}`", flow.name), at, flow.name.len())
                    .notes
                    .push(format!("the first flow with this name starts on line {first}; flow names must be unique"));
                continue;
            }
            seen.insert(flow.name.clone(), start.line);
            if self.placed {
                self.map.flows.insert(flow.name.clone(), start);
            }
            let topic = flow.topic_name();
            let key = names::topic_key(topic);
            if let Some(&other) = topics.get(&key) {
                let (other_flow, other_topic) = (&flows[other].name, flows[other].topic_name());
                if other_topic != topic {
                    let message = format!(
                        "topic `{topic}` of flow `{}` collides with topic `{other_topic}` of flow `{other_flow}`",
                        flow.name
                    );
                    self.error(message, Some(start), 1).notes.push(
                        "Kafka treats '.' and '_' alike in metric names; rename one topic".into(),
                    );
                }
            } else {
                topics.insert(key, flows.len());
            }
            flows.push(flow);
        }
        if !self.placed {
            self.any_name_or_topic_twice(&flows);
        }
        self.identifier_collisions(&flows, declared);
        if transports.contains(&Transport::Kafka) {
            self.flows_named_like_producers(&flows);
        }
        self.dead_letter_collisions(&flows);
        flows
    }

    /// The duplicate-name and topic-collision checks of [`Self::flows`],
    /// for the reading without positions, where only whether they fail
    /// matters: run once all flows are in, they borrow the names instead
    /// of copying each into a map. A topic collides when some flow uses
    /// another spelling of a topic key than the first flow with that key,
    /// that is, when one key has two spellings.
    pub(super) fn any_name_or_topic_twice(&mut self, flows: &[Flow]) {
        let mut names = std::collections::HashSet::with_capacity(flows.len());
        let mut topics: HashMap<Cow<'_, str>, &str> = HashMap::with_capacity(flows.len());
        for flow in flows {
            let topic = flow.topic_name();
            let key = if topic.contains('.') {
                Cow::Owned(names::topic_key(topic))
            } else {
                Cow::Borrowed(topic)
            };
            let spelled_twice = *topics.entry(key).or_insert(topic) != topic;
            if !names.insert(flow.name.as_str()) || spelled_twice {
                self.error(format!("flow `{}` is not unique", flow.name), None, 1);
                return;
            }
        }
    }

    pub(super) fn position_of_name(&self, name: &str, start: Pos) -> Option<Pos> {
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
    pub(super) fn flow(
        &mut self,
        raw: RawFlow,
        start: Pos,
        index: usize,
        transports: &[Transport],
        declared: &[(String, Pos)],
    ) -> Option<Flow> {
        let errors_before = self.errors.len();
        let unknown = self.unknown.flows.remove(&index);
        self.unknown_keys::<RawFlow>(unknown, &|| match &raw.name {
            Some(name) => format!(" in flow `{}`", name.value),
            None => format!(" in flow #{}", index + 1),
        });
        // Every field by name, without `..`: a field added to the
        // declaration (spec/fields.rs) does not compile until it is
        // validated here.
        let RawFlow {
            name,
            description,
            from,
            to,
            interaction,
            client,
            coupling,
            latency_ms,
            throughput,
            delivery,
            replay,
            ordering,
            format,
            contract,
            payload_bytes,
            topic,
            retention_hours,
            transport,
            rpc,
            message,
            key,
            compatibility,
            during,
            per_item,
        } = raw;
        let Some(name) = name else {
            self.error(format!("flow #{} has no `name`", index + 1), Some(start), 1)
                .notes
                .push("every flow needs a unique `name`, e.g. `name: get-order`".into());
            return None;
        };
        if !self.name(&name, "flow", None) {
            return None;
        }
        let name_at = yaml::pos(name.referenced);
        let flow_name = name.value;
        let here = Some(flow_name.as_str());
        let from = if let Some(from) = from {
            self.service_ref(&from, &flow_name, declared);
            from.value
        } else {
            self.error(
                format!("flow `{flow_name}` has no `from`"),
                Some(name_at),
                flow_name.len(),
            )
            .notes
            .push("`from` names the calling or producing service".into());
            String::new()
        };
        let to = self.to(to, &flow_name, name_at, declared);

        // Name and from are moved in at the end, not copied.
        let mut flow = Flow::blank();
        flow.from = from;
        flow.to = to;
        flow.description = description;
        self.keyword_field(
            interaction.as_ref(),
            "interaction",
            here,
            &mut flow.interaction,
        );
        self.keyword_field(client.as_ref(), "client", here, &mut flow.client);
        self.keyword_field(coupling.as_ref(), "coupling", here, &mut flow.coupling);
        self.keyword_field(delivery.as_ref(), "delivery", here, &mut flow.delivery);
        self.keyword_field(ordering.as_ref(), "ordering", here, &mut flow.ordering);
        self.keyword_field(format.as_ref(), "format", here, &mut flow.format);
        self.keyword_field(contract.as_ref(), "contract", here, &mut flow.contract);
        self.keyword_field(
            compatibility.as_ref(),
            "compatibility",
            here,
            &mut flow.compatibility,
        );
        flow.latency_ms = self.positive(latency_ms.as_ref(), "latency_ms", &flow_name);
        flow.throughput = self
            .positive(throughput.as_ref(), "throughput", &flow_name)
            .and_then(|n| {
                let at = throughput.as_ref().map(|t| yaml::pos(t.referenced));
                let why = format!(
                    "messages per second; at {CONSUMER_RATE}/s per consumer that sizes a topic of {MAX_PARTITIONS} partitions, the most one topic gets"
                );
                self.at_most(n, MAX_THROUGHPUT, at, "throughput", &format!(" in flow `{flow_name}`"), &why)
            });
        flow.payload_bytes = self.positive(payload_bytes.as_ref(), "payload_bytes", &flow_name);
        flow.replay = replay.is_some_and(|r| r.value);
        flow.per_item = per_item.is_some_and(|r| r.value);
        if let Some(during) = during {
            if self.placed {
                self.during_at
                    .insert(flow_name.clone(), yaml::pos(during.referenced));
            }
            flow.during = Some(during.value);
        }
        if let Some(topic) = topic {
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
        flow.retention_hours = self.whole(retention_hours.as_ref(), "retention_hours", &|| {
            format!(" in flow `{flow_name}`")
        });
        if let Some(pinned) = &transport {
            if self.placed {
                self.map
                    .pins
                    .insert(flow_name.clone(), yaml::pos(pinned.referenced));
            }
            flow.transport = self.keyword(
                pinned,
                "transport",
                here,
                Transport::parse,
                Transport::NAMES,
            );
            if let Some(t) = flow.transport
                && !transports.contains(&t)
            {
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
        self.binding(
            rpc.as_ref(),
            message.as_ref(),
            key.as_ref(),
            &mut flow,
            &flow_name,
        );
        flow.name = flow_name;
        (self.errors.len() == errors_before).then_some(flow)
    }

    /// `rpc`, `message` and `key` (SPEC §7): their syntax, and that each
    /// suits the flow's interaction. Whether they name something in the
    /// contract is for `contract::bind`, which has the compiled protos.
    pub(super) fn binding(
        &mut self,
        rpc: Option<&Spanned<String>>,
        message: Option<&Spanned<String>>,
        key: Option<&Spanned<String>>,
        flow: &mut Flow,
        name: &str,
    ) {
        let event = flow.interaction == Interaction::Event;
        let fields: [(&str, Option<&Spanned<String>>, bool); 3] = [
            ("rpc", rpc, !event),
            ("message", message, event),
            ("key", key, event),
        ];
        for (field, raw, fits) in fields {
            let Some(raw) = raw else { continue };
            let at = yaml::pos(raw.referenced);
            if self.placed {
                let map = if field == "key" {
                    &mut self.map.keys
                } else {
                    &mut self.map.bindings
                };
                map.insert(name.to_owned(), at);
            }
            let key_at = key_of(&self.lines, at, field);
            if !fits {
                self.error(
                    format!(
                        "`{field}` does not apply to {} flow `{name}`",
                        flow.interaction
                    ),
                    Some(key_at),
                    field.len(),
                )
                .notes
                .push("request-response and stream flows bind to an `rpc:`; event flows bind to a `message:`, keyed by `key:`".into());
                continue;
            }
            let (valid, accepted, suggestion) = match field {
                "rpc" => (
                    is_rpc_name(&raw.value),
                    "`<package>.<Service>/<Method>`, such as `billing.v1.InvoiceService/GetInvoice`",
                    // Only when the part before the method reads as a
                    // service (`billing.v1.InvoiceService.GetInvoice`), not
                    // a package (`shop.v1.Order`).
                    raw.value
                        .rsplit_once('.')
                        .filter(|(service, _)| {
                            !raw.value.contains('/')
                                && service.rsplit_once('.').is_some_and(|(_, s)| {
                                    s.starts_with(|c: char| c.is_ascii_uppercase())
                                })
                        })
                        .map(|(service, method)| format!("{service}/{method}")),
                ),
                "message" => (
                    is_dotted(&raw.value),
                    "`<package>.<Message>`, such as `billing.v1.InvoiceIssued`",
                    Some(raw.value.replace('/', ".")).filter(|s| is_dotted(s)),
                ),
                _ => (
                    is_ident(&raw.value),
                    "the name of a field of the flow's message, such as `customer_id`",
                    None,
                ),
            };
            if !valid {
                let d = self.error(
                    format!("invalid {field} `{}` in flow `{name}`", raw.value),
                    Some(at),
                    raw.value.chars().count(),
                );
                if let Some(s) = suggestion {
                    d.label = Some(format!("did you mean `{s}`?"));
                }
                d.notes.push(format!("accepted: {accepted}"));
                continue;
            }
            if field != "key" && !self.has_proto {
                self.error(
                    format!("`{field}` in flow `{name}` names the team's contract, but there is no `proto:`"),
                    Some(key_at),
                    field.len(),
                )
                .notes
                .push(format!(
                    "add `proto:` with the team's .proto files at the top level, or leave `{field}` out to use the contract derived from the flows (`commsadvise contract` prints it)"
                ));
                continue;
            }
            let value = Some(raw.value.clone());
            match field {
                "rpc" => flow.rpc = value,
                "message" => flow.message = value,
                _ => flow.key = value,
            }
        }
    }

    /// `proto` or `proto_path`: one path or a list of them, each once.
    pub(super) fn proto_files(&mut self, raw: Option<&Spanned<Json>>, field: &str) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        let at = yaml::pos(raw.referenced);
        let what = if field == "proto" {
            "a .proto file"
        } else {
            "a folder"
        };
        let items: Vec<String> = match &raw.value {
            Json::String(s) => vec![s.clone()],
            Json::Array(items) if !items.is_empty() && items.iter().all(Json::is_string) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => {
                self.error(
                    format!("`{field}` must be {what} or a non-empty list of them"),
                    Some(at),
                    1,
                )
                .notes
                .push(format!(
                    "paths are relative to flows.yaml, for example `{field}: {}`",
                    if field == "proto" {
                        "[proto/billing/v1/billing.proto]"
                    } else {
                        "[proto]"
                    }
                ));
                return Vec::new();
            }
        };
        let mut out: Vec<String> = Vec::new();
        for item in items {
            let item_at = locate_in_line(&self.lines, at, &item).unwrap_or(at);
            let width = item.chars().count().max(1);
            if out.contains(&item) {
                self.error(
                    format!("`{item}` is listed twice in `{field}`"),
                    Some(item_at),
                    width,
                );
            } else if item.trim().is_empty() {
                self.error(format!("an entry of `{field}` is empty"), Some(item_at), 1)
                    .notes
                    .push(format!("name {what}, relative to flows.yaml"));
            } else if field == "proto"
                && std::path::Path::new(&item)
                    .extension()
                    .is_none_or(|e| e != "proto")
            {
                self.error(
                    format!("`{item}` in `proto` is not a .proto file"),
                    Some(item_at),
                    width,
                )
                .notes
                .push(
                    "list the team's .proto files; their include folders go under `proto_path`"
                        .into(),
                );
            } else {
                if self.placed {
                    let map = if field == "proto" {
                        &mut self.map.proto
                    } else {
                        &mut self.map.proto_path
                    };
                    map.push(item_at);
                }
                out.push(item);
            }
        }
        out
    }

    /// A figure of a flow: a whole number of at least 1. Read as any YAML
    /// scalar, so that a wrong one (`fast`, `-5`, `1e309`) is reported with
    /// its flow, beside the file's other problems, instead of stopping the
    /// reading of the file.
    pub(super) fn positive(
        &mut self,
        raw: Option<&Spanned<Json>>,
        field: &str,
        flow: &str,
    ) -> Option<u64> {
        let raw = raw?;
        let Some(value) = raw.value.as_u64() else {
            let at = yaml::pos(raw.referenced);
            let (written, label) = match &raw.value {
                // A quoted number: say so, pointing at all of it.
                Json::String(s) if s.parse::<u64>().is_ok() && self.placed => (
                    scalar_in(&self.lines, at),
                    Some("a number in quotes is text: write it without them"),
                ),
                _ => (self.written(raw), None),
            };
            let mut d = self
                .diagnostic(
                    format!("invalid value `{written}` for `{field}` in flow `{flow}`"),
                    at,
                    written.chars().count(),
                )
                .accepted(&["a whole number, at least 1"]);
            if let Some(label) = label {
                d = d.label(label);
            }
            self.errors.push(d);
            return None;
        };
        if value == 0 {
            self.error(
                format!("`{field}` in flow `{flow}` must be at least 1"),
                Some(yaml::pos(raw.referenced)),
                1,
            )
            .notes
            .push(format!("leave `{field}` out if there is no figure for it"));
            return None;
        }
        Some(value)
    }

    /// A whole number of at least 1, given as any YAML scalar, so that a
    /// wrong one gets the same message as `latency_ms` does.
    /// `context` ("in flow `x`") is built only for a message.
    pub(super) fn whole(
        &mut self,
        raw: Option<&Spanned<Json>>,
        field: &str,
        context: &dyn Fn() -> String,
    ) -> Option<u64> {
        let raw = raw?;
        match raw.value.as_u64() {
            Some(n) if n >= 1 => Some(n),
            Some(_) => {
                self.error(
                    format!("`{field}`{} must be at least 1", context()),
                    Some(yaml::pos(raw.referenced)),
                    1,
                )
                .notes
                .push(format!("leave `{field}` out to use the default"));
                None
            }
            None => {
                let written = self.written(raw);
                let d = self
                    .diagnostic(
                        format!("invalid value `{written}` for `{field}`{}", context()),
                        yaml::pos(raw.referenced),
                        written.chars().count(),
                    )
                    .accepted(&["a whole number, at least 1"]);
                self.errors.push(d);
                None
            }
        }
    }

    /// `value` if it is at most `max`; an error naming the cap otherwise.
    pub(super) fn at_most(
        &mut self,
        value: u64,
        max: u64,
        at: Option<Pos>,
        field: &str,
        context: &str,
        why: &str,
    ) -> Option<u64> {
        if value <= max {
            return Some(value);
        }
        let width = at.map_or(1, |p| scalar_in(&self.lines, p).chars().count());
        self.error(
            format!("`{field}`{context} is {value}, over the limit of {max}"),
            at,
            width,
        )
        .notes
        .push(format!("accepted: a whole number from 1 to {max} ({why})"));
        None
    }

    /// A service's availability: a fraction above 0 and at most 1.
    pub(super) fn availability(
        &mut self,
        raw: Option<&Spanned<Json>>,
        service: &str,
    ) -> Option<f64> {
        let raw = raw?;
        let at = yaml::pos(raw.referenced);
        let written = self.written(raw);
        let accepted = "a fraction above 0 and at most 1, such as 0.999 for 99.9%";
        match raw.value.as_f64() {
            Some(a) if a > 0.0 && a <= 1.0 => Some(a),
            Some(a) => {
                let mut d = self
                    .diagnostic(
                        format!("availability `{written}` of service `{service}` is out of range"),
                        at,
                        written.chars().count(),
                    )
                    .accepted(&[accepted]);
                if a > 1.0 && a <= 100.0 {
                    // Six decimals hide the binary noise of dividing by 100.
                    let fraction = format!("{:.6}", a / 100.0);
                    let fraction = fraction.trim_end_matches('0').trim_end_matches('.');
                    d = d.label(format!("did you mean `{fraction}`?"));
                }
                self.errors.push(d);
                None
            }
            None => {
                let d = self
                    .diagnostic(
                        format!(
                            "invalid value `{written}` for `availability` of service `{service}`"
                        ),
                        at,
                        written.chars().count(),
                    )
                    .accepted(&[accepted]);
                self.errors.push(d);
                None
            }
        }
    }

    /// A scalar as the user wrote it, for messages.
    pub(super) fn written(&self, raw: &Spanned<Json>) -> String {
        match &raw.value {
            // How the parser spells a non-finite float (`1e309` → `.inf`).
            Json::String(s) if self.placed && matches!(s.as_str(), ".inf" | "-.inf" | ".nan") => {
                scalar_in(&self.lines, yaml::pos(raw.referenced))
            }
            Json::String(s) => s.clone(),
            Json::Number(_) | Json::Bool(_) => scalar_in(&self.lines, yaml::pos(raw.referenced)),
            other => other.to_string(),
        }
    }

    pub(super) fn service_ref(
        &mut self,
        service: &Spanned<String>,
        flow: &str,
        declared: &[(String, Pos)],
    ) -> bool {
        if self.good_services.contains(&service.value) {
            return true;
        }
        let at = Some(yaml::pos(service.referenced));
        if let Err(why) = names::check_service(&service.value) {
            let d = self.error(
                format!(
                    "invalid service name `{}` in flow `{flow}`: {why}",
                    service.value
                ),
                at,
                service.value.chars().count().max(1),
            );
            name_help(d, &service.value, "service");
            return false;
        }
        if declared.is_empty() || declared.iter().any(|(d, _)| *d == service.value) {
            self.good_services.insert(service.value.clone());
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
        self.good_services.insert(service.value.clone());
        true
    }

    pub(super) fn to(
        &mut self,
        raw: Option<Spanned<RawTo>>,
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
        let Some(items) = self.names_as_written(raw.value, at, flow) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.error(format!("`to` in flow `{flow}` is empty"), Some(at), 1)
                .notes
                .push("name at least one receiving service".into());
            return Vec::new();
        }
        let mut out: Vec<String> = Vec::new();
        for (item, item_at) in items {
            // Positions inside the list are only needed for an error.
            if !out.contains(&item) && self.good_services.contains(&item) {
                out.push(item);
                continue;
            }
            let item_at = item_at
                .filter(|p| *p != at)
                .or_else(|| locate_in_line(&self.lines, at, &item))
                .unwrap_or(at);
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

    /// The names of `to` as the user wrote them, each with where it is
    /// written when that is known; `None` after reporting why there are none.
    pub(super) fn names_as_written(
        &mut self,
        value: RawTo,
        at: Pos,
        flow: &str,
    ) -> Option<Vec<(String, Option<Pos>)>> {
        // Each name with where it is written, when that is known.
        let mut named: Vec<(Json, Option<Pos>)> = match value {
            RawTo::One(one) => vec![(one, Some(at))],
            RawTo::List(items) => items
                .into_iter()
                .map(|i| {
                    let item_at = self.placed.then(|| yaml::pos(i.referenced));
                    (i.value, item_at)
                })
                .collect(),
        };
        if !self.placed {
            // Without positions a name written as `off` or `1` cannot be read
            // back: leave it to the full reading.
            if named
                .iter()
                .any(|(n, _)| matches!(n, Json::Bool(_) | Json::Number(_)))
            {
                self.error("`to` needs its source text".into(), None, 1);
                return None;
            }
            for (_, item_at) in &mut named {
                *item_at = None;
            }
        }
        let mut items: Vec<(String, Option<Pos>)> = Vec::with_capacity(named.len());
        for (name, item_at) in named {
            match name {
                Json::String(s) => {
                    // A quoted name: point inside the quotes, at the name.
                    let item_at = item_at.map(|p| {
                        let quoted = self
                            .lines
                            .get(p.line.saturating_sub(1))
                            .and_then(|l| l.chars().nth(p.column.saturating_sub(1)));
                        match quoted {
                            Some('"' | '\'') => Pos {
                                column: p.column + 1,
                                ..p
                            },
                            _ => p,
                        }
                    });
                    items.push((s, item_at));
                }
                // YAML reads a bare `y`, `off` or `1` as a bool or number; the
                // user meant the name as written.
                Json::Bool(_) | Json::Number(_) => {
                    let item_at = item_at.unwrap_or(at);
                    items.push((scalar_in(&self.lines, item_at), Some(item_at)));
                }
                _ => {
                    self.error(
                        format!("`to` in flow `{flow}` must be a service name or a list of them"),
                        Some(item_at.unwrap_or(at)),
                        1,
                    )
                    .notes
                    .push("for example `to: orders` or `to: [analytics, shipping]`".into());
                    return None;
                }
            }
        }
        Some(items)
    }

    /// [`Self::service_ref`], pointing at an item inside a `to` list.
    pub(super) fn service_ref_at(
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

/// What to do about a refused name: the rule, when it breaks the rule; a
/// name that would not collide, when it only becomes a bad identifier.
pub(super) fn name_help(d: &mut Diagnostic, name: &str, what: &str) {
    if names::check(name).is_err() {
        d.notes.push(
            "names are lowercase ASCII letters, digits and '-', starting with a letter".into(),
        );
        return;
    }
    let candidate = format!("{name}-{what}");
    let fits = match what {
        "flow" => names::check_flow(&candidate),
        _ => names::check_service(&candidate),
    };
    if fits.is_ok() {
        d.label = Some(format!("did you mean `{candidate}`?"));
    }
    let reserved = if what == "flow" {
        ""
    } else {
        " names cargo or Windows reserve,"
    };
    d.notes.push(format!(
        "accepted: any name but Rust keywords,{reserved} the crates the generated workspace depends on, and the names its code uses"
    ));
}

/// Whether `text` is `<package>.<Service>/<Method>`.
pub(super) fn is_rpc_name(text: &str) -> bool {
    text.split_once('/')
        .is_some_and(|(service, method)| is_dotted(service) && is_ident(method))
}

/// Whether `text` is identifiers joined by dots.
pub(super) fn is_dotted(text: &str) -> bool {
    text.split('.').all(is_ident)
}

/// Whether `text` is a protobuf identifier.
pub(super) fn is_ident(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Validator<'_> {
    /// Where flow `name` starts, when positions are known.
    pub(super) fn flow_at(&self, name: &str) -> Option<Pos> {
        self.map.flows.get(name).copied()
    }

    /// Names that differ in flows.yaml but become the same identifier in
    /// the generated code (docs/flows-yaml.md, Names): two flows or two services with one type
    /// name (`order1`, `order-1` → `Order1`). Uses the scaffold's own
    /// conversions; identifiers (`order_1`, `order1`) differ whenever the
    /// names do.
    pub(super) fn identifier_collisions(&mut self, flows: &[Flow], declared: &[(String, Pos)]) {
        let mut types: HashMap<String, &str> = HashMap::with_capacity(flows.len());
        for flow in flows {
            let type_name = names::type_name(&flow.name);
            match types.get(type_name.as_str()) {
                Some(&first) if first != flow.name => {
                    let at = self
                        .flow_at(&flow.name)
                        .and_then(|s| self.position_of_name(&flow.name, s));
                    self.error(
                        format!(
                            "flows `{first}` and `{}` both become `{type_name}` in the generated code",
                            flow.name
                        ),
                        at,
                        flow.name.len(),
                    )
                    .notes
                    .push("the generated code drops '-' from type names: rename one of the flows".into());
                }
                Some(_) => {}
                None => {
                    types.insert(type_name, &flow.name);
                }
            }
        }
        // Services in the order they are first named: declared ones, then
        // the flows' in file order.
        let mut services: Vec<(&str, Option<Pos>)> = declared
            .iter()
            .map(|(name, at)| (name.as_str(), Some(*at)))
            .collect();
        let mut seen: std::collections::HashSet<&str> = services.iter().map(|(n, _)| *n).collect();
        for flow in flows {
            for service in std::iter::once(&flow.from).chain(&flow.to) {
                if seen.insert(service.as_str()) {
                    let at = self
                        .flow_at(&flow.name)
                        .and_then(|start| locate_in_line(&self.lines, start, service));
                    services.push((service.as_str(), at));
                }
            }
        }
        let mut service_types: HashMap<String, &str> = HashMap::with_capacity(services.len());
        for &(service, at) in &services {
            let type_name = names::type_name(service);
            if let Some(first) = service_types.get(type_name.as_str()) {
                self.error(
                    format!(
                        "services `{first}` and `{service}` both become `{type_name}Client` in the generated code"
                    ),
                    at,
                    service.len(),
                )
                .notes
                .push("the generated code drops '-' from type names: rename one of the services".into());
            } else {
                service_types.insert(type_name, service);
            }
        }
    }

    /// A flow that Kafka may carry, named like one of its receivers or like
    /// a service that sends to one of them: the receiver's code imports the
    /// flow's events module and uses its own and the producers' crates,
    /// under one name. A flow pinned to REST or gRPC, or in a file whose
    /// `transports` leave Kafka out, has no events module.
    /// Identifiers of valid names are equal exactly when the names are, so
    /// names are compared.
    pub(super) fn flows_named_like_producers(&mut self, flows: &[Flow]) {
        let mut producers: HashMap<&str, std::collections::HashSet<&str>> = HashMap::new();
        for flow in flows {
            for receiver in &flow.to {
                producers
                    .entry(receiver.as_str())
                    .or_default()
                    .insert(flow.from.as_str());
            }
        }
        for flow in flows {
            if flow.transport.is_some_and(|t| t != Transport::Kafka) {
                continue;
            }
            let Some(receiver) = flow.to.iter().find(|r| {
                **r == flow.name
                    || producers
                        .get(r.as_str())
                        .is_some_and(|p| p.contains(flow.name.as_str()))
            }) else {
                continue;
            };
            let whose = if *receiver == flow.name {
                "its receiver".to_owned()
            } else {
                format!("service `{}`, which sends to `{receiver}`", flow.name)
            };
            let at = self
                .flow_at(&flow.name)
                .and_then(|s| self.position_of_name(&flow.name, s));
            let d = self.error(
                format!(
                    "flow `{}` has the name of {whose}: the generated code of `{receiver}` cannot tell them apart",
                    flow.name
                ),
                at,
                flow.name.len(),
            );
            let candidate = format!("{}-flow", flow.name);
            if names::check_flow(&candidate).is_ok() {
                d.label = Some(format!("did you mean `{candidate}`?"));
            }
            d.notes.push(
                "a Kafka flow's events module shares one namespace with the crates of its receivers and of the services sending to them; rename the flow (or pin it to rest or grpc)".into(),
            );
        }
    }

    /// A topic that is another flow's dead-letter topic (`<topic>.dlt`, which
    /// the generated consumers create), as Kafka compares names ('.' and
    /// '_' alike).
    pub(super) fn dead_letter_collisions(&mut self, flows: &[Flow]) {
        let dead_letters: HashMap<String, &Flow> = flows
            .iter()
            .map(|f| {
                (
                    names::topic_key(&names::dead_letter_topic(f.topic_name())),
                    f,
                )
            })
            .collect();
        for flow in flows {
            let topic = flow.topic_name();
            if let Some(other) = dead_letters.get(&names::topic_key(topic)) {
                let at = self.flow_at(&flow.name);
                self.error(
                    format!(
                        "topic `{topic}` of flow `{}` is the dead-letter topic of flow `{}`",
                        flow.name, other.name
                    ),
                    at,
                    1,
                )
                .notes
                .push(format!(
                    "the generated consumers of `{}` write poison messages to `{}`; choose another topic",
                    other.topic_name(),
                    names::dead_letter_topic(other.topic_name())
                ));
            }
        }
    }
}

impl Validator<'_> {
    /// Reports each key in `keys` as unknown `context` (" in flow `x`"),
    /// accepting the fields of `T`.
    pub(super) fn unknown_keys<T: serde::de::DeserializeOwned>(
        &mut self,
        keys: Option<Vec<Spanned<String>>>,
        context: &dyn Fn() -> String,
    ) {
        let accepted = field_names::<T>();
        for key in keys.unwrap_or_default() {
            let d = self
                .diagnostic(
                    format!("unknown field `{}`{}", key.value, context()),
                    yaml::pos(key.referenced),
                    key.value.chars().count(),
                )
                .suggest(&key.value, accepted)
                .accepted(accepted);
            self.errors.push(d);
        }
    }
}
