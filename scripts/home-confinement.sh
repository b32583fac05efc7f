#!/usr/bin/env bash
# Runs bin/duobox (or $1) twice under Xvfb with a temp HOME and DUOBOX_HOME, switches screen, quits
# with SIGTERM, then prints its stderr (expect nothing: no "Preferences load error: EOF") and every file
# created under HOME outside DUOBOX_HOME (expect only "~"). Needs xvfb and xdotool (make setup).
set -u
BIN=${1:-bin/duobox}; [[ $BIN = /* ]] || BIN=$PWD/$BIN; work=$(mktemp -d); export HOME=$work/home; mkdir -p "$HOME"
n=150; while [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]]; do n=$((n+1)); done
Xvfb :$n -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 & xpid=$!
sleep 1
for round in 1 2; do
  DISPLAY=:$n DUOBOX_HOME=$HOME/dh LANG=en_US.UTF-8 "$BIN" >$work/out$round 2>$work/err$round & pid=$!
  sleep 6
  # change a window setting: click the 'Logs' tab so last-tab is written
  DISPLAY=:$n xdotool mousemove 56 $((45+5*83)) click 1 2>/dev/null; sleep 1
  kill -TERM $pid; wait $pid; echo "round $round exit $?"
  echo "--- stderr $round:"; cat $work/err$round
done
kill $xpid
echo "--- files under HOME outside DUOBOX_HOME:"; find "$HOME" -path "$HOME/dh" -prune -o -print | sed "s|$HOME|~|"
echo "--- under DUOBOX_HOME:"; find "$HOME/dh" -type f | sed "s|$HOME|~|"
rm -rf "$work"
