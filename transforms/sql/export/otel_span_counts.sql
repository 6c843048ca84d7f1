-- otel_span_counts(since, include_unfinished): how many spans `steplens export otlp` would
-- send, one row per span kind (`run`, `response`, `step`, `tool_call`): for the progress
-- bar and the choice of worker processes. The same selection as otel_spans.
create or replace macro otel_span_counts(since, include_unfinished) as table
with

spans as (
    select kind from otel_spans(since, false, include_unfinished)
),

final as (
    select kind, count(*) as spans
    from spans
    group by kind
)

select * from final
