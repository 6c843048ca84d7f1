-- share_of_terminal(n, terminal, dimension, value): for a row of terminal statuses, its
-- count `n` over the sum of `n` of the terminal rows of its (dimension, value) group; NULL
-- for a row whose status is not terminal (the funnels' share_of_terminal).
create or replace macro share_of_terminal(n, terminal, dimension, value) as
    case when terminal
         then n / sum(n) filter (where terminal) over (partition by dimension, value) end;
