/* cmd-train.c: `cutpaste train`: one model per category. */
#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-common.h"
#include "commands.h"
#include "pipeline/pipeline.h"
#include "pipeline/localize.h"
#include "pipeline/weights.h"

/* Ctrl-C raises the cancel flag: the run stops at the next step and the
 * old model (and the last checkpoint) stay as they were. */
static volatile int train_cancel;

static void
on_sigint (int sig)
{
  (void) sig;
  if (train_cancel)
    _exit (130);   /* a second Ctrl-C stops at once */
  train_cancel = 1;
}

typedef struct
{
  const char *category;
  gboolean    tty;
  gint64      last_line_us;
  int         last_len;
} ProgressState;

static void
format_duration (double seconds, char *buf, size_t size)
{
  if (!isfinite (seconds) || seconds < 0)
    g_strlcpy (buf, "?", size);
  else if (seconds < 60)
    g_snprintf (buf, size, "%.0fs", seconds);
  else if (seconds < 3600)
    g_snprintf (buf, size, "%dm%02ds", (int) seconds / 60, (int) seconds % 60);
  else
    g_snprintf (buf, size, "%dh%02dm", (int) seconds / 3600, ((int) seconds / 60) % 60);
}

static void
on_progress (const CpTrainProgress *p, gpointer user_data)
{
  ProgressState *st = user_data;
  char eta[32];
  g_autofree char *line = NULL;
  gint64 now = g_get_monotonic_time ();
  gboolean last = p->step == p->total_steps;

  if (p->phase == CP_TRAIN_PHASE_TRAINING)
    {
      format_duration (p->eta_seconds, eta, sizeof eta);
      line = g_strdup_printf ("%s: step %d/%d  loss %.4f  lr %.5f  %.1f img/s  ETA %s  (waited for data %.1fs)",
                              st->category, p->step, p->total_steps, p->loss, p->lr,
                              p->images_per_sec, eta, p->data_wait_seconds);
    }
  else
    line = g_strdup_printf ("%s: %s %d/%d", st->category, cp_train_phase_to_string (p->phase),
                            p->step, p->total_steps);

  if (st->tty)
    {
      /* One line rewritten in place, at most 10 times a second. */
      if (!last && now - st->last_line_us < 100000)
        return;
      printf ("\r%s%*s", line, MAX (0, st->last_len - (int) strlen (line)), "");
      st->last_len = (int) strlen (line);
      fflush (stdout);
    }
  else
    {
      /* Logs: a line every 10 seconds and at the end of each phase. */
      if (!last && now - st->last_line_us < 10 * G_USEC_PER_SEC && p->step != 1)
        return;
      printf ("%s\n", line);
      fflush (stdout);
    }
  st->last_line_us = now;
}

