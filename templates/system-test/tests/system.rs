{%- import "_partials/format.rs" as format -%}
{%- set t = system_test -%}
//! The whole `{{ system }}` system at work in one process: every service started (see
//! [`System`]), every flow sent once through its sender's own clients{% if t.publishes %} and publishers{% endif %}
//! (the edge services', those without handlers, first), then what must have reached each
//! service downstream, with the ids that went in.
//!
//! It checks what the example handlers do; when yours do more (a row stored, a call made),
//! check that here, from the edge, the way a user would see it. Generated with the flows:
//! `commsadvise scaffold` updates it when they change, unless you changed it; then yours
//! stays and the new version is written beside it (`system.rs.commsadvise-new`).
{% if t.reads_logs %}
use system_test::{Logs, System};
{%- else %}
use system_test::System;
{%- endif %}

#[tokio::test(flavor = "multi_thread")]
async fn what_enters_at_the_edge_reaches_every_service_downstream() {
{%- if t.reads_logs %}
    let logs = Logs::capture();
{%- endif %}
    let system = System::start().await.expect("every service starts");

    // Every service ready: its broker and database answer.
    for (name, addr) in system.http_addrs() {
        let answer = system_test::readyz(addr).await.unwrap();
        assert!(
            answer.ends_with(r#"{"status":"ready"}"#),
            "{name}: {answer}"
        );
    }
{%- for e in t.calls %}
{# blank line #}
{%- if e.edge %}{% set how = "" %}{% else %}{% set how = ", as its handlers would" %}{% endif %}
{%- if e.streaming %}
    // {{ e.caller.name }} follows {{ e.flow }} on {{ e.call.target }}{{ how }}: the first item comes.
{%- else %}
    // {{ e.caller.name }} calls {{ e.flow }} on {{ e.call.target }}{{ how }}{% if e.call.rpc.id_field %}, with id {{ e.id }}{% endif %}.
{%- endif %}
    let config = &system.configs.{{ e.caller.ident }};
    let deadlines = system_test::deadlines;
    let out = {{ e.caller.ident }}::outbound::Outbound::from_lookup(config, deadlines);
    let out = out.expect("the clients of {{ e.caller.name }}");
{%- if e.call.rpc.id_field %}
    let request = {{ e.clients }}::{{ e.call.client }}::{{ e.call.rpc.method | trim_start_matches(pat="r#") }}_request("{{ e.id }}");
{%- else %}
    let request = {{ e.call.rpc.request }}::default();
{%- endif %}
    let client = &out.{{ e.call.out_field }};
{%- if e.streaming %}
    let stream = client.{{ e.call.rpc.method }}(&request).await;
    let mut stream = stream.expect("{{ e.flow }} opens");
    let first = stream.next().await.expect("an item of {{ e.flow }}");
    assert!(first.is_ok(), "{{ e.flow }}: {first:?}");
{%- else %}
    let answer = client.{{ e.call.rpc.method }}(&request).await;
    assert!(answer.is_ok(), "{{ e.flow }}: {answer:?}");
{%- endif %}
{%- endfor %}
{%- for p in t.publishes %}
{# blank line #}
    // {{ p.producer.name }} announces {{ p.announcement.flow }}{% if not p.edge %}, as its handlers would{% endif %}, with id {{ p.id }}.
    let config = &system.configs.{{ p.producer.ident }};
    let out = {{ p.producer.ident }}::outbound::Outbound::new(config).await;
    let out = out.expect("the publishers of {{ p.producer.name }}");
    let event = contract::events::{{ p.announcement.module }}::sample("{{ p.id }}");
    let published = out.{{ p.announcement.module }}.publish(&event).await;
    assert!(published.is_ok(), "{{ p.announcement.flow }}: {published:?}");
{%- endfor %}
{%- for h in t.handled %}
{%- set a = h.announcement %}
{# blank line #}
    // {{ h.why }}
    let event = contract::events::{{ a.module }}::sample("{{ a.sample_id }}");
    let key = contract::events::{{ a.module }}::key(&event);
{%- for c in a.consumers %}
    let group = {{ c.ident }}::kafka::GROUP_ID;
    logs.assert_handled(group, &key).await;
{%- endfor %}
{%- endfor %}
{%- for e in t.calls %}
{%- if e.traced %}
{# blank line #}
    // One trace from {{ e.caller.name }}'s call of {{ e.flow }} through these servers{% if e.announces and e.announces.consumers %} to
    // every consumer of {{ e.announces.flow }}{% endif %}.
{%- set_global quoted = [] %}
{%- for span in e.traced %}{% set_global quoted = quoted | concat(with='"' ~ span ~ '"') %}{% endfor %}
{{ format::array(indent="    ", head="let spans = ", items=quoted, tail=";") }}
{%- if e.announces and e.announces.consumers %}
    let topic = contract::events::{{ e.announces.module }}::WIRE.topic;
{%- set_global groups = [] %}
{%- for c in e.announces.consumers %}{% set_global groups = groups | concat(with="(topic, " ~ c.ident ~ "::kafka::GROUP_ID)") %}{% endfor %}
{{ format::array(indent="    ", head="let consumers = ", items=groups, tail=";") }}
    let flow = "{{ e.flow }}";
    logs.assert_traced(flow, &spans, &consumers).await;
{%- else %}
    let flow = "{{ e.flow }}";
    logs.assert_traced(flow, &spans, &[]).await;
{%- endif %}
{%- endif %}
{%- endfor %}
{%- for task in t.tasks %}
{# blank line #}
    // {{ task.service.name }}'s start-up task reached its callee through its own state.
    let answered = "{{ task.logs }}";
    logs.assert_logged("{{ task.service.ident }}", answered).await;
{%- endfor %}
{# blank line #}
    system.stop().await.expect("every service stops cleanly");
}
