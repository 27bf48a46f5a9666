/* test-fs.c: whole-file reads and atomic writes. */
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness.h"
#include "io-test-util.h"
#include "core/io/fs.h"

static char *scratch_dir;

static void
test_read_file (void)
{
  char *path = io_test_path (scratch_dir, "data.bin");
  char *empty = io_test_path (scratch_dir, "empty");
  char *missing = io_test_path (scratch_dir, "missing");
  unsigned char bytes[5000];
  void *data;
  size_t size;
  CpError error;

  for (size_t i = 0; i < sizeof bytes; i++)
    bytes[i] = (unsigned char) (i * 7);
  CHECK (io_test_write (path, bytes, sizeof bytes));
  CHECK (io_test_write (empty, "", 0));

  CHECK (cp_read_file (path, sizeof bytes, &data, &size, &error) == CP_OK);
  CHECK (size == sizeof bytes && memcmp (data, bytes, size) == 0);
  CHECK (((unsigned char *) data)[size] == 0);   /* terminated for text parsers */
  free (data);

  /* One byte over the limit is refused before reading. */
  data = (void *) 1;
  CHECK (cp_read_file (path, sizeof bytes - 1, &data, &size, &error) == CP_ERR_NOMEM);
  CHECK (data == NULL && size == 0);
  CHECK_MSG (strstr (error.message, path) != NULL, "%s", error.message);
  CHECK_MSG (strstr (error.message, "exceeds the limit of 4999 bytes") != NULL, "%s",
             error.message);

  CHECK (cp_read_file (empty, 0, &data, &size, &error) == CP_OK);
  CHECK (data != NULL && size == 0 && ((char *) data)[0] == '\0');
  free (data);

  CHECK (cp_read_file (missing, 100, &data, &size, &error) == CP_ERR_IO);
  CHECK (strstr (error.message, missing) != NULL);
  CHECK (strstr (error.message, "No such file or directory") != NULL);

  CHECK (cp_read_file (scratch_dir, 100, &data, &size, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, "is a folder") != NULL, "%s", error.message);

  /* Files whose stat size is 0 but which have content (procfs) are read
   * to the end; the limit still applies as they are read. */
  if (access ("/proc/self/status", R_OK) == 0)
    {
      CHECK (cp_read_file ("/proc/self/status", 1 << 20, &data, &size, &error) == CP_OK);
      CHECK (size > 10 && strstr (data, "Name:") != NULL && strlen (data) == size);
      free (data);
      CHECK (cp_read_file ("/proc/self/status", 10, &data, &size, &error) == CP_ERR_NOMEM);
    }

  /* A pipe has no size: the buffer grows while reading. */
  {
    char *fifo = io_test_path (scratch_dir, "fifo");
    pid_t child;

    CHECK (mkfifo (fifo, 0600) == 0);
    child = fork ();
    if (child == 0)
      {
        FILE *f = fopen (fifo, "wb");
        unsigned char chunk[1000];

        for (int k = 0; k < 300 && f != NULL; k++)
          {
            for (int i = 0; i < 1000; i++)
              chunk[i] = (unsigned char) (k + i);
            fwrite (chunk, 1, sizeof chunk, f);
          }
        if (f != NULL)
          fclose (f);
        _exit (0);
      }
    CHECK (cp_read_file (fifo, 1 << 20, &data, &size, &error) == CP_OK);
    CHECK (size == 300000);
    if (size == 300000)
      {
        bool same = true;

        for (int k = 0; k < 300; k++)
          for (int i = 0; i < 1000; i++)
            same &= ((unsigned char *) data)[k * 1000 + i] == (unsigned char) (k + i);
        CHECK (same);
        CHECK (((unsigned char *) data)[size] == 0);
      }
    free (data);
    waitpid (child, NULL, 0);
    unlink (fifo);
    free (fifo);
  }

  free (path);
  free (empty);
  free (missing);
}

static void
test_write_atomic (void)
{
  char *path = io_test_path (scratch_dir, "out.csv");
  unsigned char *back;
  size_t size;
  struct stat st;
  CpError error;
  mode_t old_mask;
  char big[100000];

  old_mask = umask (022);
  CHECK (cp_write_file_atomic (path, "a,b\n1,2\n", 8, &error) == CP_OK);
  back = io_test_read (path, &size);
  CHECK (back != NULL && size == 8 && memcmp (back, "a,b\n1,2\n", 8) == 0);
  free (back);
  /* A new file gets 0666 minus the umask, not mkstemp's 0600. */
  CHECK (stat (path, &st) == 0 && (st.st_mode & 0777) == 0644);

  /* Replacing keeps the permissions the file had. */
  chmod (path, 0640);
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char) ('a' + i % 26);
  CHECK (cp_write_file_atomic (path, big, sizeof big, &error) == CP_OK);
  back = io_test_read (path, &size);
  CHECK (back != NULL && size == sizeof big && memcmp (back, big, size) == 0);
  free (back);
  CHECK (stat (path, &st) == 0 && (st.st_mode & 0777) == 0640);

  /* An empty write makes an empty file. */
  CHECK (cp_write_file_atomic (path, NULL, 0, &error) == CP_OK);
  CHECK (stat (path, &st) == 0 && st.st_size == 0);
  umask (old_mask);

  /* Only the target is left in the folder. */
  CHECK (io_test_count_entries (scratch_dir) == 1);

  /* A relative path writes in the current folder. */
  {
    char cwd[4096];

    CHECK (getcwd (cwd, sizeof cwd) != NULL);
    CHECK (chdir (scratch_dir) == 0);
    CHECK (cp_write_file_atomic ("relative.txt", "x", 1, &error) == CP_OK);
    CHECK (access ("relative.txt", F_OK) == 0);
    unlink ("relative.txt");
    CHECK (chdir (cwd) == 0);
  }

  CHECK (cp_write_file_atomic ("", "x", 1, &error) == CP_ERR_INVALID);
  CHECK (cp_write_file_atomic ("/tmp/", "x", 1, &error) == CP_ERR_INVALID);
  CHECK (cp_write_file_atomic (path, NULL, 3, &error) == CP_ERR_INVALID);
  unlink (path);
  free (path);
}

