-- Folding an account reads its credit notes through its invoices: by customer on invoices
-- (invoices_customer), then by invoice here. Without this index PostgreSQL read every credit
-- note of every tenant on each fold, once per customer an import or a payment touched.
CREATE INDEX credit_notes_invoice ON credit_notes (tenant_id, invoice_id);
