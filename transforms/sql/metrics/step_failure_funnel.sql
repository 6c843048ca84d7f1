-- step_failure_funnel: how steps ended: final status x last_error_code, overall and by
-- assistant, model, step type and api, with counts and rates (as run_failure_funnel;
-- steps have no incomplete_reason).
create or replace view step_failure_funnel as
with outcomes as (
    select assistant_id, model, type, api, status, last_error_code,
           is_terminal(status) as terminal
    from steps
),

grouped as (
    select
        grouping(assistant_id, model, type, api) as grouping_id,
        assistant_id, model, type, api, status, last_error_code,
        bool_or(terminal) as terminal,
        count(*) as steps
    from outcomes
    group by grouping sets (
        (status, last_error_code),
        (assistant_id, status, last_error_code),
        (model, status, last_error_code),
        (type, status, last_error_code),
        (api, status, last_error_code)
    )
),

with_totals as (
    select
        *,
        sum(steps) over group_rows as group_steps,
        sum(steps) filter (where terminal) over group_rows as group_terminal_steps
    from grouped
    window group_rows as (partition by grouping_id, assistant_id, model, type, api)
),

final as (
    select
        case grouping_id
            when 15 then 'all' when 7 then 'assistant_id' when 11 then 'model'
            when 13 then 'type' when 14 then 'api'
        end as dimension,
        case grouping_id
            when 7 then assistant_id when 11 then model when 13 then type when 14 then api
        end as value,
        status, last_error_code,
        steps,
        steps / group_steps as share_of_steps,
        case when terminal then steps / group_terminal_steps end as share_of_terminal
    from with_totals
)

select * from final order by dimension, value, steps desc, status, last_error_code;
