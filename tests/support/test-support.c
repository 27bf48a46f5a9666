/* test-support.c: cp_test_remove_tree removes a scratch tree and nothing
 * that its symbolic links point at.
 *
 * Every GLib-side test cleans up with it, and a scratch tree may hold a
 * link to the shared datasets: one that followed links would delete them.
 */
#include <errno.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "test-support.h"

static void
write_file (const char *path, const char *contents)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, contents, -1, &error));
  g_assert_no_error (error);
}

static void
make_link (const char *target, const char *link)
{
  if (symlink (target, link) != 0)
    g_error ("symlink %s -> %s: %s", link, target, g_strerror (errno));
}

static void
assert_exists (const char *path)
{
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    g_error ("%s was removed", path);
}

/* A nested tree with files, holding links (absolute and relative, to a
 * folder and to a file) into a folder beside it: the tree goes, the folder
 * beside it and its file stay. */
static void
test_keeps_link_targets (void)
{
  g_autofree char *outside = cp_test_make_tmp_dir ("cp-support-outside-XXXXXX");
  g_autofree char *outside_name = g_path_get_basename (outside);
  g_autofree char *kept = g_build_filename (outside, "kept.txt", NULL);
  g_autofree char *kept_sub = g_build_filename (outside, "sub", NULL);
  g_autofree char *kept_sub_file = g_build_filename (kept_sub, "deep.txt", NULL);
  g_autofree char *tree = cp_test_make_tmp_dir ("cp-support-tree-XXXXXX");
  g_autofree char *nested = g_build_filename (tree, "a", "b", "c", NULL);
  g_autofree char *top_file = g_build_filename (tree, "top.txt", NULL);
  g_autofree char *nested_file = g_build_filename (nested, "leaf.txt", NULL);
  g_autofree char *abs_dir_link = g_build_filename (tree, "datasets", NULL);
  g_autofree char *rel_target = g_build_filename ("..", "..", outside_name, NULL);
  g_autofree char *rel_dir_link = g_build_filename (tree, "a", "shared", NULL);
  g_autofree char *file_link = g_build_filename (tree, "a", "b", "kept-link.txt", NULL);
  g_autofree char *dangling_link = g_build_filename (tree, "dangling", NULL);

  write_file (kept, "keep me");
  g_assert_cmpint (g_mkdir_with_parents (kept_sub, 0755), ==, 0);
  write_file (kept_sub_file, "keep me too");

  g_assert_cmpint (g_mkdir_with_parents (nested, 0755), ==, 0);
  write_file (top_file, "top");
  write_file (nested_file, "leaf");
  make_link (outside, abs_dir_link);
  /* tree/a/shared -> ../../<outside>: the form a link to ../shared takes. */
  make_link (rel_target, rel_dir_link);
  make_link (kept, file_link);
  make_link ("no-such-target", dangling_link);
  /* The links resolve, so a remover that followed them would reach out. */
  g_assert_true (g_file_test (abs_dir_link, G_FILE_TEST_IS_DIR));
  g_assert_true (g_file_test (rel_dir_link, G_FILE_TEST_IS_DIR));

  cp_test_remove_tree (tree);

  assert_exists (outside);
  assert_exists (kept);
  assert_exists (kept_sub);
  assert_exists (kept_sub_file);
  g_assert_false (g_file_test (tree, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (dangling_link, G_FILE_TEST_IS_SYMLINK));

  cp_test_remove_tree (outside);
  g_assert_false (g_file_test (outside, G_FILE_TEST_EXISTS));
}

/* Given a link to a folder itself, only the link goes. */
static void
test_link_itself (void)
{
  g_autofree char *outside = cp_test_make_tmp_dir ("cp-support-outside-XXXXXX");
  g_autofree char *kept = g_build_filename (outside, "kept.txt", NULL);
  g_autofree char *base = cp_test_make_tmp_dir ("cp-support-base-XXXXXX");
  g_autofree char *link = g_build_filename (base, "link", NULL);

  write_file (kept, "keep me");
  make_link (outside, link);

  cp_test_remove_tree (link);

  g_assert_false (g_file_test (link, G_FILE_TEST_IS_SYMLINK));
  assert_exists (kept);

  cp_test_remove_tree (base);
  cp_test_remove_tree (outside);
  g_assert_false (g_file_test (base, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (outside, G_FILE_TEST_EXISTS));
}

/* A path that is not there is no error: tests clean up unconditionally. */
static void
test_missing (void)
{
  g_autofree char *base = cp_test_make_tmp_dir ("cp-support-base-XXXXXX");
  g_autofree char *missing = g_build_filename (base, "never-made", NULL);

  cp_test_remove_tree (missing);
  assert_exists (base);
  cp_test_remove_tree (base);
  g_assert_false (g_file_test (base, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/support/remove-tree/keeps-link-targets", test_keeps_link_targets);
  g_test_add_func ("/support/remove-tree/link-itself", test_link_itself);
  g_test_add_func ("/support/remove-tree/missing", test_missing);
  return g_test_run ();
}