static void
test_write_failures (void)
{
  char *dir = io_test_path (scratch_dir, "fail");
  char *target, *missing, *plain, *under_plain, *folder;
  unsigned char *back;
  size_t size;
  CpError error;
  int entries;
  static char payload[200000];

  mkdir (dir, 0755);
  target = io_test_path (dir, "keep.txt");
  missing = io_test_path (dir, "nope/keep.txt");
  plain = io_test_path (dir, "plain");
  under_plain = io_test_path (dir, "plain/keep.txt");
  folder = io_test_path (dir, "folder");
  CHECK (cp_write_file_atomic (target, "original", 8, &error) == CP_OK);
  CHECK (io_test_write (plain, "p", 1));
  mkdir (folder, 0755);
  entries = io_test_count_entries (dir);
  memset (payload, 'z', sizeof payload);

  CHECK (cp_write_file_atomic (missing, "new", 3, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, missing) != NULL, "%s", error.message);
  CHECK_MSG (strstr (error.message, "No such file or directory") != NULL, "%s", error.message);

  CHECK (cp_write_file_atomic (under_plain, "new", 3, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, "Not a directory") != NULL, "%s", error.message);

  CHECK (cp_write_file_atomic (folder, "new", 3, &error) == CP_ERR_IO);
  CHECK_MSG (strstr (error.message, folder) != NULL, "%s", error.message);
  CHECK_MSG (strstr (error.message, "Is a directory") != NULL, "%s", error.message);
  CHECK (io_test_count_entries (dir) == entries);

  /* Disk-full stand-in: the file size limit stops the write halfway. */
  {
    struct rlimit old, small;

    signal (SIGXFSZ, SIG_IGN);
    CHECK (getrlimit (RLIMIT_FSIZE, &old) == 0);
    small = old;
    small.rlim_cur = 4096;
    CHECK (setrlimit (RLIMIT_FSIZE, &small) == 0);
    CHECK (cp_write_file_atomic (target, payload, sizeof payload, &error) == CP_ERR_IO);
    CHECK (setrlimit (RLIMIT_FSIZE, &old) == 0);
    CHECK_MSG (strstr (error.message, target) != NULL, "%s", error.message);
    CHECK_MSG (strstr (error.message, "File too large") != NULL, "%s", error.message);
  }

  if (geteuid () != 0)
    {
      chmod (dir, 0555);
      CHECK (cp_write_file_atomic (target, "new", 3, &error) == CP_ERR_IO);
      CHECK_MSG (strstr (error.message, "Permission denied") != NULL, "%s", error.message);
      chmod (dir, 0755);
    }
  else
    printf ("# running as root: no read-only folder case\n");

  back = io_test_read (target, &size);
  CHECK (back != NULL && size == 8 && memcmp (back, "original", 8) == 0);
  free (back);
  CHECK (io_test_count_entries (dir) == entries);

  free (target);
  free (missing);
  free (plain);
  free (under_plain);
  free (folder);
  free (dir);
}

static void
test_streaming (void)
{
  char *path = io_test_path (scratch_dir, "stream.txt");
  CpAtomicFile *file;
  unsigned char *back;
  size_t size;
  CpError error;

  CHECK (cp_write_file_atomic (path, "old", 3, &error) == CP_OK);

  /* Pieces become visible only at commit. */
  file = cp_atomic_file_open (path, &error);
  CHECK (file != NULL);
  CHECK (cp_atomic_file_write (file, "hello, ", 7, &error) == CP_OK);
  CHECK (cp_atomic_file_write (file, "world", 5, &error) == CP_OK);
  back = io_test_read (path, &size);
  CHECK (back != NULL && size == 3 && memcmp (back, "old", 3) == 0);
  free (back);
  CHECK (io_test_count_entries (scratch_dir) == 2);   /* target + temporary */
  CHECK (cp_atomic_file_commit (file, &error) == CP_OK);
  back = io_test_read (path, &size);
  CHECK (back != NULL && size == 12 && memcmp (back, "hello, world", 12) == 0);
  free (back);
  CHECK (io_test_count_entries (scratch_dir) == 1);

  /* Abort leaves the old file and no temporary file. */
  file = cp_atomic_file_open (path, &error);
  CHECK (file != NULL);
  CHECK (cp_atomic_file_write (file, "junk", 4, &error) == CP_OK);
  cp_atomic_file_abort (file);
  back = io_test_read (path, &size);
  CHECK (back != NULL && size == 12 && memcmp (back, "hello, world", 12) == 0);
  free (back);
  CHECK (io_test_count_entries (scratch_dir) == 1);

  unlink (path);
  free (path);
}

int
main (void)
{
  scratch_dir = io_test_make_dir ("fs");
  RUN_TEST (test_read_file);
  io_test_remove_dir (scratch_dir);
  mkdir (scratch_dir, 0700);
  RUN_TEST (test_write_atomic);
  RUN_TEST (test_write_failures);
  io_test_remove_dir (scratch_dir);
  mkdir (scratch_dir, 0700);
  RUN_TEST (test_streaming);
  io_test_remove_dir (scratch_dir);
  free (scratch_dir);
  return harness_exit ();
}
