"""The files in deploy/ (issue 16): each parses, names only flags, variables and paths TierCache has, and what
it points the kubelet, Docker or Prometheus at answers on a real proxy. The Grafana dashboard's every query runs
on a real Prometheus scraping a real TierCache. (Docker and Kubernetes are not on this machine: the image is not
built and the manifests are not applied.)"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, PrometheusServer, free_port, run_tiercache, tiercache_binary, wait_for

DEPLOY = REPO_ROOT / "deploy"


def help_text(*command: str) -> str:
    done = run_tiercache(*command, "--help")
    assert done.returncode == 0, done.stderr
    return done.stdout


SERVE_HELP = None


def serve_help() -> str:
    global SERVE_HELP
    if SERVE_HELP is None:
        SERVE_HELP = help_text("serve")
    return SERVE_HELP


def assert_known(flags: list[str], variables: list[str], help_of: str | None = None) -> None:
    """Every `--flag` appears in the command's help, every TIERCACHE_ variable in `serve --help` (each option
    names its variable there)."""
    text = help_text(*help_of.split()) if help_of else serve_help()
    for flag in flags:
        assert re.search(rf"(^|\s|\[){re.escape(flag)}([\s=,<]|$)", text, re.M), f"{flag} is not a flag: {help_of}"
    for variable in variables:
        assert variable in serve_help(), f"{variable} is not a TierCache variable"


def flags_in(words: list[str]) -> list[str]:
    return [word.split("=", 1)[0] for word in words if word.startswith("--")]


def probe_paths_answer(proxy, tmp_path, paths: list[str], policies: Path | None = None) -> None:
    admin = free_port()
    px = proxy("--admin-listen", f"127.0.0.1:{admin}", **({"policies": policies} if policies else {}))
    assert px.client().ping()
    for path in paths:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}{path}", timeout=10) as response:
            assert response.status == 200, path


def test_kubernetes_sidecar(proxy, tmp_path):
    documents = list(yaml.safe_load_all((DEPLOY / "kubernetes-sidecar.yaml").read_text()))
    kinds = {doc["kind"]: doc for doc in documents}
    assert set(kinds) == {"Secret", "ConfigMap", "Deployment", "Service", "ServiceMonitor"}
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["containers"] if c["name"] == "tiercache")
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert sidecar["args"][0] == "serve"
    assert_known(flags_in(sidecar["args"]), list(env))
    # The policies it mounts are valid, and a proxy on them answers the probes the pod declares.
    policies = tmp_path / "policies"
    policies.mkdir()
    for name, text in kinds["ConfigMap"]["data"].items():
        (policies / name).write_text(text)
    checked = run_tiercache("policy", "check", str(policies))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    admin_port = int(env["TIERCACHE_ADMIN_LISTEN"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    paths = []
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        get = sidecar[probe]["httpGet"]
        assert ports[get["port"]] == admin_port, probe
        paths.append(get["path"])
    assert sorted(paths) == ["/health/live", "/health/ready", "/health/startup"]
    probe_paths_answer(proxy, tmp_path, paths + ["/metrics"], policies=policies)
    # The memory limit holds the L1 bound and room for the process (about 40 MB idle) and its buffers.
    l1 = int(env["TIERCACHE_L1_MAX_MEMORY"].removesuffix("mb")) * 2**20
    limit = int(sidecar["resources"]["limits"]["memory"].removesuffix("Mi")) * 2**20
    assert limit >= l1 + 96 * 2**20, (limit, l1)
    # The drain (10 s by default) fits in the grace period; metrics are scraped on the admin port with the secret.
    assert pod["terminationGracePeriodSeconds"] > 10
    assert kinds["Service"]["spec"]["ports"][0]["targetPort"] == "admin"
    endpoint = kinds["ServiceMonitor"]["spec"]["endpoints"][0]
    assert endpoint["path"] == "/metrics" and endpoint["authorization"]["credentials"]["key"] == "requirepass"
    assert "requirepass" in kinds["Secret"]["stringData"]


def test_compose_file_and_image(proxy, tmp_path):
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "init", "sidecar-a", "sidecar-b"} <= set(services)
    for name in ("sidecar-a", "sidecar-b", "init"):
        environment = services[name]["environment"]
        assert_known([], list(environment))
        assert environment["TIERCACHE_DATABASE"].startswith("postgres://")
        assert environment["TIERCACHE_REDIS"] == "redis://redis:6379"
    init = services["init"]["command"][-1]
    for command in init.split("&&"):
        words = command.split()
        assert words[0] == "tiercache"
        assert_known(flags_in(words), [], help_of=" ".join(words[1:3]))
    health = " ".join(services["sidecar-a"]["healthcheck"]["test"])
    path = re.search(r"GET (\S+) HTTP", health).group(1)
    assert path == "/health/ready"
    probe_paths_answer(proxy, tmp_path, [path])
    published = {port.split(":")[-1] for name in ("sidecar-a", "sidecar-b") for port in services[name]["ports"]}
    assert published == {"6380", "9680"}
    assert (DEPLOY / compose["secrets"]["database-password"]["file"]).exists()
    # The image: the variables it sets are TierCache's, and it runs `tiercache serve`.
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    variables = re.findall(r"(TIERCACHE_[A-Z_]+)=", dockerfile)
    assert variables and assert_known([], variables) is None
    assert 'ENTRYPOINT ["/usr/local/bin/tiercache"]' in dockerfile and 'CMD ["serve"]' in dockerfile
    assert "swift build -c release --static-swift-stdlib --product tiercache" in dockerfile


def test_systemd_unit(tmp_path):
    unit = (DEPLOY / "tiercache.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1).split()
    assert exec_start[:2] == ["/usr/local/bin/tiercache", "serve"]
    variables = re.findall(r"^Environment=(TIERCACHE_[A-Z_]+)=", unit, re.M)
    assert_known(flags_in(exec_start), variables)
    for hardening in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "DynamicUser=yes",
                      "CapabilityBoundingSet=", "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes"):
        assert re.search(rf"^{re.escape(hardening)}$", unit, re.M), hardening
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian's systemd)")
    # systemd checks the unit as it would load it; the binary path is this build's.
    copy = tmp_path / "tiercache.service"
    copy.write_text(unit.replace("/usr/local/bin/tiercache", str(tiercache_binary())))
    verified = subprocess.run([analyze, "verify", "--man=no", "--recursive-errors=no", str(copy)],
                              capture_output=True, text=True, timeout=60)
    complaints = [line for line in (verified.stdout + verified.stderr).splitlines() if "tiercache.service" in line]
    assert verified.returncode == 0 and complaints == [], verified.stdout + verified.stderr


def test_grafana_dashboard_queries_run_on_a_real_prometheus(proxy, tmp_path):
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 15
    admin = free_port()
    px = proxy("--admin-listen", f"127.0.0.1:{admin}")
    r = px.client()
    for i in range(1, 20):
        r.get(f"user_sessions:{i % 5}")
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as response:
        exported = {line.split(" ")[2] for line in response.read().decode().splitlines() if line.startswith("# TYPE")}
    prometheus = PrometheusServer(Path(tempfile.mkdtemp(prefix="prometheus-", dir=tmp_path)), f"127.0.0.1:{admin}")
    try:
        assert wait_for(lambda: (prometheus.query("tiercache_build_info") or {}).get("data", {}).get("result"),
                        timeout=30.0, interval=0.5), prometheus.log()
        for expr in exprs:
            names = set(re.findall(r"\b(tiercache_[a-z_]+?)(?:_bucket|_count|_sum)?\b(?=[{\[)\s])", expr))
            assert names and names <= exported, (expr, names - exported)
            concrete = expr.replace("$instance", ".*").replace("$__rate_interval", "1m")
            answer = prometheus.query(concrete)
            assert answer and answer["status"] == "success", (expr, answer)
        # A panel's figure is there once traffic was scraped: the L1 hit ratio of user_sessions.
        hit_ratio = next(t["expr"] for p in dashboard["panels"] if p["title"] == "L1 hit ratio per data type"
                         for t in p["targets"])
        assert wait_for(lambda: any(
            row["metric"].get("type") == "user_sessions"
            for row in (prometheus.query(hit_ratio.replace("$instance", ".*").replace("$__rate_interval", "1m"))
                        or {}).get("data", {}).get("result", [])), timeout=30.0, interval=1.0), prometheus.log()
    finally:
        prometheus.stop()
