-- report_thread_stats: turns and cost per thread, their distribution over threads.
create or replace view report_thread_stats as
with final as (
    select
        count(*) as threads,
        p50(turns) as turns_p50,
        p95(turns) as turns_p95,
        max(turns) as turns_max,
        count(*) filter (where failed_turns > 0) as threads_with_failed_turns,
        p50(cost_usd) as cost_p50_usd,
        p95(cost_usd) as cost_p95_usd,
        max(cost_usd) as cost_max_usd,
        sum(cost_usd) as cost_usd,
        p50(duration_s) as duration_p50_s
    from threads
)

select * from final;
