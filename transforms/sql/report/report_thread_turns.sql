-- report_thread_turns: threads by turn count (20: 20 or more), and how many of them had
-- a failed turn.
create or replace view report_thread_turns as
with capped as (
    select least(turns, 20) as turns, failed_turns > 0 as had_failure
    from threads
),

final as (
    select turns, count(*) as threads, count(*) filter (where had_failure) as with_failures
    from capped
    group by turns
)

select * from final order by turns;
