-- step_latency: latency of completed steps, overall and by assistant, model, day, type.
create or replace view step_latency as
with completed as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type, latency_s
    from steps
    where status = 'completed' and latency_s is not null
),

grouped as (
    select
        grouping(assistant_id, model, day, type) as grouping_id,
        assistant_id, model, day, type,
        count(*) as n,
        avg(latency_s) as mean_s,
        p50(latency_s) as p50_s,
        p90(latency_s) as p90_s,
        p95(latency_s) as p95_s,
        p99(latency_s) as p99_s,
        max(latency_s) as max_s
    from completed
    group by grouping sets ((), (assistant_id), (model), (day), (type))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type) as value,
        n, mean_s, p50_s, p90_s, p95_s, p99_s, max_s
    from grouped
)

select * from final order by dimension, value;
