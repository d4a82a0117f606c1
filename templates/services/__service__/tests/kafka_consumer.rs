{#- scaffold
when: service.produces and service.consumes
-#}
{% include "_partials/consumer_tests.rs" %}
{#- the consumer's tests, apart from the producer's in kafka.rs -#}
