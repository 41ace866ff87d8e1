#!/usr/bin/env bash
# The deploy files: every document of deploy/kubernetes/*.yaml passes the Kubernetes schemas
# (PyPI's kubernetes-validate, strict: unknown fields are errors; its schemas ship in the package)
# and has what an operator needs, as CoreDNS ships its own: probes on /readyz and /healthz at the
# metrics port, resource requests, ETCD_MACHINES and the upstreams (SKYDNS_NAMESERVERS) from the
# ConfigMap, dnsPolicy Default, priorityClassName system-cluster-critical, the CriticalAddonsOnly
# toleration, anti-affinity across nodes, a PodDisruptionBudget, no service account token, DNS
# on 53 UDP+TCP. The Service variant meets Pod Security "restricted" (port 53 through the
# unprivileged-port sysctl); the hostNetwork variant binds the node's address (not 0.0.0.0, which
# systemd-resolved's stub listener blocks) and keeps metrics on 127.0.0.1. The flags in the
# manifests are fed to the real binary's parser (-version exits 0 only if they parse). The
# systemd unit passes `systemd-analyze verify` when that is installed; the Dockerfile builds a
# stripped binary with its capability set in the build stage, from pinned base images, with a
# HEALTHCHECK.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml (PyYAML) is needed: apt-get install python3-yaml"
python3 -c 'import kubernetes_validate' 2>/dev/null || fail "kubernetes-validate is needed: scripts/install-deps"
python3 -m kubernetes_validate --strict --quiet "$root"/deploy/kubernetes/*.yaml >"$WORK/validate.txt" 2>&1 \
  || fail "kubernetes-validate: $(cat "$WORK/validate.txt")"
echo "kubernetes-validate --strict: $(ls "$root"/deploy/kubernetes/*.yaml | wc -l) files pass"

python3 - "$root/deploy/kubernetes" "$SKYDNS_BIN" <<'PY' || fail "manifest check"
import glob, os, re, subprocess, sys, yaml

directory, binary = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(directory, "*.yaml")))
names = sorted(os.path.basename(f) for f in files)
assert names == ["skydns-hostnetwork.yaml", "skydns-service.yaml"], names
problems = []

def need(condition, what):
    if not condition:
        problems.append(f"{where}: {what}")
    return condition

API = {"ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1", "PodDisruptionBudget": "policy/v1"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range"}
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
    hostnet = "hostnetwork" in path
    need(len(by_kind.get("Deployment", [])) == 1, "exactly one Deployment")
    need(len(by_kind.get("ConfigMap", [])) == 1, "exactly one ConfigMap")
    config = by_kind["ConfigMap"][0]
    for key in ("ETCD_MACHINES", "SKYDNS_NAMESERVERS"):
        need(key in config.get("data", {}), f"ConfigMap has {key}")
    deployment = by_kind["Deployment"][0]
    where = f"{os.path.basename(path)} Deployment"
    spec = deployment["spec"]
    template = spec["template"]
    labels = template["metadata"]["labels"]
    selector = spec["selector"]["matchLabels"]
    need(all(labels.get(k) == v for k, v in selector.items()), "selector matches template labels")
    pod = template["spec"]
    psc = pod.get("securityContext", {})
    need(psc.get("runAsNonRoot") is True, "pod runAsNonRoot")
    need(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccompProfile RuntimeDefault")
    need(pod.get("priorityClassName") == "system-cluster-critical", "priorityClassName system-cluster-critical")
    need(any(t.get("key") == "CriticalAddonsOnly" and t.get("operator") == "Exists" for t in pod.get("tolerations", [])),
         "CriticalAddonsOnly toleration")
    need(pod.get("automountServiceAccountToken") is False, "automountServiceAccountToken: false")
    need(pod.get("dnsPolicy") == "Default", "dnsPolicy Default (never its own Service as upstream)")
    anti = pod.get("affinity", {}).get("podAntiAffinity", {})
    terms = anti.get("requiredDuringSchedulingIgnoredDuringExecution", []) + \
        [t["podAffinityTerm"] for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution", [])]
    need(any(t.get("topologyKey") == "kubernetes.io/hostname" and
             all(labels.get(k) == v for k, v in t.get("labelSelector", {}).get("matchLabels", {}).items()) for t in terms),
         "pod anti-affinity across nodes (kubernetes.io/hostname) on its own pods")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    need(len(pdbs) == 1 and all(labels.get(k) == v for k, v in pdbs[0]["spec"]["selector"]["matchLabels"].items())
         and pdbs[0]["spec"].get("minAvailable", 0) < spec.get("replicas", 1),
         "a PodDisruptionBudget on its pods that still lets one go")
    containers = pod.get("containers", [])
    need(len(containers) == 1, "one container")
    c = containers[0]
    need(isinstance(c.get("image"), str) and c["image"], "image")
    need(c.get("command") == ["/skydns"], 'command ["/skydns"]')
    args = c.get("args", [])
    need(any(a.startswith("-metrics-addr=") for a in args), "-metrics-addr in args")
    metrics_addr = [a for a in args if a.startswith("-metrics-addr=")][0].split("=", 1)[1]
    metrics_host, metrics_port = metrics_addr.rsplit(":", 1)[0], int(metrics_addr.rsplit(":", 1)[1])
    ports = c.get("ports", [])
    dns = {(p["containerPort"], p.get("protocol", "TCP")) for p in ports}
    need((53, "UDP") in dns and (53, "TCP") in dns, "DNS on 53 UDP and TCP")
    named = {p.get("name"): p["containerPort"] for p in ports}
    for probe, path_ in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        p = c.get(probe, {}).get("httpGet", {})
        need(p.get("path") == path_, f"{probe} path {path_}")
        port = p.get("port")
        need(named.get(port, port) == metrics_port, f"{probe} on the metrics port {metrics_port} (got {port})")
        if hostnet:
            need(p.get("host") == metrics_host, f"{probe} on host {metrics_host}, where the metrics listen")
    requests = c.get("resources", {}).get("requests", {})
    need("cpu" in requests and "memory" in requests, "resource requests for cpu and memory")
    env = {e["name"]: e for e in c.get("env", [])}
    for key in ("ETCD_MACHINES", "SKYDNS_NAMESERVERS"):
        ref = env.get(key, {}).get("valueFrom", {}).get("configMapKeyRef", {})
        need(ref.get("name") == config["metadata"]["name"] and ref.get("key") == key, f"{key} from the ConfigMap")
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    # NET_BIND_SERVICE stays in the bounding set: exec of /skydns (file capability +ep) fails without it.
    need(caps.get("add") == ["NET_BIND_SERVICE"] and caps.get("drop") == ["ALL"], "capabilities: drop ALL, add NET_BIND_SERVICE")
    need(sc.get("runAsNonRoot") is True, "container non-root")
    sysctls = {s["name"]: s["value"] for s in psc.get("sysctls", [])}
    if hostnet:
        need(pod.get("hostNetwork") is True, "hostNetwork: true")
        need(bool(pod.get("nodeSelector")), "a nodeSelector choosing the nodes")
        host = {(p.get("hostPort"), p.get("protocol", "TCP")) for p in ports}
        need((53, "UDP") in host and (53, "TCP") in host, "hostPort 53 UDP and TCP")
        need(not any(p.get("hostPort") == metrics_port for p in ports), "metrics not published as a hostPort")
        need(metrics_host == "127.0.0.1", "metrics on 127.0.0.1 only, not every node address")
        need("-addr=$(NODE_IP):53" in args and env.get("NODE_IP", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
             == "status.hostIP", "DNS bound to the node's address (systemd-resolved holds 127.0.0.53:53)")
        need(spec.get("strategy", {}).get("rollingUpdate", {}).get("maxSurge") == 0, "maxSurge 0 (a node's port 53 holds one pod)")
        need(sc.get("allowPrivilegeEscalation") is True, "allowPrivilegeEscalation (the file capability binds 53)")
        need(not sysctls, "no net sysctl in the node's namespace")
    else:
        # Pod Security "restricted".
        need(sc.get("allowPrivilegeEscalation") is False, "restricted: allowPrivilegeEscalation false")
        need(not pod.get("hostNetwork") and not any("hostPort" in p for p in ports), "restricted: no host network or ports")
        need(set(sysctls) <= SAFE_SYSCTLS, f"restricted: only safe sysctls ({sorted(sysctls)})")
        need(int(sysctls.get("net.ipv4.ip_unprivileged_port_start", "1024")) <= 53, "port 53 unprivileged in the pod's namespace")
        need(not any(v.get("hostPath") for v in pod.get("volumes", [])), "restricted: no hostPath")
        services = by_kind.get("Service", [])
        where = f"{os.path.basename(path)} Service"
        need(len(services) == 1, "one Service")
        s = services[0]["spec"]
        need(s.get("type", "ClusterIP") == "ClusterIP", "type ClusterIP")
        ip = s.get("clusterIP", "")
        need(ip.count(".") == 3 and all(x.isdigit() for x in ip.split(".")), f"a fixed clusterIP (got {ip!r})")
        need(all(labels.get(k) == v for k, v in s["selector"].items()), "Service selects the Deployment's pods")
        sp = {(p["port"], p.get("protocol", "TCP")) for p in s.get("ports", [])}
        need((53, "UDP") in sp and (53, "TCP") in sp, "Service port 53 UDP and TCP")
    # The real parser accepts the flags and the ConfigMap's values, $(VAR) expanded as kubelet does.
    env_values = {k: v for k, v in config["data"].items()}
    env_values["NODE_IP"] = "10.16.42.21"
    expanded = [re.sub(r"\$\((\w+)\)", lambda m: env_values.get(m.group(1), m.group(0)), a) for a in args]
    result = subprocess.run([binary] + expanded + ["-version"], env={**env_values, "PATH": os.environ["PATH"]},
                            capture_output=True, text=True)
    need(result.returncode == 0, f"skydns rejects the manifest's flags {expanded}: {result.stderr.strip()}")
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
  echo "$out" | finds 'skydns.service' && fail "systemd-analyze verify warns: $out"
  echo "systemd unit ok (systemd-analyze verify)"
else
  echo "systemd unit: systemd-analyze not installed; checked its key lines only"
fi

# What the manifests rely on, on the real binary in a network namespace of our own: as user
# 65534 with every capability gone and no_new_privs (the Service manifest's pod), port 53 binds
# once the namespace's ip_unprivileged_port_start is 53; and a binary carrying the image's file
# capability cannot even be executed when the bounding set lacks it (why both manifests keep
# NET_BIND_SERVICE in `add`).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && command -v setcap >/dev/null; then
  install -m 0755 "$SKYDNS_BIN" "$WORK/skydns-plain"
  install -m 0755 "$SKYDNS_BIN" "$WORK/skydns-cap"
  setcap cap_net_bind_service=+ep "$WORK/skydns-cap"
  chmod 0755 "$WORK"
  out=$(unshare -n sh -c "ip link set lo up; sysctl -qw net.ipv4.ip_unprivileged_port_start=53
    timeout 3 setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --bounding-set=-all \
      '$WORK/skydns-plain' -addr=127.0.0.1:53 -machines=http://127.0.0.1:9 -nameservers=127.0.0.1:9 2>&1" || true)
  echo "$out" | finds 'listening on 127.0.0.1:53' || fail "user 65534, no capabilities, sysctl 53: $out"
  out=$(unshare -n sh -c "ip link set lo up
    timeout 3 setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --bounding-set=-all \
      '$WORK/skydns-plain' -addr=127.0.0.1:53 -machines=http://127.0.0.1:9 -nameservers=127.0.0.1:9 2>&1" || true)
  echo "$out" | finds 'cannot start: bind 127.0.0.1:53: Permission denied' || fail "without the sysctl 53 should be refused: $out"
  setpriv --reuid=65534 --regid=65534 --clear-groups --bounding-set=-all "$WORK/skydns-cap" -version >/dev/null 2>&1 \
    && fail "a file-capability binary ran with NET_BIND_SERVICE out of the bounding set"
  setpriv --reuid=65534 --regid=65534 --clear-groups --bounding-set=-all,+net_bind_service "$WORK/skydns-cap" -version >/dev/null \
    || fail "the file-capability binary does not run with NET_BIND_SERVICE in the bounding set"
  echo "port 53 through the sysctl, and the bounding set the file capability needs: ok"
else
  echo "capability checks skipped: need root, setpriv and setcap"
fi

# The image's binary carries no Foundation (its ICU data alone was 34 MB of the static binary):
# no module imports it, and the binary under test has none of its symbols.
root_imports=$(grep -rln '^import Foundation$' "$root/Sources" || true)
[ -z "$root_imports" ] || fail "Foundation imported by: $root_imports"
if command -v nm >/dev/null; then
  nm "$SKYDNS_BIN" | finds '10Foundation' && fail "the binary links Foundation"
  echo "no Foundation in the binary"
fi

# The Dockerfile: the static release build, stripped, the capability set in the build stage (a
# RUN setcap in the runtime stage would store the binary a second time), one COPY of it, base
# images pinned by digest through the ARGs the FROM lines use, and a HEALTHCHECK.
df=$root/Dockerfile
python3 - "$df" <<'PY' || fail "Dockerfile"
import os, re, sys
text = open(sys.argv[1]).read()
lines = [l.strip() for l in re.sub(r"\\\n", " ", text).splitlines() if l.strip() and not l.strip().startswith("#")]
froms = [i for i, l in enumerate(lines) if l.startswith("FROM ")]
assert len(froms) == 2, f"two stages, got {len(froms)}"
build, run = lines[froms[0]:froms[1]], lines[froms[1]:]
args = dict(re.match(r"ARG (\w+)=(\S+)", l).groups() for l in lines[:froms[0]] if l.startswith("ARG "))
for f in (lines[froms[0]], lines[froms[1]]):
    ref = re.match(r"FROM \$\{?(\w+)\}?", f)
    assert ref and ref.group(1) in args, f"FROM through a pinned ARG: {f}"
    image = args[ref.group(1)]
    pinned = re.fullmatch(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}", image)
    # Pinning needs the registry (scripts/pin-images); a release build sets REQUIRE_PINNED_IMAGES=1.
    assert pinned or (os.environ.get("REQUIRE_PINNED_IMAGES") != "1" and re.fullmatch(r"[\w./-]+:[\w.-]+", image)), \
        f"{ref.group(1)}={image}: want name:tag@sha256:<64 hex> (run scripts/pin-images)"
    if not pinned:
        print(f"Dockerfile: {ref.group(1)}={image} is not pinned yet (scripts/pin-images)")
joined = " ".join(build)
assert "swift build -c release --product skydns --static-swift-stdlib" in joined, "release static build"
assert re.search(r"strip\b[^&]*/skydns", joined), "binary stripped"
assert "setcap cap_net_bind_service=+ep /skydns" in joined, "capability set in the build stage"
assert not any("setcap" in l for l in run), "no setcap in the runtime stage (a second copy of the binary)"
copies = [l for l in run if l.startswith("COPY --from=build")]
assert copies == ["COPY --from=build /skydns /skydns"], copies
assert any(l.startswith("USER 65534") for l in run), "non-root user"
assert any(l.startswith("HEALTHCHECK ") and "/healthz" in l for l in run), "HEALTHCHECK on /healthz"
assert any(l.startswith('ENTRYPOINT ["/skydns"]') for l in run), "ENTRYPOINT /skydns"
print("Dockerfile ok")
PY
echo "manifests ok"
