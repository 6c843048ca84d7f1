-- step_latency_by(dim): step_latency grouped by any expression over `steps`:
--   from step_latency_by(metadata->>'phase');
create or replace macro step_latency_by(dim) as table
    with grouped as (
        select dim as value, latency_stats(latency_s) as stats
        from steps
        where status = 'completed' and latency_s is not null
        group by all
    ),

    final as (
        select value, stats.* from grouped
    )

    select * from final order by value;
