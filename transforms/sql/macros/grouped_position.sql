-- grouped_position(grouping_id, n): in a `group by grouping sets` query whose sets each
-- group by at most one of n dimension columns (plus any columns every set has), the
-- position (1..n, in the order given to grouping()) of the column a row is grouped by;
-- NULL for the set that groups by none. grouping() sets a column's bit, most significant
-- first, when the row is NOT grouped by it: the dimension is the one zero bit.
create or replace macro grouped_position(grouping_id, n) as
    list_position(list_transform(range(n), lambda i: (grouping_id >> (n - 1 - i)) & 1), 0);
