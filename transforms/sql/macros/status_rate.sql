-- status_rate(status, wanted): share of terminal steps that ended in `wanted` (NULL when
-- none is terminal), e.g. `select status_rate(status, 'failed') from steps`.
create or replace macro status_rate(status, wanted) as
    count_if(status = wanted)::double / nullif(count_if(is_terminal(status)), 0);
