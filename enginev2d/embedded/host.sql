-- The host product's parts that a standalone (demo/bench) run needs: Supabase's
-- auth.uid() and the Node server's public.jobs table. Created only in the private
-- embedded cluster, never in a real deployment (there the host owns them).
CREATE SCHEMA IF NOT EXISTS auth;

CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT nullif(current_setting('request.jwt.claims', true)::jsonb ->> 'sub', '')::uuid
$$;

CREATE TABLE IF NOT EXISTS public.jobs (
  id uuid PRIMARY KEY,
  user_id uuid,
  project_id text,
  status text NOT NULL DEFAULT 'pending',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
