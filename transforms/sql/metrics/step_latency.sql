-- step_latency: latency of completed steps, overall and by assistant, model, day, type and
-- api (Responses API items carry no times: they have no latency).
-- `day` is grouped as a DATE and formatted after aggregation (at 5 million steps that
-- halves the time); the aggregates are latency_stats, shared with step_latency_by.
create or replace view step_latency as
with completed as (
    select assistant_id, model, day, type, api, latency_s
    from steps
    where status = 'completed' and latency_s is not null
),

grouped as (
    select
        grouping(assistant_id, model, day, type, api) as grouping_id,
        assistant_id, model, day, type, api,
        latency_stats(latency_s) as stats
    from completed
    group by grouping sets ((), (assistant_id), (model), (day), (type), (api))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, strftime(day, '%Y-%m-%d'),
                        type, api)
            as value,
        stats.*
    from grouped
)

select * from final order by dimension, value;
