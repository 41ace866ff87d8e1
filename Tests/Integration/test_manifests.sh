#!/usr/bin/env bash
# The deploy files (issue 7): every document of deploy/kubernetes/*.yaml loads and has what the
# API server would demand (kind, apiVersion, metadata.name, a pod template whose labels match the
# selector, containers with image and command ["/skydns"]) and what the issue asks for (probes on
# /readyz and /healthz at the metrics port, resource requests, ETCD_MACHINES from the ConfigMap,
# non-root with NET_BIND_SERVICE only (through the binary's file capability), DNS on 53 UDP+TCP, -metrics-addr set; the Service on a
# fixed clusterIP; the hostNetwork one with hostPort 53 and a nodeSelector). kubectl's client
# dry-run needs an API server, which no test has, so this is a schema check in Python. The flags
# in the manifests are also fed to the real binary's parser (-version exits 0 only if they parse).
# The systemd unit passes `systemd-analyze verify` when that is installed.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml (PyYAML) is needed: apt-get install python3-yaml"

python3 - "$root/deploy/kubernetes" "$SKYDNS_BIN" <<'PY' || fail "manifest check"
import glob, os, subprocess, sys, yaml

directory, binary = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(directory, "*.yaml")))
names = sorted(os.path.basename(f) for f in files)
assert names == ["skydns-hostnetwork.yaml", "skydns-service.yaml"], names
problems = []

def need(condition, what):
    if not condition:
        problems.append(f"{where}: {what}")
    return condition

