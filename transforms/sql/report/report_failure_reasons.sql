-- report_failure_reasons: how the runs that did not complete ended, most frequent first:
-- one row per (status, reason) over runs in a terminal state other than `completed`.
--   reason              last_error_code (failed), incomplete_reason (incomplete), else
--                       NULL (cancelled, expired, or no code given)
--   runs                runs that ended so
--   share_of_terminal   runs / runs in a terminal state
create or replace view report_failure_reasons as
with ended as (
    select status, coalesce(last_error_code, incomplete_reason) as reason
    from runs
    where is_run_terminal(status)
),

grouped as (
    select status, reason, count(*) as runs
    from ended
    where status <> 'completed'
    group by status, reason
),

final as (
    select
        status,
        reason,
        runs,
        runs / (select count(*) from ended) as share_of_terminal
    from grouped
)

select * from final order by runs desc, status, reason nulls last;
