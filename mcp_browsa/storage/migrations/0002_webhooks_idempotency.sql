-- Idempotency reservations with an owner lease, and the indexes webhook delivery and key lookups need.

-- A reservation is owned by one live call; its request id finds the job it created if the owner dies.
ALTER TABLE idempotency_keys ADD COLUMN request_id TEXT;
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
ALTER TABLE idempotency_keys ADD COLUMN lease_expires_at REAL;
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);

CREATE INDEX jobs_request ON jobs(workspace_id, request_id);

CREATE INDEX webhooks_ws ON webhooks(workspace_id, created_at);
CREATE INDEX webhook_outbox_hook ON webhook_outbox(webhook_id, status);
CREATE INDEX webhook_deliveries_outbox ON webhook_deliveries(outbox_id);

CREATE INDEX api_keys_ws ON api_keys(workspace_id, created_at);
