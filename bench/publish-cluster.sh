#!/usr/bin/env bash
# Publishing on a RabbitMQ cluster (BENCHMARKS.md section 3, the cluster part).
#
# Starts the three-node cluster of scripts/rabbitmq-cluster (unless one
# runs), then `cargo bench --bench publish`, which measures the single broker
# on 5672 as always and, on the cluster: the outbox drained into a quorum
# queue against the bare lapin publisher (both on node 1, window 256, the
# same messages), and three failovers (stop_app of the node the daemon is
# connected to while it drains a backlog: the time to the first confirm from
# another node). Stops the cluster if it started it.
#
# Usage: bench/publish-cluster.sh [extra cargo bench arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
cluster=scripts/rabbitmq-cluster
started=
if ! "$cluster" is-up 2>/dev/null; then
    "$cluster" start >/dev/null
    started=1
fi
cleanup() { [ -z "$started" ] || "$cluster" stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
LIBRARYWIRE_TEST_CLUSTER=$("$cluster" urls) \
LIBRARYWIRE_TEST_CLUSTER_CTL="$PWD/$cluster" \
    cargo bench --bench publish "$@"
