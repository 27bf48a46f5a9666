#!/bin/sh
# Fails when a string the application marks for translation has no
# translation in po/zh_CN.po (or only a fuzzy one): every string of the
# files in po/POTFILES.in is extracted with xgettext, as meson's
# cutpaste-inspector-pot target does, and merged with the translation.
# Skips (77) where gettext's tools are not installed.
root="$1"
for tool in xgettext msgmerge msgattrib; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool not found: skipping"; exit 77; }
done
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
cd "$root/po" || exit 1
xgettext --from-code=UTF-8 -f POTFILES.in -D .. \
  --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
  --keyword=g_dngettext:2,3 --keyword=ngettext:1,2 --keyword=g_dpgettext2:2c,3 \
  -o "$work/all.pot" || exit 1
msgmerge --quiet --no-fuzzy-matching zh_CN.po "$work/all.pot" -o "$work/merged.po" || exit 1
# msgattrib prints nothing when no message is selected.
msgattrib --untranslated --no-obsolete "$work/merged.po" | grep -v '^#' >"$work/untranslated.po"
msgattrib --only-fuzzy --no-obsolete "$work/merged.po" | grep -v '^#' >"$work/fuzzy.po"
missing=$(grep -c '^msgid ' "$work/untranslated.po")
fuzzy=$(grep -c '^msgid ' "$work/fuzzy.po")
# The header entry (msgid "") counts as one in either file when present.
[ "$missing" -gt 0 ] && missing=$((missing - 1))
[ "$fuzzy" -gt 0 ] && fuzzy=$((fuzzy - 1))
if [ "$missing" -ne 0 ] || [ "$fuzzy" -ne 0 ]; then
  echo "po/zh_CN.po: $missing untranslated, $fuzzy fuzzy:"
  cat "$work/untranslated.po" "$work/fuzzy.po"
  exit 1
fi
echo "po/zh_CN.po: every string translated"
