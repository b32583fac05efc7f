#!/usr/bin/env bash
# make screenshots: runs the real bin/duobox under Xvfb against the test-bed
# stack (scripts/testbedstack: runtime/testbed's stand-in model server and
# gateway, brought up with 'duobox up') and saves a PNG of each screen into
# assets/screenshots/. Without a Docker engine the stack is skipped and the
# screens show their not-deployed states. Needs xvfb, xdotool and imagemagick
# (scripts/setup-debian.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/duobox}
OUT=assets/screenshots
# Sidebar geometry (the window sits at 0,0: Xvfb has no window manager).
TAB_X=56 TAB_TOP=45 TAB_PITCH=83
TABS=("This machine" "Choose model" "Configure" "Deploy" "Dashboard" "Logs" "Upgrade" "GitLab" "Settings")

[[ -x $BIN ]] || { echo "screenshots: $BIN is missing; run 'make build'" >&2; exit 2; }
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
home=$work/home

# 1. The test-bed stack, when an engine answers.
go build -o "$work/testbedstack" ./scripts/testbedstack
"$work/testbedstack" -home "$home" -duobox "$BIN" >"$work/stack.out" 2>"$work/stack.err" &
pids+=($!)
for _ in $(seq 300); do
  grep -qsx ready "$work/stack.out" && break
  kill -0 "${pids[0]}" 2>/dev/null || break
  sleep 1
done
if grep -qsx ready "$work/stack.out"; then
  echo "screenshots: test-bed stack is up"
else
  echo "screenshots: no test-bed stack (the screens show their not-deployed states):" >&2
  tail -5 "$work/stack.err" >&2
fi

# 2. Xvfb and the app.
n=90
while [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]]; do n=$((n + 1)); done
export DISPLAY=:$n
Xvfb "$DISPLAY" -screen 0 1280x800x24 -nolisten tcp &
pids+=($!)
for _ in $(seq 50); do [[ -e /tmp/.X11-unix/X$n ]] && break; sleep 0.1; done
DUOBOX_HOME=$home XDG_CONFIG_HOME=$work/xdg LANG=en_US.UTF-8 "$BIN" &
pids+=($!)
wid=$(timeout 60 xdotool search --sync --name '^DuoBox$' | head -1)
sleep 4

shot() { # shot NAME TAB [SECONDS]
  local i
  for i in "${!TABS[@]}"; do [[ ${TABS[i]} == "$2" ]] && break; done
  xdotool mousemove "$TAB_X" $((TAB_TOP + i * TAB_PITCH)) click 1
  sleep "${3:-2}"
  import -window "$wid" "$OUT/$1.png"
  echo "screenshots: $OUT/$1.png"
}
shot machine "This machine"
shot choose "Choose model"
shot configure "Configure"
shot deploy-idle "Deploy" 1
xdotool mousemove 158 738 click 1 # Deploy: on the running stack, every step is a quick check
sleep 8
import -window "$wid" "$OUT/deploy.png"
rm -f "$OUT/deploy-idle.png"
echo "screenshots: $OUT/deploy.png"
shot dashboard "Dashboard" 5
shot logs "Logs" 4
shot upgrade "Upgrade" 5
shot gitlab "GitLab" 3
shot settings "Settings"

# 3. A fault, as a user meets it: the model server stopped behind DuoBox's
# back; the Dashboard says what is down and what to do.
stack="shots-${pids[0]}"
model=$(docker ps -q --filter label=io.duobox.managed=true --filter label=io.duobox.role=model --filter "label=io.duobox.stack=$stack" | head -1)
if [[ -n $model ]]; then
  docker stop -t 1 "$model" >/dev/null
  shot dashboard-model-stopped "Dashboard" 12
fi