int
cp_cmd_train (int argc, char **argv)
{
  g_autofree char *data_dir = NULL, *type = NULL, *variant = NULL, *steps = NULL, *epochs = NULL;
  g_autofree char *batch = NULL, *size = NULL, *lr = NULL, *head = NULL, *seed = NULL;
  g_autofree char *device = NULL, *weights = NULL, *model_dir = NULL, *profile = NULL;
  g_autofree char *weights_path = NULL;
  g_autofree char *frr = NULL, *checkpoint_every = NULL, *type_index = NULL;
  gboolean resume = FALSE;
  gboolean localize = FALSE;
  g_autofree char *density = NULL;
  g_autofree char *local_mode = NULL, *local_size = NULL, *local_grid = NULL, *local_channels = NULL;
  gboolean no_hold_out = FALSE;
  CpLocalizeOptions loc;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "Dataset root (MVTec AD layout)", "DIR" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, "Categories: CAT[,CAT...] or all", "CAT" },
    { "type-index", 0, 0, G_OPTION_ARG_STRING, &type_index, "Only the N-th category (from 0) in sorted order: one per array or indexed job", "N" },
    { "variant", 0, 0, G_OPTION_ARG_STRING, &variant, "Self-supervision: 3way (default), binary, scar, union", "V" },
    { "steps", 0, 0, G_OPTION_ARG_STRING, &steps, "Training steps", "N" },
    { "epochs", 0, 0, G_OPTION_ARG_STRING, &epochs, "Alias of --steps (the reference calls steps epochs)", "N" },
    { "batch-size", 0, 0, G_OPTION_ARG_STRING, &batch, "Images per view per step", "B" },
    { "image-size", 0, 0, G_OPTION_ARG_STRING, &size, "Image side S (multiple of 32)", "S" },
    { "lr", 0, 0, G_OPTION_ARG_STRING, &lr, "Initial learning rate (cosine decay to 0)", "X" },
    { "head-layers", 0, 0, G_OPTION_ARG_STRING, &head, "512-wide projection head layers (default 1)", "N" },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &seed, "Random seed (default 0)", "N" },
    { "device", 0, 0, G_OPTION_ARG_STRING, &device, "auto (default), cpu or cuda", "DEV" },
    { "weights", 0, 0, G_OPTION_ARG_FILENAME, &weights, "Backbone start: auto (default: ImageNet weights found by 'cutpaste weights status', else scratch), none (scratch) or FILE", "W" },
    { "model-dir", 0, 0, G_OPTION_ARG_FILENAME, &model_dir, "Where models are written (default: models)", "DIR" },
    { "profile", 0, 0, G_OPTION_ARG_STRING, &profile, "Defaults: quick (CPU, default), paper, or instant (no training: the Gaussian on ImageNet weights)", "P" },
    { "resume", 0, 0, G_OPTION_ARG_NONE, &resume, "Continue from the category's checkpoint", NULL },
    { "false-reject-rate", 0, 0, G_OPTION_ARG_STRING, &frr, "Target rate of good parts rejected (default 0.01)", "R" },
    { "checkpoint-every", 0, 0, G_OPTION_ARG_STRING, &checkpoint_every, "Steps between checkpoints (0 = none)", "N" },
    { "localize", 0, 0, G_OPTION_ARG_NONE, &localize, "Train the patch model for defect localisation (<category>.patch.safetensors)", NULL },
    { "density", 0, 0, G_OPTION_ARG_STRING, &density, "With --localize: per-location or shared Gaussians (default: by category)", "D" },
    { "local", 0, 0, G_OPTION_ARG_STRING, &local_mode, "Region scores beside the global embedding: auto (default; none for instant), per-location, shared, pattern or none", "MODE" },
    { "local-size", 0, 0, G_OPTION_ARG_STRING, &local_size, "Image side the regions are read at (default 4 x S, at most 256)", "S" },
    { "local-grid", 0, 0, G_OPTION_ARG_STRING, &local_grid, "Regions per side (default local size / 8)", "G" },
    { "local-channels", 0, 0, G_OPTION_ARG_STRING, &local_channels, "Feature channels kept per region, 1 to 128 (default 64)", "D" },
    { "no-hold-out", 0, 0, G_OPTION_ARG_NONE, &no_hold_out, "Calibrate the threshold by k-fold on all of train/good instead of on images held out of training", NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new ("- train CutPaste models, one per category");
  g_auto (GStrv) categories = NULL;
  CpTrainOptions opts;
  ProgressState state = { 0 };
  int failures = 0, n_categories, index = -1;
  struct sigaction sa = { 0 };

  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_set_description (context,
    "Writes MODEL_DIR/<category>.safetensors for each category; an existing model is\n"
    "replaced only when the new one is complete.  --type-index N trains the N-th\n"
    "category of the dataset (counting from 0, names in byte order, as 'all' lists\n"
    "them), so that job N of a Slurm array or Kubernetes indexed Job trains one\n"
    "category.  Exit status: 0 ok, 1 failed, 2 usage.");
  if (!cp_cli_parse (context, "train", &argc, &argv))
    return CP_EXIT_USAGE;
  if (argc > 1)
    {
      cp_cli_error ("train", "unexpected argument '%s'", argv[1]);
      return CP_EXIT_USAGE;
    }
  if (data_dir == NULL || (type == NULL && type_index == NULL))
    {
      cp_cli_error ("train", "--data-dir and --type (or --type-index) are required (see 'cutpaste train --help')");
      return CP_EXIT_USAGE;
    }
  if (type != NULL && type_index != NULL)
    {
      cp_cli_error ("train", "give --type or --type-index, not both");
      return CP_EXIT_USAGE;
    }
  if (type_index != NULL && (!cp_cli_parse_int (type_index, &index) || index < 0))
    {
      cp_cli_error ("train", "--type-index must be a non-negative integer (got '%s')", type_index);
      return CP_EXIT_USAGE;
    }
  if (!cp_train_options_init (&opts, profile))
    {
      cp_cli_error ("train", "unknown profile '%s' (expected quick, paper or instant)", profile);
      return CP_EXIT_USAGE;
    }
#define USAGE(...) do { cp_cli_error ("train", __VA_ARGS__); return CP_EXIT_USAGE; } while (0)
  if (steps && epochs)
    USAGE ("give --steps or --epochs, not both");
  if (epochs)
    steps = g_steal_pointer (&epochs);
  if (steps && (!cp_cli_parse_int (steps, &opts.steps) || opts.steps < 1))
    USAGE ("--steps must be a positive integer (got '%s')", steps);
  if (localize && opts.steps == 0)
    USAGE ("--localize trains a patch model: it has no instant profile");
  if (batch && (!cp_cli_parse_int (batch, &opts.batch_size) || opts.batch_size < 1))
    USAGE ("--batch-size must be a positive integer (got '%s')", batch);
  if (size && (!cp_cli_parse_int (size, &opts.image_size) || opts.image_size < 32
               || opts.image_size > 1024 || opts.image_size % 32 != 0))
    USAGE ("--image-size must be a multiple of 32 between 32 and 1024 (got '%s')", size);
  if (lr && (!cp_cli_parse_double (lr, &opts.lr) || opts.lr <= 0))
    USAGE ("--lr must be a positive number (got '%s')", lr);
  if (head && (!cp_cli_parse_int (head, &opts.head_layers) || opts.head_layers < 0 || opts.head_layers > 8))
    USAGE ("--head-layers must be between 0 and 8 (got '%s')", head);
  if (seed && !cp_cli_parse_u64 (seed, &opts.seed))
    USAGE ("--seed must be a non-negative integer (got '%s')", seed);
  if (frr && (!cp_cli_parse_double (frr, &opts.false_reject_rate) || opts.false_reject_rate < 0
              || opts.false_reject_rate >= 1))
    USAGE ("--false-reject-rate must be in [0, 1) (got '%s')", frr);
  if (checkpoint_every && (!cp_cli_parse_int (checkpoint_every, &opts.checkpoint_every)
                           || opts.checkpoint_every < 0))
    USAGE ("--checkpoint-every must be a non-negative integer (got '%s')", checkpoint_every);
  if (variant && !cp_augment_variant_from_string (variant, &opts.variant))
    USAGE ("unknown --variant '%s' (expected 3way, binary, scar or union)", variant);
  if (device && strcmp (device, "auto") != 0 && strcmp (device, "cpu") != 0 && strcmp (device, "cuda") != 0)
    USAGE ("unknown --device '%s' (expected auto, cpu or cuda)", device);
  if (local_mode && !cp_train_local_from_string (local_mode, &opts.local))
    USAGE ("unknown --local '%s' (expected auto, per-location, shared, pattern or none)", local_mode);
  if (local_size && (!cp_cli_parse_int (local_size, &opts.local_image_size) || opts.local_image_size < 64
                     || opts.local_image_size > 1024 || opts.local_image_size % 32 != 0))
    USAGE ("--local-size must be a multiple of 32 between 64 and 1024 (got '%s')", local_size);
  if (local_grid && (!cp_cli_parse_int (local_grid, &opts.local_grid) || opts.local_grid < 1))
    USAGE ("--local-grid must be a positive integer (got '%s')", local_grid);
  if (local_channels && (!cp_cli_parse_int (local_channels, &opts.local_channels)
                         || opts.local_channels < 1 || opts.local_channels > 128))
    USAGE ("--local-channels must be between 1 and 128 (got '%s')", local_channels);
  if (no_hold_out)
    opts.hold_out = FALSE;
  cp_localize_options_init (&loc);
  if (density && !localize)
    USAGE ("--density only applies with --localize");
  if (density)
    {
      CpPatchDensityKind kind;
      if (!cp_patch_density_kind_from_string (density, &kind))
        USAGE ("unknown --density '%s' (expected per-location or shared)", density);
      loc.density = (int) kind;
    }
  if (localize)
    {
      /* The patch model crops 64 x 64 from S x S images. */
      int loc_size, loc_steps;

      cp_localize_profile_defaults (profile, &loc_size, &loc_steps);
      if (size == NULL)
        opts.image_size = loc_size;
      if (steps == NULL && loc_steps > 0)
        opts.steps = loc_steps;
      if (opts.image_size < CP_LOCALIZE_CROP)
        USAGE ("--localize needs --image-size of at least %d", CP_LOCALIZE_CROP);
      cp_localize_train_setup (&opts, &loc);
    }
#undef USAGE
  if (device)
    opts.device = device;
  if (model_dir)
    opts.model_dir = model_dir;
  opts.data_dir = data_dir;
  opts.resume = resume;

  /* Weights: found ones unless told otherwise, and say which. */
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (GPtrArray) checked = NULL;

    if (!cp_weights_resolve (weights, &weights_path, &checked, &error))
      {
        cp_cli_error ("train", "%s", error->message);
        return CP_EXIT_USAGE;
      }
    for (guint i = 0; i < checked->len; i++)
      {
        const CpWeightsInfo *info = checked->pdata[i];
        if (info->valid)
          printf ("weights: %s (%s)\n", info->path, cp_weights_source_to_string (info->source));
        else
          printf ("weights: ignoring %s: %s\n", info->path, info->problem);
      }
    if (weights_path == NULL && opts.steps == 0)
      {
        cp_cli_error ("train", "the instant profile fits the Gaussian on ImageNet weights, and %s: "
                      "run 'cutpaste weights fetch' (45 MB) or 'cutpaste weights import FILE'",
                      weights != NULL && strcmp (weights, "none") == 0
                      ? "--weights none asks for none" : "none were found");
        return CP_EXIT_FAILED;
      }
    if (weights_path == NULL && weights == NULL)
      printf ("weights: none found, training from scratch ('cutpaste weights fetch' downloads "
              "ImageNet weights)\n");
    fflush (stdout);
    opts.weights_path = weights_path;
  }

  categories = cp_cli_expand_categories ("train", data_dir, type ? type : "all");
  if (categories == NULL)
    return CP_EXIT_FAILED;
  n_categories = (int) g_strv_length (categories);
  if (type_index != NULL)
    {
      char *chosen;

      if (index >= n_categories)
        {
          g_autofree char *names = g_strjoinv (", ", categories);
          cp_cli_error ("train", "--type-index %d is out of range: %s holds %d categories "
                        "(0 to %d: %s)", index, data_dir, n_categories, n_categories - 1, names);
          return CP_EXIT_USAGE;
        }
      chosen = g_strdup (categories[index]);
      g_strfreev (categories);
      categories = g_new0 (char *, 2);
      categories[0] = chosen;
      n_categories = 1;
      printf ("category %d of %s: %s\n", index, data_dir, chosen);
      fflush (stdout);
    }

  /* A mistyped category stops the run before anything trains, rather
   * than after hours of training the others. */
  for (int i = 0; i < n_categories; i++)
    {
      g_autofree char *good = g_build_filename (data_dir, categories[i], "train", "good", NULL);
      if (!g_file_test (good, G_FILE_TEST_IS_DIR))
        {
          cp_cli_error ("train", "unknown category '%s': %s is not a folder", categories[i], good);
          return CP_EXIT_FAILED;
        }
    }

  sa.sa_handler = on_sigint;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  state.tty = isatty (STDOUT_FILENO);

  for (int i = 0; categories[i] && !train_cancel; i++)
    {
      CpTrainResult result;
      g_autoptr (GError) error = NULL;

      opts.category = categories[i];
      state.category = categories[i];
      state.last_line_us = 0;
      state.last_len = 0;
      cp_train_result_init (&result);
      if (!cp_train_category (&opts, on_progress, &state, &train_cancel, &result, &error))
        {
          if (state.tty && state.last_len)
            printf ("\n");
          for (guint k = 0; k < result.skipped_images->len; k++)
            cp_cli_error ("train", "skipped %s", (char *) result.skipped_images->pdata[k]);
          cp_cli_error ("train", "%s: %s", categories[i], error->message);
          failures++;
          cp_train_result_clear (&result);
          continue;
        }
      if (state.tty && state.last_len)
        printf ("\n");
      if (result.notice)
        printf ("%s: note: %s\n", categories[i], result.notice);
      for (guint k = 0; k < result.skipped_images->len; k++)
        printf ("%s: skipped %s\n", categories[i], (char *) result.skipped_images->pdata[k]);
      if (localize)
        {
          printf ("%s: wrote %s (%d steps, %d train images, %u skipped, %s, %.0fs)\n",
                  categories[i], result.model_path, result.steps, result.train_images,
                  result.skipped_images->len, result.device_name, result.seconds);
          if (!isnan (loc.measured_pixel_auroc))
            printf ("%s pixel AUC: %.4f\n", categories[i], loc.measured_pixel_auroc);
          if (!isnan (result.auroc))
            printf ("%s patch image AUC: %.4f\n", categories[i], result.auroc);
        }
      else
        printf ("%s: wrote %s (%d steps, %d train images, %u skipped, threshold %.4f, %s, %.0fs)\n",
                categories[i], result.model_path, result.steps, result.train_images,
                result.skipped_images->len, result.threshold, result.device_name, result.seconds);
      if (!localize && result.calibration_images > 0)
        printf ("%s: threshold from %d good images held out of training\n", categories[i],
                result.calibration_images);
      if (!localize && result.local_density != NULL && strcmp (result.local_density, "pattern") == 0)
        printf ("%s: region scores from binary patterns (two-level separation %.3f)\n",
                categories[i], result.local_separation);
      else if (!localize && result.local_density != NULL)
        printf ("%s: region scores with %s Gaussians (alignment %.2f)\n", categories[i],
                result.local_density, result.local_alignment);
      if (!localize && !isnan (result.auroc))
        printf ("%s AUC: %.4f\n", categories[i], result.auroc);
      fflush (stdout);
      cp_train_result_clear (&result);
    }
  if (train_cancel)
    {
      cp_cli_error ("train", "interrupted; existing models were left unchanged");
      return CP_EXIT_FAILED;
    }
  return failures ? CP_EXIT_FAILED : CP_EXIT_OK;
}
