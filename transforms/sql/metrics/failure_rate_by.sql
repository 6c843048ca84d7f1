-- failure_rate_by(dim): failure_rate grouped by any expression over `steps`:
--   from failure_rate_by(last_error_code);
create or replace macro failure_rate_by(dim) as table
    with grouped as (
        select dim as value, outcome_stats(status) as stats
        from steps
        where is_terminal(status)
        group by all
    ),

    final as (
        select value, stats.* from grouped
    )

    select * from final order by value;
