{#- scaffold
when: service.produces or service.consumes
-#}
{%- if service.produces -%}
{% include "_partials/producer_tests.rs" %}
{%- else -%}
{% include "_partials/consumer_tests.rs" %}
{%- endif -%}
