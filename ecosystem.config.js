// pm2 process file for enginev2d (the Node host already runs under pm2).
//
//   pm2 start ecosystem.config.js && pm2 save
//
// Instant stop (design 16): set ENGINE_V2_ENABLED=false below (or in the env file the
// config points to) and `pm2 restart enginev2d --update-env`: the new process claims
// nothing and fails every unowned running job over to v1, so the running count drains
// to 0.
//
// pm2 stops a process with SIGINT and SIGKILLs it after kill_timeout (default 1.6 s).
// enginev2d treats SIGINT like SIGTERM: running tasks get daemon.shutdown_grace_s
// (20 s), then the rest is aborted and leases released (about 5 s more). kill_timeout
// must exceed both, or the SIGKILL leaves leases to expire after lease_s instead.
module.exports = {
  apps: [
    {
      name: 'enginev2d',
      script: '/opt/enginev2d/.venv/bin/enginev2d',
      args: 'run',
      interpreter: 'none', // a console script, not a Node file
      exec_mode: 'fork', // one supervisor process; scale out with more hosts, not cluster mode
      instances: 1,
      autorestart: true,
      restart_delay: 2000,
      exp_backoff_restart_delay: 2000,
      max_restarts: 50,
      kill_timeout: 45000, // ms: > shutdown_grace_s (20 s) + abort/release (5 s)
      treekill: true,
      merge_logs: true, // JSON lines on stderr: do not prefix them with timestamps
      time: false,
      env: {
        PYTHONUNBUFFERED: '1',
        ENGINEV2_CONFIG: '/etc/enginev2d/enginev2d.toml',
        ENGINE_V2_ENABLED: 'false', // the kill switch: only 'true' enables v2
        // DATABASE_URL and the API keys come from the environment pm2 is started with
        // (e.g. `set -a; . /etc/enginev2d/enginev2d.env; set +a; pm2 start ...`):
        // never put secrets in this file.
      },
    },
  ],
};
