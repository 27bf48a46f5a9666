#!/bin/sh
# test-watch-faults.sh: `cutpaste watch` on a tiny model, through every
# fault of issue 15 in one watched folder: a non-image and an empty file
# (reported once, left in place, the empty one scored once it is written),
# a file still being written (recorded once, no fault), a file that
# disappears before it is scored, the database locked by another process,
# the database migrated by a newer program while watched (and one of a
# newer schema at the start), the folder removed while watched.  Each
# fault is reported once with the file named; the watcher keeps going; at
# the end every image dropped in is recorded exactly once and was moved
# only after it was recorded.  (The full disk is test-watch-full.sh, three
# forced kills test-watch-kill.sh.)
set -u
. "$(dirname "$0")/../cli-checks.sh"
. "$(dirname "$0")/watch-common.sh"
CUTPASTE=$(realpath "${1:?usage: test-watch-faults.sh PATH/TO/cutpaste}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-watch-faults-XXXXXX")
WATCH_PID=
LOCK_PID=
trap 'kill -9 $WATCH_PID $LOCK_PID 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
command -v sqlite3 >/dev/null || { echo "skipped: the sqlite3 shell is not installed"; exit 77; }
make_model
mkdir in pass fail
set -- $IMAGES
DROPPED=0
# drop IMAGE NAME: copies a part into the folder the way a camera does.
drop () { cp "$1" "in/$2"; DROPPED=$((DROPPED + 1)); }

# ---- usage and start-up failures ----
expect_status 0 "$CUTPASTE" watch --help
grep -q -- "--move-to" out.txt || fail "watch --help names no --move-to"
expect_status 2 "$CUTPASTE" watch
expect_status 2 "$CUTPASTE" watch --model-dir models --category weave --folder in --move-to pass
expect_status 2 "$CUTPASTE" watch --model-dir models --category weave --folder in --heatmaps some
expect_status 1 "$CUTPASTE" watch --model-dir models --category washer --folder in --db start.sqlite
grep -q "washer" err.txt || fail "a missing model is not named: $(cat err.txt)"
expect_status 1 "$CUTPASTE" watch --model-dir models --category weave --folder nowhere --db start.sqlite
grep -q "nowhere" err.txt || fail "a missing folder is not named: $(cat err.txt)"

# A database a newer cutpaste wrote: refused at the start, named, and
# left byte for byte as it was.
sqlite3 newer.sqlite "PRAGMA application_id = 1129335857; PRAGMA user_version = 2; CREATE TABLE cameras (id);"
before=$(sha256sum newer.sqlite)
expect_status 1 "$CUTPASTE" watch --model-dir models --category weave --folder in --db newer.sqlite
grep -q "newer.sqlite" err.txt && grep -q "schema version 2" err.txt \
  || fail "a newer database is not refused clearly: $(cat err.txt)"
[ "$(sha256sum newer.sqlite)" = "$before" ] || fail "the newer database was changed"
# Another program's SQLite file.
sqlite3 other.sqlite "CREATE TABLE invoices (id);"
expect_status 1 "$CUTPASTE" watch --model-dir models --category weave --folder in --db other.sqlite
grep -q "not a CutPaste line database" err.txt || fail "a foreign database is not refused: $(cat err.txt)"

DB=line.sqlite
start_watch w1 --folder in --db $DB --move-to pass,fail

# ---- parts arrive ----
drop "$1" p1.png; drop "$2" p2.png; drop "$3" p3.png
wait_until 30 has_parts $DB 3 || fail "3 parts not recorded: $(parts_in $DB)"
wait_until 10 test ! -e in/p3.png || fail "p3.png was not moved"
[ "$(ls pass fail | grep -c '\.png$')" -eq 3 ] || fail "the parts are not in pass/ and fail/: $(ls pass fail)"
[ "$(wc -l <w1.out)" -eq 3 ] || fail "not one line per part: $(cat w1.out)"
[ "$(sql $DB "SELECT count(*) FROM parts WHERE file_path LIKE '%/in/p%' AND (final_path LIKE '%/pass/%' OR final_path LIKE '%/fail/%')")" -eq 3 ] \
  || fail "final paths not recorded"

# ---- a non-image and an empty file: once each, left where they are ----
echo "shift notes" >in/notes.txt
: >in/empty.png
wait_until 10 grep -q "empty.png" w1.err || fail "the empty file is not reported"
wait_until 10 grep -q "notes.txt" w1.err || fail "the non-image is not reported"
sleep 1.5   # several rescans
[ "$(count_lines w1.err notes.txt)" -eq 1 ] || fail "notes.txt reported $(count_lines w1.err notes.txt) times"
[ "$(count_lines w1.err empty.png)" -eq 1 ] || fail "empty.png reported $(count_lines w1.err empty.png) times"
grep "empty.png" w1.err | grep -q "empty" || fail "the empty file's report does not say it is empty"
[ -e in/notes.txt ] && [ -e in/empty.png ] || fail "a bad file was moved away"
# The empty file is written after all: now it is a part.
cat "$4" >in/empty.png
DROPPED=$((DROPPED + 1))
wait_until 20 has_parts $DB 4 || fail "the empty file, once written, was not recorded"

