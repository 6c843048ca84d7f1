-- failure_rate: terminal outcomes of steps (Responses API: output items), overall and by
-- assistant, model, day, type and api;
-- expired and cancelled are their own rates (outcome_stats, shared with failure_rate_by).
create or replace view failure_rate as
with terminal as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type, api, status
    from steps
    where is_terminal(status)
),

grouped as (
    select
        grouping(assistant_id, model, day, type, api) as grouping_id,
        assistant_id, model, day, type, api,
        outcome_stats(status) as stats
    from terminal
    group by grouping sets ((), (assistant_id), (model), (day), (type), (api))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type, api) as value,
        stats.*
    from grouped
)

select * from final order by dimension, value;
