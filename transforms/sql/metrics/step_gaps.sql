-- step_gaps: the time between one step's end and the next step's creation in the same
-- run (steps ordered by created_at, then step_id). After a step that called a
-- `function`, the run waited in `requires_action` for the caller to submit tool
-- outputs, so that gap is time spent on the caller's side: `awaited_tool_outputs`.
-- Responses API items carry no times: their gaps are NULL.
create or replace view step_gaps as
with ordered as (
    select
        run_id, step_id, api, type, status, created_at, ended_at,
        lead(step_id) over run_order as next_step_id,
        lead(created_at) over run_order as next_created_at
    from steps
    where run_id is not null and created_at is not null
    window run_order as (partition by run_id order by created_at, step_id)
),

function_steps as (
    select distinct step_id
    from tool_calls
    where type = 'function'
),

final as (
    select
        ordered.run_id,
        ordered.api,
        ordered.step_id,
        ordered.type as step_type,
        ordered.status as step_status,
        ordered.next_step_id,
        function_steps.step_id is not null as awaited_tool_outputs,
        ordered.ended_at,
        ordered.next_created_at,
        date_diff('microsecond', ordered.ended_at, ordered.next_created_at) / 1e6 as gap_s
    from ordered
    left join function_steps on ordered.step_id = function_steps.step_id
    where ordered.next_step_id is not null
)

select * from final order by run_id, ended_at, step_id;
