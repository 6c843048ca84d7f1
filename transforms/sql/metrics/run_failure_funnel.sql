-- run_failure_funnel: how runs ended: final status x last_error_code x
-- incomplete_reason, overall and by assistant, model and api, with counts and rates.
--   share_of_runs       runs / all runs of the (dimension, value) group
--   share_of_terminal   runs / runs in a terminal state of the group (NULL for rows
--                       whose status is not terminal)
create or replace view run_failure_funnel as
with grouped as (
    select
        grouped_dimension(grouping(assistant_id, model, api), ['assistant_id', 'model', 'api'])
            as dimension,
        grouped_value(grouping(assistant_id, model, api), [assistant_id, model, api]) as value,
        status, last_error_code, incomplete_reason,
        bool_or(is_run_terminal(status)) as terminal,
        count(*) as runs
    from runs
    group by grouping sets (
        (status, last_error_code, incomplete_reason),
        (assistant_id, status, last_error_code, incomplete_reason),
        (model, status, last_error_code, incomplete_reason),
        (api, status, last_error_code, incomplete_reason)
    )
),

final as (
    select
        dimension, value, status, last_error_code, incomplete_reason, runs,
        share_of_group(runs, dimension, value) as share_of_runs,
        share_of_terminal(runs, terminal, dimension, value) as share_of_terminal
    from grouped
)

select * from final
order by dimension, value, runs desc, status, last_error_code, incomplete_reason;
