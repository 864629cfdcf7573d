// pm2 process file for enginev2d (the Node host already runs under pm2).
//
// The environment pm2 is started with is the daemon's: this file pins none of the
// operator's variables (DATABASE_URL, ENGINE_V2_*, ENGINEV2_*), so nothing here can
// silently override a flag. Start:
//
//   set -a; . /etc/enginev2d/enginev2d.env; set +a; pm2 start ecosystem.config.js && pm2 save
//
// Instant stop (design 16), fleet-wide and without a restart:
//
//   enginev2d disable --reason "incident 123"     # every daemon; `enginev2d enable` resumes
//
// Or on this host only, through the environment flag (v2 runs only while both are on):
//
//   ENGINE_V2_ENABLED=false pm2 restart enginev2d --update-env
//
// Restart by name WITH --update-env: pm2 merges the shell's environment into the app's.
// `pm2 restart ecosystem.config.js`, or any restart without --update-env, keeps the old
// value. Either way the daemon claims nothing and fails every running job over to v1,
// so `enginev2d rollback-check` reads 0; `enginev2d status` shows each daemon's flags.
//
// pm2 stops a process with SIGINT and SIGKILLs it after kill_timeout (default 1.6 s).
// enginev2d treats SIGINT like SIGTERM: running tasks get daemon.shutdown_grace_s
// (20 s), then the rest is aborted and leases released (about 5 s more). kill_timeout
// must exceed both, or the SIGKILL leaves leases to expire after lease_s instead.
//
// After `enginev2d uninstall` a daemon still running exits with one line (exit code 3)
// and pm2 restarts it, at exp_backoff_restart_delay's growing pace (up to 15 s), into the
// same one-line refusal: stop it first (`pm2 stop enginev2d`; README, full removal).
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
      exp_backoff_restart_delay: 2000, // 2 s, doubling up to 15 s while it keeps failing
      max_restarts: 50,
      kill_timeout: 45000, // ms: > shutdown_grace_s (20 s) + abort/release (5 s)
      treekill: true,
      merge_logs: true, // JSON lines on stderr: do not prefix them with timestamps
      time: false,
      env: {
        PYTHONUNBUFFERED: '1', // not an operator setting: log lines leave at once
      },
    },
  ],
};
