"""Static checks of the deploy kit (deploy/), run by scripts/check-deploy.sh.

Usage: check_deploy.py RULES_OUT [RENDERED.yaml ...]

- every YAML file under deploy/ parses (all documents), and so does every rendered manifest given;
- the Grafana dashboard is valid JSON with unique panel ids and a query in every target, and
  its queries are written to RULES_OUT as recording rules, for `promtool check rules` to parse;
- every pushgate_* metric the alerts and the dashboard use is defined in src/metrics.rs;
- every PUSHGATE_* variable the kit sets is a key of src/config/mod.rs's Config, because pushgate
  refuses unknown PUSHGATE_* variables and exits with code 2.
Prints each problem and exits 1 if there is any.
"""

import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "pushgate.json"
problems: list[str] = []


def problem(msg: str) -> None:
    problems.append(msg)
    print(f"FAIL: {msg}")


def rel(p: pathlib.Path) -> str:
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def load_yaml_files(paths) -> dict:
    docs = {}
    for path in paths:
        try:
            with open(path) as f:
                docs[path] = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            problem(f"{rel(path)}: invalid YAML: {e}")
    return docs


def defined_metrics() -> set[str]:
    src = (ROOT / "src" / "metrics.rs").read_text()
    names = set(re.findall(r'"(pushgate_[a-z0-9_]+)"', src))
    if not names:
        problem("src/metrics.rs: found no pushgate_* metric names (has it moved?)")
    return names


def config_keys() -> set[str]:
    src = (ROOT / "src" / "config" / "mod.rs").read_text()
    m = re.search(r"pub struct Config \{(.*?)\n\}", src, re.S)
    keys = set(re.findall(r"^\s+pub (\w+):", m.group(1), re.M)) if m else set()
    if not keys:
        problem("src/config/mod.rs: found no fields of `pub struct Config` (has it moved?)")
    return keys


def check_metric_names(where: str, expr: str, known: set[str]) -> None:
    for name in set(re.findall(r"\bpushgate_[a-z0-9_]+", expr)):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in known and base not in known:
            problem(f"{where}: metric {name} is not defined in src/metrics.rs")


def check_dashboard(known: set[str], rules_out: pathlib.Path) -> None:
    try:
        dash = json.loads(DASHBOARD.read_text())
    except json.JSONDecodeError as e:
        problem(f"{rel(DASHBOARD)}: invalid JSON: {e}")
        return
    panels = dash.get("panels", [])
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problem(f"{rel(DASHBOARD)}: duplicate panel ids")
    rules = []
    for p in panels:
        if p.get("type") == "row":
            continue
        targets = p.get("targets") or []
        if not targets:
            problem(f"{rel(DASHBOARD)}: panel {p.get('title')!r} has no query")
        for t in targets:
            expr = t.get("expr", "")
            if not expr or not t.get("refId"):
                problem(f"{rel(DASHBOARD)}: panel {p.get('title')!r}: target without expr/refId")
                continue
            check_metric_names(f"{rel(DASHBOARD)} panel {p.get('title')!r}", expr, known)
            # Grafana's variables, as Grafana would substitute them, so PromQL can parse it.
            concrete = (expr.replace("$__rate_interval", "1m")
                        .replace("$job", "pushgate").replace("$instance", ".*"))
            rules.append({"record": f"dashboard:panel_{p['id']}:{t['refId']}", "expr": concrete})
    rules_out.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    print(f"ok: {rel(DASHBOARD)}: {len(panels)} panels, {len(rules)} queries")


def check_alert_metrics(docs: dict, known: set[str]) -> None:
    alerts = DEPLOY / "prometheus" / "alerts.yml"
    for group in docs.get(alerts, [{}])[0].get("groups", []):
        for rule in group.get("rules", []):
            check_metric_names(f"{rel(alerts)} {rule.get('alert')}", rule.get("expr", ""), known)


def set_variables(docs: dict) -> list[tuple[str, str]]:
    """(file, PUSHGATE_* name) for every variable the kit sets, commented-out lines excluded."""
    found = []
    for path, ds in docs.items():
        def walk(node):
            if isinstance(node, dict):
                for k, v in node.items():
                    if isinstance(k, str) and k.startswith("PUSHGATE_"):
                        found.append((rel(path), k))
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    if isinstance(v, str) and re.match(r"PUSHGATE_\w+=", v):
                        found.append((rel(path), v.split("=", 1)[0]))
                    walk(v)
        walk(ds)
    for path in DEPLOY.rglob("*.env*"):
        for line in path.read_text().splitlines():
            m = re.match(r"\s*(PUSHGATE_\w+)=", line)
            if m:
                found.append((rel(path), m.group(1)))
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for name in re.findall(r"\b(PUSHGATE_\w+)=", dockerfile):
        found.append(("deploy/Dockerfile", name))
    for line in (DEPLOY / "systemd" / "pushgate.service").read_text().splitlines():
        if line.startswith("Environment="):
            for name in re.findall(r"\b(PUSHGATE_\w+)=", line):
                found.append(("deploy/systemd/pushgate.service", name))
    return found


def main() -> int:
    rules_out = pathlib.Path(sys.argv[1])
    rendered = [pathlib.Path(p) for p in sys.argv[2:]]
    yaml_files = sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yml", ".yaml"))
    docs = load_yaml_files(yaml_files + rendered)
    print(f"ok: {len(docs)} YAML files parse")

    known = defined_metrics()
    check_dashboard(known, rules_out)
    check_alert_metrics(docs, known)

    keys = config_keys()
    # PUSHGATE_CONFIG names the file and is not a key.
    allowed = {"PUSHGATE_" + k.upper() for k in keys} | {"PUSHGATE_CONFIG"}
    # Once per file and name (compose's anchor repeats its settings in every service).
    variables = sorted(set(set_variables({p: d for p, d in docs.items() if p not in rendered})))
    for where, name in variables:
        if name not in allowed:
            problem(f"{where}: {name} is not a pushgate setting (src/config/mod.rs); "
                    "pushgate would exit with code 2")
    print(f"ok: {len(variables)} PUSHGATE_* settings checked against src/config/mod.rs")

    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
