#!/bin/sh
# test-watch-full.sh: `cutpaste watch` with its database on a disk that
# fills up.  The disk is real: a 4 MiB tmpfs mounted in a private mount
# namespace (unshare -m as root, unshare -rm as a user where user
# namespaces are allowed; skipped where neither works), filled with a
# filler file while the watcher runs.  The parts that arrive then are
# scored but cannot be recorded: the fault is reported once, naming the
# database, their files stay in the folder; once space is freed they are
# recorded and moved, and nothing recorded before is lost.
set -u
. "$(dirname "$0")/../cli-checks.sh"
. "$(dirname "$0")/watch-common.sh"
CUTPASTE=$(realpath "${1:?usage: test-watch-full.sh PATH/TO/cutpaste}")
SCRIPT=$(realpath "$0")

if [ -z "${CP_FULL_DISK_INSIDE:-}" ]; then
  export CP_FULL_DISK_INSIDE=1
  if [ "$(id -u)" -eq 0 ] && unshare -m true 2>/dev/null; then
    exec unshare -m sh "$SCRIPT" "$CUTPASTE"
  elif unshare -rm true 2>/dev/null; then
    exec unshare -rm sh "$SCRIPT" "$CUTPASTE"
  fi
  echo "skipped: cannot make a private mount namespace (unshare) to mount a small disk"
  exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-watch-full-XXXXXX")
WATCH_PID=
trap 'kill -9 $WATCH_PID 2>/dev/null; umount "$WORK/disk" 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
command -v sqlite3 >/dev/null || { echo "skipped: the sqlite3 shell is not installed"; exit 77; }
mkdir disk
mount -t tmpfs -o size=4m tmpfs disk 2>/dev/null \
  || { echo "skipped: cannot mount a tmpfs in the namespace"; exit 77; }
make_model
mkdir in pass fail
set -- $IMAGES
DB=disk/line.sqlite

start_watch w1 --folder in --db $DB --move-to pass,fail
cp "$1" in/before1.png
cp "$2" in/before2.png
wait_until 20 has_parts $DB 2 || fail "the first parts were not recorded"
wait_until 10 test ! -e in/before2.png || fail "before2.png was not moved"

# The disk fills up.
dd if=/dev/zero of=disk/filler bs=4096 2>/dev/null
[ "$(df -k disk | awk 'NR == 2 { print $4 }')" -eq 0 ] || fail "the disk is not full: $(df -k disk)"
cp "$3" in/full1.png
cp "$4" in/full2.png
cp "$5" in/full3.png
wait_until 20 grep -q "database fault" w1.err || fail "the full disk is not reported"
grep "database fault" w1.err | grep -q "$DB" || fail "the fault does not name the database: $(grep 'database fault' w1.err)"
grep "database fault" w1.err | grep -qi "full\|space" || fail "the fault does not say the disk is full: $(grep 'database fault' w1.err)"
sleep 1   # several retries
[ "$(count_lines w1.err 'database fault')" -eq 1 ] || fail "the full disk was reported $(count_lines w1.err 'database fault') times"
[ -e in/full1.png ] && [ -e in/full2.png ] && [ -e in/full3.png ] || fail "a part left the folder unrecorded"
[ "$(sqlite3 $DB "SELECT count(*) FROM parts")" -eq 2 ] || fail "the parts recorded before are not all readable"

# Space again: the waiting parts are recorded and moved.
rm disk/filler
wait_until 20 has_parts $DB 5 || fail "the waiting parts were not recorded once there was space: $(parts_in $DB)"
wait_until 10 grep -q "can be written again" w1.err || fail "the end of the fault is not reported"
wait_until 10 test ! -e in/full3.png || fail "full3.png was not moved once recorded"
stop_watch
[ "$WATCH_STATUS" -eq 0 ] || fail "the watcher exited $WATCH_STATUS"
[ "$(sqlite3 $DB "PRAGMA integrity_check")" = "ok" ] || fail "the database is damaged"
[ "$(sqlite3 $DB "SELECT count(DISTINCT file_path) FROM parts")" -eq 5 ] || fail "a part was recorded twice"
exit $((failures > 0))
