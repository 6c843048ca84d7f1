-- report_thread_turns: threads by turn count (20: 20 or more), and how many of them had
-- a failed turn.
create or replace view report_thread_turns as
select least(turns, 20) as turns, count(*) as threads,
       count(*) filter (where failed_turns > 0) as with_failures
from threads
group by 1
order by 1;