API = {"ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1"}
for path in files:
    docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    by_kind = {}
    for doc in docs:
        where = f"{os.path.basename(path)} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        need(doc.get("kind") in API, f"unknown kind {doc.get('kind')}")
        need(doc.get("apiVersion") == API.get(doc.get("kind")), f"apiVersion {doc.get('apiVersion')}")
        need(isinstance(doc.get("metadata", {}).get("name"), str), "metadata.name")
        by_kind.setdefault(doc["kind"], []).append(doc)
    where = os.path.basename(path)
    need(len(by_kind.get("Deployment", [])) == 1, "exactly one Deployment")
    need(len(by_kind.get("ConfigMap", [])) == 1, "exactly one ConfigMap")
    config = by_kind["ConfigMap"][0]
    need("ETCD_MACHINES" in config.get("data", {}), "ConfigMap has ETCD_MACHINES")
    deployment = by_kind["Deployment"][0]
    where = f"{os.path.basename(path)} Deployment"
    spec = deployment["spec"]
    template = spec["template"]
    selector = spec["selector"]["matchLabels"]
    need(all(template["metadata"]["labels"].get(k) == v for k, v in selector.items()), "selector matches template labels")
    pod = template["spec"]
    need(pod.get("securityContext", {}).get("runAsNonRoot") is True, "pod runAsNonRoot")
    containers = pod.get("containers", [])
    need(len(containers) == 1, "one container")
    c = containers[0]
    need(isinstance(c.get("image"), str) and c["image"], "image")
    need(c.get("command") == ["/skydns"], 'command ["/skydns"]')
    args = c.get("args", [])
    need(any(a.startswith("-metrics-addr=") for a in args), "-metrics-addr in args")
    metrics_port = int([a for a in args if a.startswith("-metrics-addr=")][0].rsplit(":", 1)[1])
    ports = c.get("ports", [])
    dns = {(p["containerPort"], p.get("protocol", "TCP")) for p in ports}
    need((53, "UDP") in dns and (53, "TCP") in dns, "DNS on 53 UDP and TCP")
    named = {p.get("name"): p["containerPort"] for p in ports}
    for probe, path_ in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        p = c.get(probe, {}).get("httpGet", {})
        need(p.get("path") == path_, f"{probe} path {path_}")
        port = p.get("port")
        need(named.get(port, port) == metrics_port, f"{probe} on the metrics port {metrics_port} (got {port})")
    requests = c.get("resources", {}).get("requests", {})
    need("cpu" in requests and "memory" in requests, "resource requests for cpu and memory")
    env = {e["name"]: e for e in c.get("env", [])}
    ref = env.get("ETCD_MACHINES", {}).get("valueFrom", {}).get("configMapKeyRef", {})
    need(ref.get("name") == config["metadata"]["name"] and ref.get("key") == "ETCD_MACHINES",
         "ETCD_MACHINES from the ConfigMap")
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    need(caps.get("add") == ["NET_BIND_SERVICE"] and caps.get("drop") == ["ALL"], "capabilities: drop ALL, add NET_BIND_SERVICE")
    need(sc.get("runAsNonRoot") is True, "container non-root")
    # Non-root binds 53 through the file capability on /skydns, which no_new_privs would disable.
    need(sc.get("allowPrivilegeEscalation") is not False, "allowPrivilegeEscalation must not be false (file capability)")
    if "hostnetwork" in path:
        need(pod.get("hostNetwork") is True, "hostNetwork: true")
        need(bool(pod.get("nodeSelector")), "a nodeSelector choosing the node")
        host = {(p.get("hostPort"), p.get("protocol", "TCP")) for p in ports}
        need((53, "UDP") in host and (53, "TCP") in host, "hostPort 53 UDP and TCP")
        need(spec.get("strategy", {}).get("type") == "Recreate", "Recreate (one pod holds the node's port 53)")
    else:
        services = by_kind.get("Service", [])
        where = f"{os.path.basename(path)} Service"
        need(len(services) == 1, "one Service")
        s = services[0]["spec"]
        need(s.get("type", "ClusterIP") == "ClusterIP", "type ClusterIP")
        ip = s.get("clusterIP", "")
        need(ip.count(".") == 3 and all(x.isdigit() for x in ip.split(".")), f"a fixed clusterIP (got {ip!r})")
        need(all(deployment["spec"]["template"]["metadata"]["labels"].get(k) == v for k, v in s["selector"].items()),
             "Service selects the Deployment's pods")
        sp = {(p["port"], p.get("protocol", "TCP")) for p in s.get("ports", [])}
        need((53, "UDP") in sp and (53, "TCP") in sp, "Service port 53 UDP and TCP")
    # The real parser accepts the flags and the ConfigMap's values.
    env_values = {k: v for k, v in config["data"].items()}
    result = subprocess.run([binary] + args + ["-version"], env={**env_values, "PATH": os.environ["PATH"]},
                            capture_output=True, text=True)
    need(result.returncode == 0, f"skydns rejects the manifest's flags {args}: {result.stderr.strip()}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"manifests ok: {', '.join(names)}")
PY

unit=$root/deploy/systemd/skydns.service
[ -f "$unit" ] || fail "deploy/systemd/skydns.service missing"
grep -q '^ExecStart=/usr/local/bin/skydns' "$unit" || fail "unit: ExecStart"
grep -q '^ExecReload=/bin/kill -HUP \$MAINPID' "$unit" || fail "unit: reload is SIGHUP"
grep -q '^AmbientCapabilities=CAP_NET_BIND_SERVICE' "$unit" || fail "unit: CAP_NET_BIND_SERVICE"
if command -v systemd-analyze >/dev/null; then
  sed "s#/usr/local/bin/skydns#$SKYDNS_BIN#" "$unit" >"$WORK/skydns.service"
  out=$(systemd-analyze verify "$WORK/skydns.service" 2>&1) || fail "systemd-analyze verify: $out"
  echo "$out" | grep -q 'skydns.service' && fail "systemd-analyze verify warns: $out"
  echo "systemd unit ok (systemd-analyze verify)"
else
  echo "systemd unit: systemd-analyze not installed; checked its key lines only"
fi

# The Dockerfile builds what CI builds, and the runtime image is what the manifests expect.
df=$root/Dockerfile
grep -q 'swift build -c release --product skydns --static-swift-stdlib' "$df" || fail "Dockerfile: release build command"
grep -q '^COPY --from=build /skydns /skydns' "$df" || fail "Dockerfile: binary at /skydns"
grep -q '^USER 65534' "$df" || fail "Dockerfile: non-root user"
grep -q 'cap_net_bind_service' "$df" || fail "Dockerfile: NET_BIND_SERVICE on the binary"
echo "manifests ok"
