#!/bin/sh
# test-report.sh: a shift recorded by `cutpaste watch`, a wrong reject
# marked as good with `cutpaste refit --db` (the model refitted, the part
# overridden with the operator's name and note), then `cutpaste report`:
# the CSV holds every part once with its hash, verdict and override (a
# note with a comma and a quote survives), the PDF opens (pdfinfo,
# pdftotext, pdftoppm) and shows the counts, the override and who made it,
# the drift status; a period without parts still gives a report; bad
# arguments, a missing or newer database and an unwritable output fail
# with the file named and leave nothing behind.
set -u
. "$(dirname "$0")/../cli-checks.sh"
. "$(dirname "$0")/watch-common.sh"
CUTPASTE=$(realpath "${1:?usage: test-report.sh PATH/TO/cutpaste}")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cp-report-XXXXXX")
WATCH_PID=
trap 'kill -9 $WATCH_PID 2>/dev/null; rm -rf "$WORK"' EXIT
cd "$WORK" || exit 1
command -v sqlite3 >/dev/null || { echo "skipped: the sqlite3 shell is not installed"; exit 77; }
command -v pdftotext >/dev/null || { echo "skipped: poppler-utils (pdftotext) is not installed"; exit 77; }
make_model localize
mkdir in pass fail
n=0
for img in data/weave/test/*/*.png; do
  cp "$img" "in/part$n.png"
  n=$((n + 1))
done
DB=line.sqlite
start_watch w --folder in --db $DB --move-to pass,fail --heatmaps all --exit-when-idle 1
end_watch w
[ "$(parts_in $DB)" -eq $n ] || fail "$(parts_in $DB) of $n parts recorded"
# Heatmaps from the patch model, through the engine's localisation.
[ "$(sql $DB "SELECT count(*) FROM parts WHERE heatmap_max IS NOT NULL AND heatmap_path LIKE '%.heatmaps/%.png'")" -eq $n ] \
  || fail "not every part has a heatmap"
for h in $(sql $DB "SELECT heatmap_path FROM parts"); do
  [ "$(head -c 8 "$h" | od -An -tx1 | tr -d ' ')" = "89504e470d0a1a0a" ] || fail "$h is not a PNG"
done

# The worst part (a wrong reject, say): marked as good.
worst=$(sql $DB "SELECT final_path FROM parts ORDER BY score DESC LIMIT 1")
threshold_before=$(sql $DB "SELECT threshold FROM parts LIMIT 1")
expect_status 2 "$CUTPASTE" refit --model models/weave.safetensors --note "x"
expect_status 2 "$CUTPASTE" refit --model models/weave.safetensors "$worst"
expect_status 2 "$CUTPASTE" refit --model models/weave.safetensors --list --undo
expect_status 0 "$CUTPASTE" refit --model models/weave.safetensors --add-good "$worst" --db $DB \
  --operator "Ana Li" --note 'glare on the lens, "not" a scratch'
grep -q "1 recorded part marked as passed" out.txt || fail "refit did not mark the part: $(cat out.txt)"
grep -q "refit in" out.txt || fail "refit did not say how long it took: $(cat out.txt)"
[ "$(sql $DB "SELECT count(*) FROM refits WHERE action = 'add' AND operator = 'Ana Li'")" -eq 1 ] \
  || fail "the refit is not recorded"
[ "$(sql $DB "SELECT override_verdict || '|' || override_by FROM parts WHERE final_path = '$worst'")" = "pass|Ana Li" ] \
  || fail "the override is not recorded"
expect_status 0 "$CUTPASTE" refit --model models/weave.safetensors --list
grep -q "1 image added" out.txt || fail "the model does not list the added image: $(cat out.txt)"

# ---- the report ----
expect_status 0 "$CUTPASTE" report --db $DB --pdf shift.pdf --csv shift.csv
grep -q "^$n parts" out.txt || fail "report summary: $(cat out.txt)"
[ "$(head -1 shift.csv)" = "id,time,file_path,final_path,sha256,file_size,category,model_sha256,score,threshold,verdict,heatmap_max,heatmap_path,override,override_note,override_by,override_time,final_verdict" ] \
  || fail "CSV header: $(head -1 shift.csv)"
[ "$(python3 -c 'import csv,sys; print(len(list(csv.reader(open(sys.argv[1])))) - 1)' shift.csv)" -eq $n ] \
  || fail "the CSV does not hold $n parts"
python3 - shift.csv "$worst" <<'PY' || fail "the CSV rows do not match the parts"
import csv, hashlib, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ok = True
for r in rows:
    if hashlib.sha256(open(r['final_path'], 'rb').read()).hexdigest() != r['sha256']:
        print('hash of', r['final_path'], 'differs'); ok = False
    if r['verdict'] not in ('pass', 'fail'):
        print('verdict', r['verdict']); ok = False
    expected = r['override'] or r['verdict']
    if r['final_verdict'] != expected:
        print('final verdict', r); ok = False
over = [r for r in rows if r['override']]
if len(over) != 1 or over[0]['final_path'] != sys.argv[2] or over[0]['override_by'] != 'Ana Li' \
   or over[0]['override_note'] != 'glare on the lens, "not" a scratch' or over[0]['override'] != 'pass':
    print('override rows', over); ok = False
sys.exit(0 if ok else 1)
PY
pages=$(pdfinfo shift.pdf 2>/dev/null | sed -n 's/^Pages: *//p')
[ "${pages:-0}" -ge 2 ] || fail "the PDF has ${pages:-no} pages"
pdftotext -layout shift.pdf shift.txt
for text in "Shift report" "weave" "Parts" "Yield" "Overrides" "Ana Li" "glare on the lens" "Worst parts" \
            "Models used"; do
  grep -q "$text" shift.txt || fail "the PDF does not show '$text'"
