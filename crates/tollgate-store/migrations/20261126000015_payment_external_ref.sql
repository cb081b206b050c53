-- The processor's or bank's own id for a payment (a PSP charge id, a bank transfer reference),
-- unique per tenant so the same payment reported by webhook and by import is not counted twice.
-- Both engines treat NULLs as distinct, so payments without one never collide.
ALTER TABLE payments ADD COLUMN external_ref TEXT;
CREATE UNIQUE INDEX payments_external_ref ON payments (tenant_id, external_ref);
