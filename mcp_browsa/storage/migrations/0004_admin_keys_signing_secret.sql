-- Keys minted with `keys create --admin` may list, create and revoke keys through the key tools.
ALTER TABLE api_keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
-- The workspace's webhook signing secret, readable again (webhook_signing_secret); an endpoint whose own
-- secret is '' is signed with it.
ALTER TABLE workspaces ADD COLUMN webhook_secret TEXT;
