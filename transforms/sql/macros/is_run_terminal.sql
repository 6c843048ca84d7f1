-- is_run_terminal(status): a run status that will not change any more (from the Python
-- declaration, like is_terminal).
create or replace macro is_run_terminal(status) as status in run_terminal_statuses();
