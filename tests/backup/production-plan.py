#!/usr/bin/env python3
"""Writes the test plan that runs the reference plan's own backup and
database-migration phases against the test's PostgreSQL and s3rver.

    production-plan.py PRODUCTION_YAML OUT_YAML STATE_DIR S3_ENDPOINT RELEASE LAST_STEP_EXIT

Taken from the reference plan unchanged: the head keys, the services (the
migration runs in a container of the api service's image, with its
environment), the two phases with every step, command and key, and the
rollback section. What the test replaces, and why:
  - release: a fixed id (the plan's `git` would name this checkout's HEAD);
    the test tags its stand-in api image corp/api:RELEASE.
  - state_dir: the test's directory.
  - backup_storage.endpoint: the test's s3rver (bucket and prefix kept).
  - the database-backup step's `service: postgres` is dropped: the test's
    PostgreSQL runs on this machine, not in a container of the postgres
    service, and this version refuses to restore into a container (which
    rolling a migration back by the dump and `corpdeploy restore` do). The
    same dump and restore commands run here, where PGHOST and PGPORT point
    them at the test's server.
  - the api service's networks are dropped: the migration's one-off
    container joins them (to reach postgres:5432 by name), but the test's
    PostgreSQL listens on this machine's loopback, which a container shares
    only without networks of its own.
  - the services' blue-green keys (strategy, proxy, drain) are dropped:
    `up` refuses a plan with a blue-green service for now, and these
    phases deploy no service.
  - the phases before and after are left out (they need the full stack), and
    so are notify (it would post to Slack) and probe (it polls port 80);
    one step stands in for the deployment that follows the migration and
    exits with LAST_STEP_EXIT, so that a failure there rolls the run back.
"""
import sys

import yaml

KEPT_PHASES = ("backup", "database-migration")


def main():
    src, out, state_dir, s3, release, last_exit = sys.argv[1:]
    with open(src) as f:
        plan = yaml.safe_load(f)
    phases = {p["name"]: p for p in plan["phases"]}
    missing = [n for n in KEPT_PHASES if n not in phases]
    if missing:
        sys.exit(f"{src}: no phase {', '.join(missing)}")

    plan["release"] = release
    plan["state_dir"] = state_dir
    plan["backup_storage"]["endpoint"] = s3
    for key in ("notify", "probe"):
        plan.pop(key, None)
    plan["services"]["api"].pop("networks", None)
    for svc in plan["services"].values():
        if svc.get("strategy") == "blue-green":
            for key in ("strategy", "proxy", "drain"):
                svc.pop(key, None)
    kept = [phases[n] for n in KEPT_PHASES]
    dumps = [s for s in kept[0]["steps"] if s.get("backup") == "database"]
    if not dumps or not any("migration" in s for s in kept[1]["steps"]):
        sys.exit(f"{src}: the backup phase dumps no database, or the migration phase has no migration")
    for step in dumps:
        step.pop("service", None)
    kept.append({
        "name": "api-deployment",
        "steps": [{"name": "deploy-stand-in", "run": ["sh", "-c", f"exit {int(last_exit)}"]}],
    })
    plan["phases"] = kept
    with open(out, "w") as f:
        f.write(f"# Generated from {src} by {sys.argv[0]}; see there for what changed.\n")
        yaml.safe_dump(plan, f, sort_keys=False, default_flow_style=None, width=100)


if __name__ == "__main__":
    main()
