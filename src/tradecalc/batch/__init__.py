"""Many shipments: rows in and out, the join against the rate table, worker processes and the
rate-table export."""
