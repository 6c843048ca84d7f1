-- report_threads: the 10 threads whose prompts grow fastest (context bloat).
create or replace view report_threads as
select thread_id, assistant_id, turns, failed_turns, first_turn_prompt_tokens,
       last_turn_prompt_tokens, prompt_growth_per_turn, prompt_growth_ratio, cost_usd
from threads
where prompt_growth_per_turn is not null
order by prompt_growth_per_turn desc, thread_id
limit 10;
