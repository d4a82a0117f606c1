{#- scaffold
when: false
-#}
{#- Macros that print Rust the way rustfmt lays it out, for the generated
    tests: a line that fits in 100 columns stays one line, a longer `let`
    breaks after `=`, a chain over 60 characters goes one call a line, a call
    whose arguments pass 60 characters one argument a line. -#}
{%- macro let(indent, head, value) -%}
{%- set line = indent ~ head ~ " " ~ value -%}
{%- if line | length <= 100 -%}
{{ line }}
{%- else -%}
{{ indent }}{{ head }}
{{ indent }}    {{ value }}
{%- endif -%}
{%- endmacro let -%}
{%- macro chain(indent, head, receiver, calls, tail) -%}
{#- `head receiver.call().call()tail`, or one call a line as rustfmt lays out a chain over 60 characters -#}
{%- set called = calls | join(sep="") -%}
{%- set joined = receiver ~ called -%}
{%- set whole = indent ~ head ~ joined ~ tail -%}
{%- if joined | length <= 60 and whole | length <= 100 -%}
{{ indent }}{{ head }}{{ joined }}{{ tail }}
{%- else -%}
{{ indent }}{{ head }}{{ receiver }}
{%- for c in calls %}
{{ indent }}    {{ c }}
{%- endfor -%}
{{ tail }}
{%- endif -%}
{%- endmacro chain -%}
{%- macro call(head, verb, path, body) -%}
{%- set rhs = "call(&server, Method::" ~ verb ~ ', "' ~ path ~ '", ' ~ body ~ ").await;" -%}
{%- set args = "&server, Method::" ~ verb ~ ', "' ~ path ~ '", ' ~ body -%}
{%- set one = "    " ~ head ~ " " ~ rhs -%}
{%- set next = "        " ~ rhs -%}
{%- if args | length <= 60 and one | length <= 100 -%}
{{ one }}
{%- elif args | length <= 60 and next | length <= 100 -%}
{{ "    " ~ head }}
{{ next }}
{%- else -%}
{{ "    " ~ head }} call(
        &server,
        Method::{{ verb }},
        "{{ path }}",
        {{ body }},
    )
    .await;
{%- endif -%}
{%- endmacro call -%}
