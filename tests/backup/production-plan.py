#!/usr/bin/env python3
"""Writes the test plan that runs the reference plan's own backup,
infrastructure and database-migration phases against the test's
PostgreSQL container and s3rver.

    production-plan.py PRODUCTION_YAML OUT_YAML STATE_DIR S3_ENDPOINT RELEASE PG_IMAGE LAST_STEP_EXIT

Taken from the reference plan unchanged: the head keys, the services (the
postgres service with its environment, volume, network and pg_isready
health check; the migration runs in a one-off container of the api
service's image, with its environment, on its network, and reaches
postgres:5432 by name), the phases with every step, command and key, the
database backup by pg_dump inside the postgres container and its
restore by pg_restore there, and the rollback section. What the test
replaces, and why:
  - name: the plan's name with RELEASE appended, so that the containers,
    volume and networks of two runs of this test never meet.
  - release: a fixed id (the plan's `git` would name this checkout's HEAD);
    the test tags its stand-in api image corp/api:RELEASE.
  - state_dir: the test's directory.
  - backup_storage.endpoint: the test's s3rver (bucket and prefix kept).
  - the postgres service's image: PG_IMAGE, built by the test from this
    machine's PostgreSQL 15 (pg-image.sh; no registry is reachable), with
    `pull: never`; timescaledb's extension is not in it, and nothing here
    uses it.
  - the infrastructure phase deploys postgres alone: the images of the
    other four services are not on this machine.
  - the services' blue-green keys (strategy, proxy, drain) are dropped:
    `up` refuses a plan with a blue-green service for now, and these
    phases deploy no such service.
  - the phases before and after are left out (they need the full stack), and
    so are notify (it would post to Slack) and probe (it polls port 80);
    one step stands in for the deployment that follows the migration and
    exits with LAST_STEP_EXIT, so that a failure there rolls the run back.
"""
import sys

import yaml

KEPT_PHASES = ("backup", "infrastructure", "database-migration")


def main():
    src, out, state_dir, s3, release, pg_image, last_exit = sys.argv[1:]
    with open(src) as f:
        plan = yaml.safe_load(f)
    phases = {p["name"]: p for p in plan["phases"]}
    missing = [n for n in KEPT_PHASES if n not in phases]
    if missing:
        sys.exit(f"{src}: no phase {', '.join(missing)}")

    plan["name"] = f"{plan['name']}-{release}"
    plan["release"] = release
    plan["state_dir"] = state_dir
    plan["backup_storage"]["endpoint"] = s3
    for key in ("notify", "probe"):
        plan.pop(key, None)
    plan["services"]["postgres"]["image"] = pg_image
    plan["services"]["postgres"]["pull"] = "never"
    for svc in plan["services"].values():
        if svc.get("strategy") == "blue-green":
            for key in ("strategy", "proxy", "drain"):
                svc.pop(key, None)
    kept = [phases[n] for n in KEPT_PHASES]
    deploys = [s for s in kept[1]["steps"] if "postgres" in s.get("deploy", [])]
    if len(deploys) != 1:
        sys.exit(f"{src}: the infrastructure phase does not deploy postgres in one step")
    deploys[0]["deploy"] = ["postgres"]
    dumps = [s for s in kept[0]["steps"] if s.get("backup") == "database"]
    if not dumps or any(s.get("service") != "postgres" for s in dumps):
        sys.exit(f"{src}: the backup phase does not dump the postgres service's database")
    if not any("migration" in s for s in kept[2]["steps"]):
        sys.exit(f"{src}: the migration phase has no migration")
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
