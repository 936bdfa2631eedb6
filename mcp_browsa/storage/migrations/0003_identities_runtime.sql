-- Identities at run time: the live Chromium of a burner or an open session, burner metering, and session ownership.

-- The --user-data-dir of the agent's live Chromium (with `pid`), so a restart can find and kill an orphan.
ALTER TABLE agents ADD COLUMN profile_dir TEXT;
-- When the live Chromium started, and how many started burner-minutes the ledger has been charged for.
ALTER TABLE agents ADD COLUMN started_at REAL;
ALTER TABLE agents ADD COLUMN billed_minutes INTEGER NOT NULL DEFAULT 0;
ALTER TABLE agents ADD COLUMN initial_url TEXT;
-- The last trust measurement: its per-check breakdown (JSON) and when it was taken.
ALTER TABLE agents ADD COLUMN trust_report TEXT;
ALTER TABLE agents ADD COLUMN trust_measured_at REAL;
CREATE INDEX agents_live ON agents(status, mode);

-- kind: create (provisioning), interactive (open_session, CDP), job (a task on the identity's profile).
ALTER TABLE agent_sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'interactive';
ALTER TABLE agent_sessions ADD COLUMN owner TEXT;
ALTER TABLE agent_sessions ADD COLUMN expires_at REAL;
ALTER TABLE agent_sessions ADD COLUMN end_reason TEXT;
CREATE INDEX agent_sessions_open ON agent_sessions(agent_id, ended_at);
