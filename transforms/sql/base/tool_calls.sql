-- tool_calls: one row per tool call of a step's winning record (docs/tables.md, "Tables").
create or replace view tool_calls as from warehouse_table('tool_calls');
