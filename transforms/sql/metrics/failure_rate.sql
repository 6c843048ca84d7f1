-- failure_rate: terminal outcomes of steps (Responses API: output items), overall and by
-- assistant, model, day, type and api;
-- expired and cancelled are their own rates (outcome_stats, shared with failure_rate_by).
create or replace view failure_rate as
with terminal as (
    select assistant_id, model, day, type, api, status
    from steps
    where is_terminal(status)
),

final as (
    select * from by_dimension('terminal', outcome_stats(status))
)

select * from final order by dimension, value;
