-- is_terminal(status): a step status that will not change any more. The list itself,
-- step_terminal_statuses(), is made from the Python declaration (transforms/statuses.py)
-- when the views are built, so Python and SQL cannot disagree.
create or replace macro is_terminal(status) as status in step_terminal_statuses();
