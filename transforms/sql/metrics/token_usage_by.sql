-- token_usage_by(dim): token and cost sums (token_stats) grouped by any expression over
-- `usage`:   from token_usage_by(date_trunc('week', day));
create or replace macro token_usage_by(dim) as table
    with grouped as (
        select dim as value,
               token_stats(prompt_tokens, cached_tokens, completion_tokens,
                           reasoning_tokens, total_tokens, cost_usd) as stats
        from usage
        group by all
    ),

    final as (
        select value, stats.* from grouped
    )

    select * from final order by value;
