-- failure_rate: terminal outcomes of steps; expired and cancelled are their own rates.
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
        count(*) as terminal,
        count_if(status = 'completed')::bigint as completed,
        count_if(status = 'failed')::bigint as failed,
        count_if(status = 'cancelled')::bigint as cancelled,
        count_if(status = 'expired')::bigint as expired
    from terminal
    group by grouping sets ((), (assistant_id), (model), (day), (type))
),

final as (
    select
        dimension_name(grouping_id) as dimension,
        dimension_value(grouping_id, assistant_id, model, day, type) as value,
        terminal, completed, failed, cancelled, expired,
        failed::double / nullif(terminal, 0) as failure_rate,
        cancelled::double / nullif(terminal, 0) as cancelled_rate,
        expired::double / nullif(terminal, 0) as expired_rate
    from grouped
)

select * from final order by dimension, value;
