-- The aging report sums open amounts per customer and currency by due date. This partial index
-- holds exactly the columns it reads, in GROUP BY order, for open invoices only: the report is
-- one ordered scan of the index with no table lookups and no sort.
CREATE INDEX invoices_aging ON invoices (tenant_id, customer_id, currency, due_at, open_minor)
    WHERE open_minor > 0;
