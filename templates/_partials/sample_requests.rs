{#- scaffold
when: false
-#}
{#- The sample request of each rpc called on `target` that has an id field:
what `call <flow> <id>` sends (inside the client's impl block). -#}
{%- for m in target.methods %}{% if m.rpc.id_field %}

    /// `{{ m.rpc.full_name }}`'s request with `{{ m.rpc.id_field }}` set to `id`{% if m.rpc.request_has_more %}, the
    /// rest at its default{% endif %}: what `call {{ m.flow }} <id>` sends.
    pub fn {{ m.rpc.method | trim_start_matches(pat="r#") }}_request(id: &str) -> {{ m.rpc.request }} {
{%- set_global samples = [] %}
{%- for v in m.rpc.route.vars %}{% if v.sample %}{% set_global samples = samples | concat(with=v) %}{% endif %}{% endfor %}
{%- if m.rpc.id_field | length <= 3 and not m.rpc.request_has_more %}
        {{ m.rpc.request }} { {{ m.rpc.id_field }}: id.to_owned() }
{%- else %}
        {{ m.rpc.request }} {
            {{ m.rpc.id_field }}: id.to_owned(),
{%- for v in samples %}
            {{ v.field }}: "{{ v.sample }}".to_owned(),
{%- endfor %}
{%- if m.rpc.request_has_more %}
            ..Default::default()
{%- endif %}
        }
{%- endif %}
    }
{%- endif %}{% endfor -%}
