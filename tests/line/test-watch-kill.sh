#!/bin/sh
# test-watch-kill.sh: `cutpaste watch` killed with SIGKILL three times while
# parts keep arriving, then run to the end: every part is recorded exactly
# once (no row lost, none twice, none half-written), every file sits once
# in the pass or fail folder under the path its row names and with the
# bytes its hash names, and none is left behind.  Then the same without
# --move-to (the files stay in the folder): restarts record nothing twice.
set -u
. "$(dirname "$0")/../cli-checks.sh"
. "$(dirname "$0")/watch-common.sh"
CUTPASTE=$(realpath "${1:?usage: test-watch-kill.sh PATH/TO/cutpaste}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-watch-kill-XXXXXX")
WATCH_PID=
FEED_PID=
trap 'kill -9 $WATCH_PID $FEED_PID 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
command -v sqlite3 >/dev/null || { echo "skipped: the sqlite3 shell is not installed"; exit 77; }
make_model
mkdir in pass fail
N=60

# The camera: N parts, one every 50 ms or so, each written to a hidden name and
# renamed (as many cameras do), so that the watcher sees whole files.
feed () {
  k=0
  while [ $k -lt $N ]; do
    for img in $IMAGES; do
      [ $k -ge $N ] && break
      cp "$img" "in/.part$k.png"
      mv "in/.part$k.png" "in/part$k.png"
      k=$((k + 1))
      sleep 0.05
    done
  done
}
DB=line.sqlite
for kill in 1 2 3; do
  start_watch "run$kill" --folder in --db $DB --move-to pass,fail
  if [ $kill -eq 1 ]; then
    feed &
    FEED_PID=$!
  fi
  sleep 1
  kill -KILL "$WATCH_PID" || fail "kill $kill: the watcher was not running"
  wait "$WATCH_PID" 2>/dev/null
  WATCH_PID=
  echo "# after kill $kill: $(parts_in $DB) parts recorded"
done
wait "$FEED_PID"
FEED_PID=
start_watch final --folder in --db $DB --move-to pass,fail --exit-when-idle 1.5
end_watch final

[ "$(sql $DB "PRAGMA integrity_check")" = "ok" ] || fail "the database is damaged"
[ "$(parts_in $DB)" -eq $N ] || fail "$(parts_in $DB) parts recorded, $N arrived"
[ "$(sql $DB "SELECT count(DISTINCT file_path) FROM parts")" -eq $N ] || fail "a file is recorded twice"
[ "$(sql $DB "SELECT count(*) FROM parts WHERE score IS NULL OR verdict IS NULL OR final_path IS NULL OR content_hash = ''")" -eq 0 ] \
  || fail "a row is incomplete"
[ -z "$(ls -A in)" ] || fail "left in the folder: $(ls -A in)"
[ "$(ls pass fail | grep -c '^part')" -eq $N ] || fail "$(ls pass fail | grep -c '^part') files in pass/ and fail/, $N arrived"
# Each row names where its file is and the bytes it has.
sql $DB "SELECT final_path, content_hash FROM parts" | while IFS='|' read -r path hash; do
  [ -f "$path" ] || { echo "FAIL: $path of a row is missing"; continue; }
  [ "$(sha256sum "$path" | cut -d' ' -f1)" = "$hash" ] || echo "FAIL: $path does not have its row's bytes"
done >check.txt
[ -s check.txt ] && fail "$(cat check.txt)"

# Without --move-to: the parts stay, restarts (one after a kill) do not
# record them again.
mkdir stay
k=0
for img in $IMAGES; do
  [ $k -ge 12 ] && break
  cp "$img" "stay/p$k.png"
  k=$((k + 1))
done
start_watch stay1 --folder stay --db stay.sqlite --exit-when-idle 1
end_watch stay1
start_watch stay2 --folder stay --db stay.sqlite
sleep 1.5
kill -KILL "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null
start_watch stay3 --folder stay --db stay.sqlite --exit-when-idle 1
end_watch stay3
[ "$(parts_in stay.sqlite)" -eq 12 ] || fail "$(parts_in stay.sqlite) parts recorded of 12 that stayed"
[ "$(wc -l <stay3.out)" -eq 0 ] || fail "a restart printed parts again: $(cat stay3.out)"
exit $((failures > 0))
