-- A held payment method or order is released or declined by an analyst (or by a later decision,
-- when the customer's first payment clears). The review says who, when and why; the status index
-- serves the review queue (`status = held`).
ALTER TABLE payment_methods ADD COLUMN reviewed_by TEXT;
ALTER TABLE payment_methods ADD COLUMN reviewed_at BIGINT;
ALTER TABLE payment_methods ADD COLUMN review_note TEXT;
ALTER TABLE orders ADD COLUMN reviewed_by TEXT;
ALTER TABLE orders ADD COLUMN reviewed_at BIGINT;
ALTER TABLE orders ADD COLUMN review_note TEXT;
CREATE INDEX payment_methods_status ON payment_methods (tenant_id, status, id);
CREATE INDEX orders_status ON orders (tenant_id, status, id);
