//! The questionnaire as a whole: the system's name and transports, then a
//! menu to add, edit or remove flows, each followed by the figures its
//! recommendation makes matter and then the recommendation itself, or to
//! change a service's figures.
//!
//! Every change is checked the way the file will be read back: the model
//! is written with [`to_yaml`] and loaded again, and the recommendation is
//! made on what was loaded. So what the person is shown is exactly what
//! `commsadvise recommend` will say about the written file, and a change
//! the loader would refuse (a topic collision, a near miss of a declared
//! service) is caught while the answers are still fresh.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::engine::{RuleSet, recommend};
use crate::error::Error;
use crate::questionnaire::prompt::{Interrupted, Prompter, Question};
use crate::questionnaire::questions::{Context, ask_flow};
use crate::questionnaire::{explain, figures};
use crate::spec::model::{Flow, FlowsFile, Transport};
use crate::spec::names;
use crate::spec::write::to_yaml;

/// The name diagnostics give the file while it is being built.
const DRAFT: &str = "flows.yaml";

/// What the menu offers, in the order shown.
const MENU: &[&str] = &[
    "add a flow",
    "edit a flow",
    "remove a flow",
    "change a service",
    "state the team's default",
    "done",
];

/// Builds a [`FlowsFile`] by asking questions.
pub struct Questionnaire<'a> {
    file: FlowsFile,
    rules: &'a RuleSet,
    /// Services declared on their own, with no flow naming them: kept, as
    /// the person declared them, even though no flow needs them.
    standalone: BTreeSet<String>,
    /// Services whose availability, and whose instances, were asked for
    /// already: each is asked once, when it first matters.
    asked_availability: BTreeSet<String>,
    asked_instances: BTreeSet<String>,
    /// Services asked whether outside clients consume their API.
    asked_exposed: BTreeSet<String>,
}

