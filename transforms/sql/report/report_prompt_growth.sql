-- report_prompt_growth: prompt tokens turn by turn of the 10 threads whose prompt grows
-- fastest.
create or replace view report_prompt_growth as
select thread_id, prompt_tokens_by_turn, prompt_growth_per_turn
from threads
where prompt_growth_per_turn is not null
order by prompt_growth_per_turn desc, thread_id
limit 10;