# ---- a file still being written: no fault, recorded once when complete ----
python3 - "$5" in/slow.png <<'PY'
import sys, time
data = open(sys.argv[1], 'rb').read()
with open(sys.argv[2], 'wb') as f:
    f.write(data[:len(data) // 2]); f.flush()
    time.sleep(1.5)            # longer than --settle: only the open file says it is not done
    f.write(data[len(data) // 2:])
PY
DROPPED=$((DROPPED + 1))
wait_until 20 has_parts $DB 5 || fail "the slowly written file was not recorded"
grep -q "slow.png" w1.err && fail "the file being written was reported: $(grep slow.png w1.err)"
[ "$(sql $DB "SELECT count(*) FROM parts WHERE file_path LIKE '%/slow.png'")" -eq 1 ] || fail "slow.png not recorded once"

# ---- a file that disappears before it is scored ----
python3 - "$6" in/gone.png <<'PY'
import os, sys, time
data = open(sys.argv[1], 'rb').read()
with open(sys.argv[2], 'wb') as f:
    f.write(data); f.flush()
    time.sleep(0.8)            # still open: the watcher waits for the writer
    os.unlink(sys.argv[2])
PY
wait_until 10 grep -q "gone.png" w1.err || fail "the vanished file is not reported"
grep "gone.png" w1.err | grep -q "disappeared before it was scored" || fail "wrong report: $(grep gone.png w1.err)"
sleep 1
[ "$(count_lines w1.err gone.png)" -eq 1 ] || fail "gone.png reported $(count_lines w1.err gone.png) times"

# ---- the database locked by another process ----
sqlite3 $DB "BEGIN EXCLUSIVE;" ".shell sleep 4" "COMMIT;" &
LOCK_PID=$!
sleep 0.3
drop "$7" locked1.png; drop "$8" locked2.png
wait_until 15 grep -q "database fault" w1.err || fail "the locked database is not reported"
# While it is locked the parts wait, and their files stay in the folder.
[ -e in/locked1.png ] && [ -e in/locked2.png ] || fail "a part was moved before it was recorded"
wait "$LOCK_PID"
LOCK_PID=
wait_until 20 has_parts $DB 7 || fail "the parts waiting for the lock were not recorded: $(parts_in $DB)"
wait_until 10 grep -q "can be written again" w1.err || fail "the end of the lock is not reported"
[ "$(count_lines w1.err 'database fault')" -eq 1 ] || fail "the lock was reported $(count_lines w1.err 'database fault') times"
grep "database fault" w1.err | grep -q "$DB" || fail "the database fault does not name the database"
wait_until 10 test ! -e in/locked2.png || fail "locked2.png was not moved once recorded"

# ---- a refit while watching: the refitted model scores the next parts ----
old_threshold=$(sql $DB "SELECT threshold FROM parts ORDER BY id DESC LIMIT 1")
"$CUTPASTE" refit --model models/weave.safetensors --add-good "${10}" >refit.out 2>&1 \
  || fail "refit failed: $(cat refit.out)"
new_threshold=$(sed -n 's/.*threshold [0-9.]* -> \([0-9.]*\) .*/\1/p' refit.out)
drop "${11}" refitted.png
wait_until 20 has_parts $DB 8 || fail "the part after the refit was not recorded"
grep -q "changed: now scoring with it" w1.err || fail "the watcher did not take the refitted model"
[ "$(sql $DB "SELECT count(*) FROM models")" -eq 2 ] || fail "the refitted model has no row of its own"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-5 * b)" \
  "$(sql $DB "SELECT threshold FROM parts WHERE file_path LIKE '%/refitted.png'")" "$new_threshold" \
  || fail "the part after the refit has threshold $(sql $DB "SELECT threshold FROM parts WHERE file_path LIKE '%/refitted.png'"), the refit made $new_threshold (before: $old_threshold)"

# ---- the folder removed while watched ----
rm -rf in
wait_until 10 grep -q "folder fault" w1.err || fail "the removed folder is not reported"
grep "folder fault" w1.err | grep -q "/in" || fail "the folder fault does not name the folder"
sleep 1
[ "$(count_lines w1.err 'folder fault')" -eq 1 ] || fail "the removed folder was reported more than once"
mkdir in
wait_until 10 grep -q "folder is back" w1.err || fail "the folder's return is not reported"
drop "$9" back.png
wait_until 20 has_parts $DB 9 || fail "a part in the re-made folder was not recorded"

# ---- the database migrated by a newer program while watched ----
sqlite3 $DB "PRAGMA user_version = 2"
shift 9
drop "$1" future.png
wait_until 15 grep -q "newer cutpaste" w1.err || fail "the database migrated meanwhile is not reported"
grep "newer cutpaste" w1.err | grep -q "$DB" || fail "the migration fault does not name the database"
stop_watch
[ "$WATCH_STATUS" -eq 0 ] || fail "the watcher exited $WATCH_STATUS on SIGTERM"
grep -q "stopped with 1 scored part not recorded" w1.err || fail "the unrecorded part is not reported at the stop"
[ -e in/future.png ] || fail "the unrecorded part's file left the folder"
[ "$(parts_in $DB)" -eq 9 ] || fail "a part was written into the newer database"
# Back to our version (as if the newer program were rolled back): the
# part is scored at the next start and recorded.
sqlite3 $DB "PRAGMA user_version = 1"
start_watch w2 --folder in --db $DB --move-to pass,fail --exit-when-idle 1
end_watch w2
[ "$(parts_in $DB)" -eq 10 ] || fail "the part left by the newer database was not recorded at the restart"

# ---- everything dropped in, recorded once ----
[ "$DROPPED" -eq 10 ] || fail "the script dropped $DROPPED parts, expected 10"
[ "$(sql $DB "SELECT count(*) FROM parts")" -eq "$(sql $DB "SELECT count(DISTINCT file_path || content_hash) FROM parts")" ] \
  || fail "a part is recorded twice"
[ "$(sql $DB "PRAGMA integrity_check")" = "ok" ] || fail "the database is damaged"
[ "$(sql $DB "PRAGMA journal_mode")" = "wal" ] || fail "the database is not in WAL mode"
left=$(ls in | grep -v -e notes.txt)
[ -z "$left" ] || fail "parts left in the folder: $left"
exit $((failures > 0))
