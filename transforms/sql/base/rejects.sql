-- rejects: every line or list item that could not be read, with file, line and reason.
create or replace view rejects as from warehouse_table('rejects');