impl<'a> Questionnaire<'a> {
    /// A questionnaire that starts from nothing.
    pub fn new(rules: &'a RuleSet) -> Questionnaire<'a> {
        Questionnaire::from_file(
            FlowsFile {
                version: 1,
                system: "system".to_owned(),
                transports: Transport::ALL.to_vec(),
                services: std::collections::BTreeMap::new(),
                flows: Vec::new(),
                proto: Vec::new(),
                proto_path: Vec::new(),
                prefer: crate::spec::model::Prefer::default(),
            },
            rules,
        )
    }

    /// A questionnaire that edits an existing file.
    pub fn from_file(file: FlowsFile, rules: &'a RuleSet) -> Questionnaire<'a> {
        let standalone = file
            .services
            .iter()
            .filter(|(name, s)| s.description.is_none() && !referenced(&file, name))
            .map(|(name, _)| name.clone())
            .collect();
        Questionnaire {
            file,
            rules,
            standalone,
            asked_availability: BTreeSet::new(),
            asked_instances: BTreeSet::new(),
            asked_exposed: BTreeSet::new(),
        }
    }

    /// Asks until the person is done, and returns the file they built: at
    /// least one flow, and valid as written by [`to_yaml`].
    pub fn run(mut self, p: &mut dyn Prompter) -> Result<FlowsFile, Interrupted> {
        self.ask_system(p)?;
        self.ask_transports(p)?;
        if self.file.flows.is_empty() {
            self.add(p)?;
        }
        loop {
            let choice = p.select(
                &Question::new(
                    "What next?",
                    "Add, change or drop flows; the recommendations update as you go.",
                ),
                MENU,
                0,
            )?;
            match MENU[choice] {
                "add a flow" => self.add(p)?,
                "edit a flow" => self.edit(p)?,
                "remove a flow" => self.remove(p)?,
                "change a service" => self.change_service(p)?,
                "state the team's default" => self.ask_prefer(p)?,
                _ if self.file.flows.is_empty() => {
                    p.show("  x a flows file needs at least one flow; add one first");
                }
                _ => return Ok(self.file),
            }
        }
    }

    fn ask_system(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let question = Question::new(
            "What is the system called?",
            "It names the generated workspace and heads the report.",
        );
        loop {
            let answer = p.text(&question, Some(&self.file.system))?;
            let answer = answer.trim();
            match names::check(answer) {
                Ok(()) => {
                    answer.clone_into(&mut self.file.system);
                    return Ok(());
                }
                Err(why) => p.show(&format!(
                    "  x `{answer}` cannot name a system: {why}; try again"
                )),
            }
        }
    }

    fn ask_transports(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let question = Question::new(
            "Which transports can your organisation run?",
            "Only these are recommended; keep all three unless one is off the table.",
        );
        let options = [
            "rest — HTTP and JSON (axum)",
            "grpc — Protocol Buffers over HTTP/2 (tonic)",
            "kafka — a log-based broker (rdkafka)",
        ];
        let checked: Vec<bool> = Transport::ALL
            .iter()
            .map(|t| self.file.transports.contains(t))
            .collect();
        let picked = loop {
            let picked = p.multi_select(&question, &options, &checked)?;
            if !picked.is_empty() {
                break picked;
            }
            p.show("  x tick at least one transport; try again");
        };
        self.file.transports = picked.iter().map(|&i| Transport::ALL[i]).collect();
        for flow in &mut self.file.flows {
            if let Some(t) = flow.transport.filter(|t| !self.file.transports.contains(t)) {
                flow.transport = None;
                p.show(&format!(
                    "  ! `{}` pinned {t}, which is no longer allowed; the rules decide it now",
                    flow.name
                ));
            }
        }
        Ok(())
    }

    /// The team's default for internal synchronous flows (`prefer:
    /// internal:`), which settles the calls no figure separates.
    fn ask_prefer(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let options = [
            "none — let the rules decide (REST on a close call)",
            "rest — HTTP and JSON by default",
            "grpc — Protocol Buffers over HTTP/2 by default",
        ];
        let now = match self.file.prefer.internal {
            None | Some(Transport::Kafka) => 0,
            Some(Transport::Rest) => 1,
            Some(Transport::Grpc) => 2,
        };
        let picked = p.select(
            &Question::new(
                "Which transport does your team use by default between its own services?",
                "When no figure (latency, format, exposure) separates REST and gRPC on an internal call, the team's default decides, and the report says it is the team's policy.",
            ),
            &options,
            now,
        )?;
        let mut candidate = self.file.clone();
        candidate.prefer.internal = [None, Some(Transport::Rest), Some(Transport::Grpc)][picked];
        if self.accept(p, &candidate) {
            p.show("  stated the team's default");
        }
        Ok(())
    }

    fn add(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let draft = Flow::blank();
        p.show("\n-- a new flow --");
        self.ask_until_valid(p, draft, None)
    }

    fn edit(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let Some(index) = self.pick_flow(p, "Which flow do you want to change?")? else {
            return Ok(());
        };
        let flow = self.file.flows[index].clone();
        p.show(&format!(
            "\n-- changing `{}`: Enter keeps each answer --",
            flow.name
        ));
        self.ask_until_valid(p, flow, Some(index))
    }

    fn remove(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let Some(index) = self.pick_flow(p, "Which flow do you want to remove?")? else {
            return Ok(());
        };
        let name = self.file.flows[index].name.clone();
        let sure = p.confirm(
            &Question::new(
                format!("Remove `{name}`?"),
                "Its answers are lost; nothing is written until you finish.",
            ),
            false,
        )?;
        if sure {
            self.file.flows.remove(index);
            self.tidy_services();
            p.show(&format!("  removed `{name}`"));
        }
        Ok(())
    }

    /// Picks a flow by name, or `None` when there is none to pick.
    fn pick_flow(&self, p: &mut dyn Prompter, text: &str) -> Result<Option<usize>, Interrupted> {
        if self.file.flows.is_empty() {
            p.show("  x there are no flows yet");
            return Ok(None);
        }
        let options: Vec<String> = self
            .file
            .flows
            .iter()
            .map(|f| format!("{} ({} -> {})", f.name, f.from, f.to.join(", ")))
            .collect();
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let question = Question::new(text, "Flows are listed as in the file.");
        p.select(&question, &options, 0).map(Some)
    }

    /// Asks for a flow (new when `index` is `None`) until the file with it
    /// loads back, then shows its recommendation.
    fn ask_until_valid(
        &mut self,
        p: &mut dyn Prompter,
        mut draft: Flow,
        index: Option<usize>,
    ) -> Result<(), Interrupted> {
        loop {
            let flow = {
                let services: Vec<&str> = self.file.services.keys().map(String::as_str).collect();
                let taken: Vec<&str> = self
                    .file
                    .flows
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| Some(*i) != index)
                    .map(|(_, f)| f.name.as_str())
                    .collect();
                let context = Context {
                    services,
                    taken,
                    transports: &self.file.transports,
                };
                ask_flow(p, &draft, &context)?
            };
            let mut candidate = self.file.clone();
            match index {
                Some(i) => candidate.flows[i] = flow.clone(),
                None => candidate.flows.push(flow.clone()),
            }
            tidy_services(&mut candidate, &self.standalone);
            match reload(&candidate) {
                Ok(loaded) => {
                    self.file = loaded;
                    self.ask_figures(p, &flow.name)?;
                    self.explain(p, &flow.name);
                    return Ok(());
                }
                Err(problems) => {
                    p.show(&problems);
                    p.show("  let's go through this flow again; your answers are the defaults");
                    draft = flow;
                }
            }
        }
    }

    /// Asks for the figures that the flow's recommendation makes matter
    /// (see [`figures`]): retention when Kafka carries it; for each
    /// receiver not asked yet and declaring nothing, its availability when
    /// it is called synchronously, its instances when it consumes a topic.
    fn ask_figures(&mut self, p: &mut dyn Prompter, name: &str) -> Result<(), Interrupted> {
        let report = recommend(&self.file, self.rules);
        let Some(index) = self.file.flows.iter().position(|f| f.name == name) else {
            return Ok(());
        };
        let transport = report.flows[index].transport;
        let mut candidate = self.file.clone();
        if transport == Transport::Kafka {
            candidate.flows[index].retention_hours =
                figures::retention(p, &candidate.flows[index])?;
        }
        let flow = &self.file.flows[index];
        let internal_call = transport.is_synchronous()
            && flow.client == crate::spec::model::Client::Internal
            && flow.interaction == crate::spec::model::Interaction::RequestResponse;
        for receiver in &flow.to {
            let service = candidate.services.entry(receiver.clone()).or_default();
            if transport.is_synchronous()
                && service.availability.is_none()
                && self.asked_availability.insert(receiver.clone())
            {
                service.availability = figures::availability(p, receiver, service)?;
            }
            if internal_call && !service.exposed && self.asked_exposed.insert(receiver.clone()) {
                service.exposed = figures::exposed(p, receiver, service)?;
            }
            if transport == Transport::Kafka
                && service.instances.is_none()
                && self.asked_instances.insert(receiver.clone())
            {
                service.instances = figures::instances(p, receiver, service)?;
            }
        }
        self.accept(p, &candidate);
        Ok(())
    }

    /// Changes the figures of a service the person picks.
    fn change_service(&mut self, p: &mut dyn Prompter) -> Result<(), Interrupted> {
        let names: Vec<String> = self.file.services.keys().cloned().collect();
        if names.is_empty() {
            p.show("  x there are no services yet; add a flow first");
            return Ok(());
        }
        let options: Vec<&str> = names.iter().map(String::as_str).collect();
        let picked = p.select(
            &Question::new(
                "Which service do you want to change?",
                "Its figures count in every flow it takes part in.",
            ),
            &options,
            0,
        )?;
        let name = &names[picked];
        p.show(&format!(
            "\n-- changing `{name}`: Enter keeps each answer --"
        ));
        let mut candidate = self.file.clone();
        let service = candidate.services.entry(name.clone()).or_default();
        service.availability = figures::availability(p, name, service)?;
        service.instances = figures::instances(p, name, service)?;
        self.asked_availability.insert(name.clone());
        self.asked_instances.insert(name.clone());
        if self.accept(p, &candidate) {
            p.show(&format!("  changed `{name}`"));
        }
        Ok(())
    }

    /// Takes `candidate` as the file if it loads back, and says why not
    /// otherwise. The figures' questions accept only what the loader does,
    /// so a refusal here would be a bug; it is shown rather than hidden.
    fn accept(&mut self, p: &mut dyn Prompter, candidate: &FlowsFile) -> bool {
        match reload(candidate) {
            Ok(loaded) => {
                self.file = loaded;
                true
            }
            Err(problems) => {
                p.show(&problems);
                false
            }
        }
    }

    fn tidy_services(&mut self) {
        tidy_services(&mut self.file, &self.standalone);
    }

    fn explain(&self, p: &mut dyn Prompter, flow: &str) {
        let report = recommend(&self.file, self.rules);
        if let Some(rec) = report.flows.iter().find(|r| r.name == flow) {
            p.show(&format!("\n{}", explain::recommendation(rec)));
        }
    }
}

fn referenced(file: &FlowsFile, service: &str) -> bool {
    file.flows
        .iter()
        .any(|f| f.from == service || f.to.iter().any(|t| t == service))
}

/// Makes `services` what the loader would build: the flows' services, plus
/// those with a description, plus those declared on their own.
fn tidy_services(file: &mut FlowsFile, standalone: &BTreeSet<String>) {
    let needed: BTreeSet<String> = file
        .flows
        .iter()
        .flat_map(|f| std::iter::once(&f.from).chain(&f.to))
        .cloned()
        .collect();
    file.services.retain(|name, s| {
        s.description.is_some() || standalone.contains(name) || needed.contains(name)
    });
    for name in needed {
        file.services.entry(name).or_default();
    }
}

/// The file as it will be read back, or what the loader objects to.
fn reload(file: &FlowsFile) -> Result<FlowsFile, String> {
    match crate::spec::load_str(DRAFT, &to_yaml(file)) {
        Ok(loaded) => Ok(loaded),
        Err(Error::Input(diagnostics)) => {
            let mut out = String::new();
            for d in diagnostics {
                let _ = write!(out, "  x {}", d.message);
                if let Some(label) = d.label {
                    let _ = write!(out, " ({label})");
                }
                out.push('\n');
                for note in d.notes {
                    let _ = writeln!(out, "    = {note}");
                }
            }
            Err(out)
        }
        Err(other) => Err(format!("  x {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::questionnaire::questions::NEW_SERVICE;
    use crate::questionnaire::script::{Answer, Script};
    use crate::spec::load_str;

    const ORDERS: &str = include_str!("../../examples/orders.yaml");

    fn rules() -> RuleSet {
        RuleSet::builtin().expect("built-in rules")
    }

    /// Name, from and to of a flow, then Enter for the remaining questions.
    fn flow(name: &'static str, from: Answer, to: Answer) -> Vec<Answer> {
        let mut answers = vec![Answer::Text(name), Answer::Enter, from, to];
        answers.extend(std::iter::repeat_n(Answer::Enter, 13));
        answers
    }

    fn script(parts: Vec<Vec<Answer>>) -> Script {
        Script::new(parts.into_iter().flatten())
    }

    #[test]
    fn builds_a_file_flow_by_flow_and_explains_each() {
        let rules = rules();
        let mut p = script(vec![
            vec![Answer::Text("shop"), Answer::Enter],
            {
                // A browser reads an order, 200 ms.
                let mut a = flow(
                    "get-order",
                    Answer::Text("storefront"),
                    Answer::Text("orders"),
                );
                a[5] = Answer::Pick("browser");
                a[7] = Answer::Text("200");
                // REST: how available is the service the browser waits on?
                a.push(Answer::Text("99.95%"));
                a
            },
            vec![Answer::Pick("add a flow")],
            {
                let mut a = flow(
                    "order-created",
                    Answer::Pick("orders"),
                    Answer::Check(&[NEW_SERVICE]),
                );
                a.insert(4, Answer::Text("analytics, shipping"));
                a[5] = Answer::Pick("event");
                a[7] = Answer::Yes;
                a[11] = Answer::Yes;
                // Kafka: retention, then each consumer's instances.
                a.extend([Answer::Text("72"), Answer::Enter, Answer::Text("4")]);
                a
            },
            vec![Answer::Pick("done")],
        ]);
        let file = Questionnaire::new(&rules).run(&mut p).expect("answered");
        assert!(p.finished());
        assert_eq!(file.system, "shop");
        assert_eq!(
            to_yaml(&file),
            "version: 1\nsystem: shop\nservices:\n  orders:\n    availability: 0.9995\n  shipping:\n    instances: 4\nflows:\n  - name: get-order\n    from: storefront\n    to: orders\n    client: browser\n    latency_ms: 200\n  - name: order-created\n    from: orders\n    to: [analytics, shipping]\n    interaction: event\n    coupling: loose\n    replay: true\n    retention_hours: 72\n"
        );
        assert!(
            !p.texts().iter().any(|t| t.contains("`analytics` answer")),
            "a Kafka consumer is not asked how available it is: {:#?}",
            p.texts()
        );
        let output = p.output();
        assert!(
            output.contains("=> get-order: rest (storefront -> orders)"),
            "{output}"
        );
        assert!(
            output.contains("=> order-created: kafka (orders -> analytics, shipping)"),
            "{output}"
        );
        // The figures count in what is shown: four consumers, four partitions.
        assert!(
            output.contains("kafka: topic `order-created`, 4 partitions, replication 3, kept 72 h"),
            "{output}"
        );
    }

    #[test]
    fn shows_what_recommend_says_about_the_written_file() {
        let rules = rules();
        let mut p = script(vec![
            vec![Answer::Enter, Answer::Enter],
            {
                let mut a = flow(
                    "submit-order",
                    Answer::Text("storefront"),
                    Answer::Text("orders"),
                );
                a[5] = Answer::Pick("browser");
                a[10] = Answer::Yes;
                a.push(Answer::Enter);
                a
            },
            vec![Answer::Pick("done")],
        ]);
        let file = Questionnaire::new(&rules).run(&mut p).expect("answered");
        let loaded = load_str("flows.yaml", &to_yaml(&file)).expect("loads back");
        assert_eq!(loaded, file);
        let report = recommend(&loaded, &rules);
        let shown = explain::recommendation(&report.flows[0]);
        assert!(p.output().contains(&shown));
        assert!(shown.contains("conflicts:"), "{shown}");
    }

    #[test]
    fn edits_and_removes_flows_of_an_existing_file() {
        let rules = rules();
        let original = load_str("orders.yaml", ORDERS).expect("example loads");
        let mut p = script(vec![
            vec![Answer::Enter, Answer::Enter],
            vec![
                Answer::Pick("remove a flow"),
                Answer::Pick("lookup-order"),
                Answer::Yes,
            ],
            vec![Answer::Pick("edit a flow"), Answer::Pick("get-order")],
            {
                // 17 questions, then the availability of `orders`.
                let mut a: Vec<Answer> = std::iter::repeat_n(Answer::Enter, 18).collect();
                a[7] = Answer::Text("50");
                a
            },
            vec![Answer::Pick("done")],
        ]);
        let file = Questionnaire::from_file(original.clone(), &rules)
            .run(&mut p)
            .expect("answered");
        assert!(p.finished(), "{:#?}", p.texts());
        assert_eq!(file.flows.len(), 2);
        assert_eq!(file.flows[0].latency_ms, Some(50));
        assert_eq!(file.flows[1], original.flows[2]);
        // checkout only took part in the removed flow.
        assert!(!file.services.contains_key("checkout"));
        assert!(p.output().contains("removed `lookup-order`"));
    }

    #[test]
    fn declining_a_removal_keeps_the_flow() {
        let rules = rules();
        let original = load_str("orders.yaml", ORDERS).expect("example loads");
        let mut p = script(vec![vec![
            Answer::Enter,
            Answer::Enter,
            Answer::Pick("remove a flow"),
            Answer::Pick("get-order"),
            Answer::No,
            Answer::Pick("done"),
        ]]);
        let file = Questionnaire::from_file(original.clone(), &rules)
            .run(&mut p)
            .expect("answered");
        assert_eq!(file, original);
        assert_eq!(p.question("Remove").default, "no");
    }

    #[test]
    fn keeps_services_declared_on_their_own() {
        let rules = rules();
        let text = ORDERS.replace(
            "flows:\n",
            "services:\n  orders:\n    description: Owns orders\n  legacy: {}\nflows:\n",
        );
        let original = load_str("orders.yaml", &text).expect("loads");
        let mut p = script(vec![vec![
            Answer::Enter,
            Answer::Enter,
            Answer::Pick("done"),
        ]]);
        let file = Questionnaire::from_file(original.clone(), &rules)
            .run(&mut p)
            .expect("answered");
        assert_eq!(file, original);
    }

    #[test]
    fn re_asks_a_flow_the_loader_would_refuse() {
        let rules = rules();
        let text = ORDERS.replace(
            "flows:\n",
            "services:\n  orders:\n    description: Owns orders\nflows:\n",
        );
        let original = load_str("orders.yaml", &text).expect("loads");
        let mut p = script(vec![
            vec![Answer::Enter, Answer::Enter, Answer::Pick("add a flow")],
            {
                // `order` is a near miss of the declared `orders`.
                let mut a = flow(
                    "audit",
                    Answer::Pick("orders"),
                    Answer::Check(&[NEW_SERVICE]),
                );
                a.insert(4, Answer::Text("order"));
                a
            },
            {
                let mut a: Vec<Answer> = std::iter::repeat_n(Answer::Enter, 19).collect();
                a[3] = Answer::Check(&["shipping"]);
                a
            },
            vec![Answer::Pick("done")],
        ]);
        let file = Questionnaire::from_file(original, &rules)
            .run(&mut p)
            .expect("answered");
        assert!(p.finished());
        let output = p.output();
        assert!(
            output.contains("unknown service `order` in flow `audit` (did you mean `orders`?)"),
            "{output}"
        );
        assert!(output.contains("go through this flow again"), "{output}");
        assert_eq!(file.flows[3].to, ["shipping"]);
        assert!(!file.services.contains_key("order"));
    }

    #[test]
    fn unpins_transports_that_are_no_longer_allowed() {
        let rules = rules();
        let mut original = load_str("orders.yaml", ORDERS).expect("example loads");
        original.flows[0].transport = Some(Transport::Grpc);
        let mut p = script(vec![vec![
            Answer::Enter,
            Answer::Check(&["rest", "kafka"]),
            Answer::Pick("done"),
        ]]);
        let file = Questionnaire::from_file(original, &rules)
            .run(&mut p)
            .expect("answered");
        assert_eq!(file.transports, [Transport::Rest, Transport::Kafka]);
        assert_eq!(file.flows[0].transport, None);
        assert!(p.output().contains("`get-order` pinned grpc"));
        assert!(load_str("flows.yaml", &to_yaml(&file)).is_ok());
    }

    #[test]
    fn refuses_to_finish_without_a_flow() {
        let rules = rules();
        let mut only = load_str("orders.yaml", ORDERS).expect("example loads");
        only.flows.truncate(1);
        tidy_services(&mut only, &BTreeSet::new());
        let mut p = script(vec![
            vec![Answer::Enter, Answer::Enter],
            vec![Answer::Pick("remove a flow"), Answer::Enter, Answer::Yes],
            vec![Answer::Pick("done")],
        ]);
        let result = Questionnaire::from_file(only, &rules).run(&mut p);
        assert_eq!(result, Err(Interrupted), "the script ran out at the menu");
        assert!(p.output().contains("needs at least one flow"));
    }

    #[test]
    fn re_asks_names_for_the_system_and_needs_a_transport() {
        let rules = rules();
        let mut p = script(vec![
            vec![Answer::Text("My Shop"), Answer::Text("shop")],
            vec![Answer::Check(&[]), Answer::Check(&["grpc"])],
        ]);
        let result = Questionnaire::new(&rules).run(&mut p);
        assert_eq!(result, Err(Interrupted));
        let output = p.output();
        assert!(
            output.contains("`My Shop` cannot name a system"),
            "{output}"
        );
        assert!(output.contains("tick at least one transport"), "{output}");
    }

    #[test]
    fn asks_each_figure_once_and_only_where_it_matters() {
        let rules = rules();
        let mut p = script(vec![
            vec![Answer::Enter, Answer::Enter],
            {
                // A Kafka event: retention and the consumer's instances.
                let mut a = flow(
                    "order-created",
                    Answer::Text("orders"),
                    Answer::Text("shipping"),
                );
                a[4] = Answer::Pick("event");
                a[6] = Answer::Yes;
                a.extend([Answer::Enter, Answer::Enter]);
                a
            },
            vec![Answer::Pick("add a flow")],
            {
                // A REST call to the same service: its availability, and
                // whether outsiders call it too.
                let mut a = flow(
                    "get-shipment",
                    Answer::Pick("orders"),
                    Answer::Check(&["shipping"]),
                );
                a.extend([Answer::Enter, Answer::Enter]);
                a
            },
            vec![Answer::Pick("add a flow")],
            // The same two again: nothing more is asked.
            flow(
                "track-shipment",
                Answer::Pick("orders"),
                Answer::Check(&["shipping"]),
            ),
            vec![Answer::Pick("done")],
        ]);
        let file = Questionnaire::new(&rules).run(&mut p).expect("answered");
        assert!(p.finished(), "{:#?}", p.texts());
        let figures: Vec<&str> = p
            .texts()
            .into_iter()
            .filter(|t| t.starts_with("How m"))
            .collect();
        assert_eq!(
            figures,
            [
                "How many hours must Kafka keep the messages of `order-created`?",
                "How many copies of `shipping` consume in parallel?",
                "How much of the time does `shipping` answer? (0.999 is 99.9%)",
            ]
        );
        assert_eq!(
            p.texts()
                .into_iter()
                .filter(|t| t.starts_with("Do clients outside"))
                .count(),
            1,
            "asked once, for the internal call"
        );
        // Enter on every default declares nothing.
        assert!(
            file.services
                .values()
                .all(crate::spec::model::Service::is_plain)
        );
        assert_eq!(file.flows[0].retention_hours, None);
    }

    #[test]
    fn a_declared_figure_is_not_asked_again() {
        let rules = rules();
        let text = ORDERS.replace(
            "flows:\n",
            "services:\n  orders:\n    availability: 0.99\nflows:\n",
        );
        let original = load_str("orders.yaml", &text).expect("loads");
        let mut p = script(vec![
            vec![
                Answer::Enter,
                Answer::Enter,
                Answer::Pick("edit a flow"),
                Answer::Pick("get-order"),
            ],
            std::iter::repeat_n(Answer::Enter, 17).collect(),
            vec![Answer::Pick("done")],
        ]);
        let file = Questionnaire::from_file(original.clone(), &rules)
            .run(&mut p)
            .expect("answered");
        assert!(p.finished(), "{:#?}", p.texts());
        assert_eq!(file, original);
    }

    #[test]
    fn changes_a_services_figures_from_the_menu() {
        let rules = rules();
        let original = load_str("orders.yaml", ORDERS).expect("example loads");
        let mut p = script(vec![vec![
            Answer::Enter,
            Answer::Enter,
            Answer::Pick("change a service"),
            Answer::Pick("shipping"),
            Answer::Text("99.5%"),
            Answer::Text("6"),
            Answer::Pick("done"),
        ]]);
        let file = Questionnaire::from_file(original, &rules)
            .run(&mut p)
            .expect("answered");
        assert!(p.finished(), "{:#?}", p.texts());
        assert_eq!(file.services["shipping"].availability, Some(0.995));
        assert_eq!(file.services["shipping"].instances, Some(6));
        assert!(p.output().contains("changed `shipping`"), "{}", p.output());
        assert_eq!(
            p.question("Which service do you want to change?").options,
            ["analytics", "checkout", "orders", "shipping", "storefront"]
        );
        assert!(
            to_yaml(&file).contains("  shipping:\n    availability: 0.995\n    instances: 6\n")
        );
    }

    #[test]
    fn states_the_teams_default_from_the_menu() {
        let rules = rules();
        let original = load_str("orders.yaml", ORDERS).expect("example loads");
        let mut p = script(vec![vec![
            Answer::Enter,
            Answer::Enter,
            Answer::Pick("state the team's default"),
            Answer::Pick("grpc"),
            Answer::Pick("done"),
        ]]);
        let file = Questionnaire::from_file(original, &rules)
            .run(&mut p)
            .expect("answered");
        assert!(p.finished(), "{:#?}", p.texts());
        assert_eq!(file.prefer.internal, Some(Transport::Grpc));
        assert!(to_yaml(&file).contains("prefer:\n  internal: grpc\n"));
        assert!(p.output().contains("stated the team's default"));
    }

    #[test]
    fn an_interrupt_stops_the_questionnaire() {
        let rules = rules();
        let mut p = script(vec![vec![
            Answer::Text("shop"),
            Answer::Enter,
            Answer::Text("get-order"),
        ]]);
        assert_eq!(Questionnaire::new(&rules).run(&mut p), Err(Interrupted));
    }
}
