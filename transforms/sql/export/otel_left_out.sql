-- otel_left_out(since): what an OpenTelemetry export leaves out, in one row, for the CLI to
-- say: steps with neither a `created_at` nor a run that has one (known only from stream
-- deltas: they cannot be placed in time), the tool calls of those steps, and the runs
-- created at or after `since` (NULL: all) that have not ended (sent only with
-- `--include-unfinished`: a tracing backend keeps the first copy of a span).
create or replace macro otel_left_out(since) as table
with

placed_runs as (
    select run_id from runs
    where created_at is not null and run_id is not null
),

unplaced_steps as (
    select step_id from steps
    where created_at is null
        and (run_id is null or run_id not in (select run_id from placed_runs))
),

final as (
    select
        (select count(*) from unplaced_steps) as steps,
        (select count(*) from tool_calls
         where step_id in (select step_id from unplaced_steps)) as tool_calls,
        (select count(*) from runs
         where created_at is not null and not is_run_terminal(status)
             and (since is null or created_at >= since)) as unfinished_runs
)

select * from final