done
grep -qi "drift" shift.txt || fail "the PDF does not give the drift status"
grep -q "heatmap maximum" shift.txt || fail "the worst parts are not shown with their heatmaps"
grep -q "no heatmap" shift.txt && fail "a worst part is shown without its heatmap"
pdftoppm -r 40 -png -f 1 -l 1 shift.pdf page >/dev/null 2>&1 && [ -s page-1.png ] || fail "the PDF does not render"

# A period without parts.
expect_status 0 "$CUTPASTE" report --db $DB --from 2001-01-01 --to 2001-01-02 --pdf empty.pdf --csv empty.csv
[ "$(wc -l <empty.csv)" -eq 1 ] || fail "the empty period's CSV has rows"
pdftotext empty.pdf - | grep -q "No parts" || fail "the empty period's PDF does not say so"
# A period with them: the same as no bounds.
expect_status 0 "$CUTPASTE" report --db $DB --from 2000-01-01 --to 2100-01-01T00:00Z --csv all.csv
cmp -s all.csv shift.csv || fail "a period around every part differs from the whole database"

# ---- bad input ----
expect_status 2 "$CUTPASTE" report --db $DB
expect_status 2 "$CUTPASTE" report --pdf x.pdf
expect_status 2 "$CUTPASTE" report --db $DB --pdf x.pdf --from yesterday
grep -q "yesterday" err.txt || fail "a bad time is not named"
expect_status 2 "$CUTPASTE" report --db $DB --pdf x.pdf --from 2026-01-02 --to 2026-01-01
expect_status 1 "$CUTPASTE" report --db missing.sqlite --pdf x.pdf
grep -q "missing.sqlite" err.txt || fail "a missing database is not named"
[ -e missing.sqlite ] && fail "report created the missing database"
sqlite3 newer.sqlite "PRAGMA application_id = 1129335857; PRAGMA user_version = 5; CREATE TABLE t (x);"
expect_status 1 "$CUTPASTE" report --db newer.sqlite --pdf x.pdf
grep -q "schema version 5" err.txt || fail "a newer database is not refused clearly: $(cat err.txt)"
expect_status 1 "$CUTPASTE" report --db $DB --pdf nowhere/x.pdf
grep -q "nowhere/x.pdf" err.txt || fail "an unwritable PDF is not named: $(cat err.txt)"
[ -e x.pdf ] && fail "a failed report left x.pdf"
[ -z "$(ls -A . | grep -e '^\.' )" ] || fail "temporary files left: $(ls -A . | grep -e '^\.')"

# ---- undo ----
expect_status 0 "$CUTPASTE" refit --model models/weave.safetensors --undo --db $DB --operator "Ana Li"
[ "$(sql $DB "SELECT count(*) FROM refits WHERE action = 'remove'")" -eq 1 ] || fail "the undo is not recorded"
expect_status 0 "$CUTPASTE" threshold --model models/weave.safetensors
after=$(sed -n 's/^threshold: //p' out.txt)
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(abs(a - b) > 1e-4 * abs(b))" \
  "$after" "$threshold_before" || fail "undo left threshold $after, trained $threshold_before"
exit $((failures > 0))
