#!/bin/sh
# Fails when a file of the application marks strings for translation
# (_(), N_(), g_dngettext, translatable="yes") but is missing from
# po/POTFILES.in, or when POTFILES.in names a file that does not exist.
root="$1"
status=0
cd "$root" || exit 1
for f in $(grep -l -E '(\b_\(|\bN_\(|g_dngettext|translatable="yes")' app/*.c ui/*.ui 2>/dev/null); do
  if ! grep -qx "$f" po/POTFILES.in; then
    echo "missing from po/POTFILES.in: $f"
    status=1
  fi
done
for f in $(grep -v '^#' po/POTFILES.in | grep -v '^$'); do
  if [ ! -f "$f" ]; then
    echo "listed in po/POTFILES.in but missing: $f"
    status=1
  fi
done
exit $status
