-- failure_rate: terminal outcomes of steps, overall and by assistant, model, day, type;
-- expired and cancelled are their own rates (outcome_stats, shared with failure_rate_by).
create or replace view failure_rate as
with terminal as (
    select assistant_id, model, strftime(day, '%Y-%m-%d') as day, type, status
    from steps
    where is_terminal(status)
),

grouped as (
    select
        grouping(assistant_id, model, day, type) as grouping_id,
        assistant_id, model, day, type,
        outcome_stats(status) as stats
    from terminal
    group by grouping sets ((), (assistant_id), (model), (day), (type))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type) as value,
        stats.*
    from grouped
)

select * from final order by dimension, value;
