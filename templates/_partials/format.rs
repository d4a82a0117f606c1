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
{%- macro args(indent, head, args, tail) -%}
{#- `head(args)tail` on one line when the arguments take at most 60 characters and the line 100, else one argument a line (none of them a closure or a block that rustfmt would let overflow) -#}
{%- set joined = args | join(sep=", ") -%}
{%- set one = indent ~ head ~ "(" ~ joined ~ ")" ~ tail -%}
{%- if joined | length <= 60 and one | length <= 100 -%}
{{ one }}
{%- else -%}
{{ indent }}{{ head }}(
{%- for a in args %}
{{ indent }}    {{ a }},
{%- endfor %}
{{ indent }}){{ tail }}
{%- endif -%}
{%- endmacro args -%}
{%- macro fields(indent, head, fields, tail) -%}
{#- A struct literal `head { a: x, b: y }tail`: on one line when its fields take at most 18 characters (rustfmt's struct_lit_width) and the line 100, else one field a line -#}
{%- set joined = fields | join(sep=", ") -%}
{%- set one = indent ~ head ~ " { " ~ joined ~ " }" ~ tail -%}
{%- if joined | length <= 18 and one | length <= 100 -%}
{{ one }}
{%- else -%}
{{ indent }}{{ head }} {
{%- for f in fields %}
{{ indent }}    {{ f }},
{%- endfor %}
{{ indent }}}{{ tail }}
{%- endif -%}
{%- endmacro fields -%}
{%- macro array(indent, head, items, tail) -%}
{#- `head[items]tail` on one line when the items take at most 60 characters and the line 100, else one item a line, as rustfmt lays out an array -#}
{%- set joined = items | join(sep=", ") -%}
{%- set one = indent ~ head ~ "[" ~ joined ~ "]" ~ tail -%}
{%- if joined | length <= 60 and one | length <= 100 -%}
{{ one }}
{%- else -%}
{{ indent }}{{ head }}[
{%- for i in items %}
{{ indent }}    {{ i }},
{%- endfor %}
{{ indent }}]{{ tail }}
{%- endif -%}
{%- endmacro array -%}
