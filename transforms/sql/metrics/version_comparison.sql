-- version_comparison: one row per change of an assistant's configuration (every version
-- with a previous_version, docs/views.md, "Assistant versions"): the metrics of the version it
-- replaced (`_before`) and its own (`_after`). Metrics are over all runs of a version,
-- wherever they fall (a version is one configuration), so a version's figures are the
-- same in every row that names it.
--   runs                            runs of the version
--   p50_duration_s, p95_duration_s  p50/p95 of duration_s over runs that have one
--   failure_rate                    failed runs / runs in a terminal state
--   failed_or_expired_rate          is_failure runs (failed, expired) / runs in a
--                                   terminal state
--   tokens_per_run                  mean total_tokens over runs with usage
--   cost_per_run_usd                mean cost_usd over priced runs
--   tool_calls                      tool calls of its runs
--   tool_failure_rate               failed calls / calls with an outcome: a call failed
--                                   when call_failed, else (Assistants) when its step
--                                   failed; it has an outcome when it failed or its step
--                                   status is terminal
-- "Did the prompt change on the 12th make things worse":
--   from version_comparison where list_contains(changed, 'instructions_hash')
--   and changed_at::date = '2025-03-12'
create or replace view version_comparison as
with run_metrics as (
    select
        v.assistant_id,
        v.version,
        count(*) as runs,
        p50(r.duration_s) as p50_duration_s,
        p95(r.duration_s) as p95_duration_s,
        (count(*) filter (where is_run_terminal(r.status) and r.status = 'failed'))
        / nullif(count(*) filter (where is_run_terminal(r.status)), 0) as failure_rate,
        (count(*) filter (where is_run_terminal(r.status) and is_failure(r.status)))
        / nullif(count(*) filter (where is_run_terminal(r.status)), 0)
            as failed_or_expired_rate,
        avg(r.total_tokens) as tokens_per_run,
        avg(r.cost_usd) as cost_per_run_usd
    from run_versions as v
    inner join runs as r on v.run_id = r.run_id
    group by v.assistant_id, v.version
),

calls as (
    select
        v.assistant_id,
        v.version,
        coalesce(c.call_failed, c.step_status = 'failed', false) as failed,
        is_terminal(c.step_status) as ended
    from run_versions as v
    inner join tool_calls as c on v.run_id = c.run_id
),

call_metrics as (
    select
        assistant_id,
        version,
        count(*) as tool_calls,
        (count(*) filter (where failed))
        / nullif(count(*) filter (where failed or ended), 0) as tool_failure_rate
    from calls
    group by assistant_id, version
),

metrics as (
    select
        r.*,
        coalesce(c.tool_calls, 0) as tool_calls,
        c.tool_failure_rate
    from run_metrics as r
    left join call_metrics as c
        on r.assistant_id = c.assistant_id and r.version = c.version
),

final as (
    select
        v.api,
        v.assistant_id,
        v.version,
        v.previous_version,
        v.changed,
        v.first_seen as changed_at,
        b.runs as runs_before,
        a.runs as runs_after,
        b.p50_duration_s as p50_duration_s_before,
        a.p50_duration_s as p50_duration_s_after,
        b.p95_duration_s as p95_duration_s_before,
        a.p95_duration_s as p95_duration_s_after,
        b.failure_rate as failure_rate_before,
        a.failure_rate as failure_rate_after,
        b.failed_or_expired_rate as failed_or_expired_rate_before,
        a.failed_or_expired_rate as failed_or_expired_rate_after,
        b.tokens_per_run as tokens_per_run_before,
        a.tokens_per_run as tokens_per_run_after,
        b.cost_per_run_usd as cost_per_run_usd_before,
        a.cost_per_run_usd as cost_per_run_usd_after,
        b.tool_calls as tool_calls_before,
        a.tool_calls as tool_calls_after,
        b.tool_failure_rate as tool_failure_rate_before,
        a.tool_failure_rate as tool_failure_rate_after
    from assistant_versions as v
    inner join metrics as a on v.assistant_id = a.assistant_id and v.version = a.version
    inner join metrics as b
        on v.assistant_id = b.assistant_id and v.previous_version = b.version
    where v.previous_version is not null
)

select * from final order by assistant_id, version;
