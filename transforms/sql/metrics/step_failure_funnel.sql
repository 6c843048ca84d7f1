-- step_failure_funnel: how steps ended: final status x last_error_code, overall and by
-- assistant, model, step type and api, with counts and rates (as run_failure_funnel;
-- steps have no incomplete_reason).
create or replace view step_failure_funnel as
with grouped as (
    select
        grouped_dimension(grouping(assistant_id, model, type, api),
                          ['assistant_id', 'model', 'type', 'api']) as dimension,
        grouped_value(grouping(assistant_id, model, type, api),
                      [assistant_id, model, type, api]) as value,
        status, last_error_code,
        bool_or(is_terminal(status)) as terminal,
        count(*) as steps
    from steps
    group by grouping sets (
        (status, last_error_code),
        (assistant_id, status, last_error_code),
        (model, status, last_error_code),
        (type, status, last_error_code),
        (api, status, last_error_code)
    )
),

final as (
    select
        dimension, value, status, last_error_code, steps,
        share_of_group(steps, dimension, value) as share_of_steps,
        share_of_terminal(steps, terminal, dimension, value) as share_of_terminal
    from grouped
)

select * from final order by dimension, value, steps desc, status, last_error_code;
