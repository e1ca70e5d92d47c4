#!/usr/bin/env bash
# Starts a local Prometheus (Debian's `prometheus` package) that scrapes ShopGPT instances
# and evaluates deploy/prometheus/alerts.yml. Listens on 127.0.0.1 only.
#
#   run-local.sh DATA_DIR PORT TARGET...      e.g. run-local.sh .data/prometheus 9090 127.0.0.1:8080
#
# Writes DATA_DIR/prometheus.yml for the given targets (host:port), keeps the TSDB in
# DATA_DIR/tsdb and the log in DATA_DIR/prometheus.log, starts Prometheus in the background,
# waits until it is ready and prints its pid on stdout (everything else goes to stderr).
# If the Prometheus recorded in DATA_DIR/prometheus.pid is still running it only rewrites
# the configuration, reloads it (SIGHUP) and prints that pid. Stop it with: kill PID
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROMETHEUS="${PROMETHEUS_BIN:-prometheus}"

log() { printf '[run-local] %s\n' "$*" >&2; }
die() { printf '[run-local] %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || { echo "usage: $0 DATA_DIR PORT TARGET..." >&2; exit 2; }
data="$1" port="$2"
shift 2

[[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "PORT must be 1-65535, got '$port'"
target_re='^[][A-Za-z0-9._:-]+:[0-9]+$' # host:port, IPv6 as [::1]:port
for t in "$@"; do
  [[ "$t" =~ $target_re ]] || die "TARGET must be host:port, got '$t'"
done
command -v "$PROMETHEUS" >/dev/null 2>&1 || die "'$PROMETHEUS' not found; install the Debian package: apt-get install prometheus"

mkdir -p "$data"
data="$(cd "$data" && pwd)"
config="$data/prometheus.yml"
pidfile="$data/prometheus.pid"

# Same shape as deploy/prometheus/prometheus.yml; the rules are read from the repository so
# an edit to alerts.yml needs only a reload.
{
  echo "# Written by deploy/prometheus/run-local.sh; rewritten on every start."
  echo "global:"
  echo "  scrape_interval: 5s"
  echo "  evaluation_interval: 15s"
  echo "rule_files:"
  echo "  - '$HERE/alerts.yml'"
  echo "scrape_configs:"
  echo "  - job_name: shopgpt"
  echo "    metrics_path: /metrics"
  echo "    scrape_interval: 5s"
  echo "    static_configs:"
  echo "      - targets:"
  for t in "$@"; do echo "          - '$t'"; done
} >"$config.tmp"
mv "$config.tmp" "$config"

if command -v promtool >/dev/null 2>&1; then
  promtool check config "$config" >"$data/promtool-check.txt" 2>&1 || { cat "$data/promtool-check.txt" >&2; die "invalid configuration $config"; }
fi

running_pid() { # prints the pid from the pid file if that process is our prometheus
  [ -s "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--config.file=$config" || return 1
  echo "$pid"
}

if pid="$(running_pid)"; then
  kill -HUP "$pid"
  log "Prometheus already running (pid $pid); configuration reloaded"
  echo "$pid"
  exit 0
fi

# setsid: the server outlives this script and is not killed with the caller's process group.
setsid "$PROMETHEUS" \
  --config.file="$config" \
  --storage.tsdb.path="$data/tsdb" \
  --storage.tsdb.retention.time=7d \
  --web.listen-address="127.0.0.1:$port" \
  --web.enable-lifecycle \
  </dev/null >"$data/prometheus.log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

# Wait (bounded) until it answers, so the caller can use it right away.
ready=""
for _ in $(seq 1 150); do
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -20 "$data/prometheus.log" >&2
    rm -f "$pidfile"
    die "Prometheus exited during start-up (log: $data/prometheus.log)"
  fi
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null "http://127.0.0.1:$port/-/ready" 2>/dev/null && { ready=1; break; }
  elif grep -q "Server is ready to receive web requests" "$data/prometheus.log" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.2
done
[ -n "$ready" ] || log "Prometheus (pid $pid) is not ready after 30s; see $data/prometheus.log"
log "Prometheus on http://127.0.0.1:$port scraping $* (data: $data)"
echo "$pid"
