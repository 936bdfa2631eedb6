-- What each batch row cost on its own, beside the batch job's total (its duration comes from started_at/completed_at).
ALTER TABLE batch_items ADD COLUMN credits_charged INTEGER NOT NULL DEFAULT 0;
