-- run_failure_funnel: how runs ended: final status x last_error_code x
-- incomplete_reason, overall and by assistant, model and api, with counts and rates.
--   share_of_runs       runs / all runs of the (dimension, value) group
--   share_of_terminal   runs / runs in a terminal state of the group (NULL for rows
--                       whose status is not terminal)
create or replace view run_failure_funnel as
with outcomes as (
    select assistant_id, model, api, status, last_error_code, incomplete_reason,
           is_run_terminal(status) as terminal
    from runs
),

grouped as (
    select
        grouping(assistant_id, model, api) as grouping_id,
        assistant_id, model, api, status, last_error_code, incomplete_reason,
        bool_or(terminal) as terminal,
        count(*) as runs
    from outcomes
    group by grouping sets (
        (status, last_error_code, incomplete_reason),
        (assistant_id, status, last_error_code, incomplete_reason),
        (model, status, last_error_code, incomplete_reason),
        (api, status, last_error_code, incomplete_reason)
    )
),

with_totals as (
    select
        *,
        sum(runs) over group_rows as group_runs,
        sum(runs) filter (where terminal) over group_rows as group_terminal_runs
    from grouped
    window group_rows as (partition by grouping_id, assistant_id, model, api)
),

final as (
    select
        case grouping_id when 7 then 'all' when 3 then 'assistant_id' when 5 then 'model'
            when 6 then 'api'
        end as dimension,
        case grouping_id when 3 then assistant_id when 5 then model when 6 then api
        end as value,
        status, last_error_code, incomplete_reason,
        runs,
        runs / group_runs as share_of_runs,
        case when terminal then runs / group_terminal_runs end as share_of_terminal
    from with_totals
)

select * from final
order by dimension, value, runs desc, status, last_error_code, incomplete_reason;
