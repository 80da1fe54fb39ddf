#!/usr/bin/env bash
# Checks the deploy kit (deploy/) without a container engine or a cluster: Prometheus rules,
# their unit tests and configs with promtool; every YAML file, the Grafana dashboard (JSON, its
# PromQL, its metric names) and the PUSHGATE_* settings with scripts/check_deploy.py; the
# Kubernetes kustomizations rendered and checked against the API schemas; the systemd unit.
# Exits non-zero on the first failing step. Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# promtool: Debian's prometheus package (.ci/run installs it when missing).
command -v promtool >/dev/null || { echo "check-deploy: promtool not found (apt-get install prometheus)" >&2; exit 1; }

venv=target/deploy-venv
if ! "$venv/bin/python" -c 'import yaml, kubernetes_validate' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet 'PyYAML==6.0.3' 'kubernetes-validate==1.37.0'
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== promtool: alert rules and their unit tests"
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

echo "== promtool: Prometheus configurations"
promtool check config deploy/prometheus/prometheus.yml
# Debian builds promtool without Kubernetes service discovery; then check everything else in
# the file (relabelling, rule files) with the discovery block swapped for a static target.
if ! promtool check config deploy/prometheus/prometheus-kubernetes.yml >"$tmp/k8s-config.out" 2>&1; then
    if grep -q 'field kubernetes_sd_configs not found' "$tmp/k8s-config.out"; then
        echo "(this promtool has no kubernetes_sd_configs: checking with a static target instead)"
        "$venv/bin/python" - "$tmp/prometheus-kubernetes.yml" <<'EOF'
import sys, yaml
d = yaml.safe_load(open("deploy/prometheus/prometheus-kubernetes.yml"))
for job in d["scrape_configs"]:
    if job.pop("kubernetes_sd_configs", None) is not None:
        job["static_configs"] = [{"targets": ["pod:9090"]}]
d["rule_files"] = ["alerts.yml"]
yaml.safe_dump(d, open(sys.argv[1], "w"))
EOF
        cp deploy/prometheus/alerts.yml "$tmp/alerts.yml"
        promtool check config "$tmp/prometheus-kubernetes.yml"
    else
        cat "$tmp/k8s-config.out" >&2
        exit 1
    fi
else
    cat "$tmp/k8s-config.out"
fi

echo "== Kubernetes: render the kustomizations, check against the API schemas"
rendered=()
if command -v kubectl >/dev/null; then
    kubectl kustomize deploy/kubernetes >"$tmp/kubernetes.yaml"
    kubectl kustomize deploy/kubernetes/single >"$tmp/kubernetes-single.yaml"
    rendered=("$tmp/kubernetes.yaml" "$tmp/kubernetes-single.yaml")
    to_validate=("${rendered[@]}")
else
    echo "(kubectl not installed: checking the plain manifests, not the scale-out patch)"
    to_validate=(deploy/kubernetes/base/{namespace,configmap,deployment,service}.yaml \
                 deploy/kubernetes/scale-out/{pdb,hpa}.yaml)
fi
to_validate+=(deploy/kubernetes/secret.example.yaml)
"$venv/bin/kubernetes-validate" --quiet --strict --kubernetes-version 1.30.0 "${to_validate[@]}"
echo "ok: ${#to_validate[@]} manifest files match the Kubernetes 1.30 schemas"

echo "== YAML, dashboard, metric names, PUSHGATE_* settings"
"$venv/bin/python" scripts/check_deploy.py "$tmp/dashboard-rules.yml" ${rendered[@]+"${rendered[@]}"}
# The dashboard's queries, as recording rules, so promtool parses every one of them.
promtool check rules "$tmp/dashboard-rules.yml"

echo "== systemd unit"
if command -v systemd-analyze >/dev/null; then
    # verify wants ExecStart's binary to exist: point it at one that does.
    sed 's|^ExecStart=/usr/local/bin/pushgate|ExecStart=/bin/true|' deploy/systemd/pushgate.service \
        >"$tmp/pushgate.service"
    out=$(systemd-analyze verify "$tmp/pushgate.service" 2>&1) || { echo "$out" >&2; exit 1; }
    if [ -n "$out" ]; then echo "$out" >&2; exit 1; fi
    echo "ok: deploy/systemd/pushgate.service"
else
    echo "(systemd-analyze not installed: unit not checked)"
fi

echo "check-deploy: all deploy checks passed"
