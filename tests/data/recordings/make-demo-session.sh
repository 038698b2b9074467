#!/bin/sh
# Re-make demo-session.jsonl.gz the way it was made: the real console on the demo cluster
# (--demo --record) in an 80x24 tmux, driven by keys as an operator would; about 100 s.
# Run from the repository root: sh tests/data/recordings/make-demo-session.sh
set -eu
out=tests/data/recordings/demo-session.jsonl.gz
data=$(mktemp -d)
rm -f "$out"
python=${PYTHON:-python}
tmux new -d -s make-recording -x 80 -y 24 \
  "SRECONSOLE_DATA_DIR=$data PYTHONPATH=$PWD/src $python -m sreconsole --demo --record $out"
k() { tmux send-keys -t make-recording "$@"; }
sleep 12
k j j j j Enter; sleep 4; k Escape; sleep 1         # evidence: the fifth alert (KubePodCrashLooping)
k k k Enter; sleep 4; k Escape; sleep 1             # evidence: the alert three rows up
k 2; sleep 3                                        # Review: #2 rollback-deployment first
k r; sleep 2; k -l "errors come from the database, not the deploy"; k Tab; sleep 1
k Down Down; sleep 1; k Enter; sleep 3              # rejected, the right action: pod-check-status
k G; sleep 1; k r; sleep 2; k -l "Watchdog is the heartbeat: nothing to do"; k Enter; sleep 3
k G; sleep 1; k a; sleep 2; k -l "crash loop after the config push; restart"; k Enter; sleep 3
k G; sleep 1; k a; sleep 2; k -l "reconcile the stuck kustomization"; k Enter; sleep 3
k 1; sleep 1; k j Enter; sleep 3; k Escape          # evidence: the next alert
sleep 25
k q; sleep 3
tmux kill-session -t make-recording 2>/dev/null || true
rm -rf "$data"
